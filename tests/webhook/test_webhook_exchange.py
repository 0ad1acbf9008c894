"""Broken and awkward HTTP exchanges: never a 250 without a complete 2xx answer.

Drives tests/webhook/webhook-post (delivery_submit on a libevent loop)
against real receivers on 127.0.0.1:
- raw-socket servers that cut their answer off (inside the status line,
  inside the header block, inside the body, a short Content-Length, a chunked
  body without its last chunk, a 1xx and then nothing): each must give 451
  and be retried inside the retry budget;
- an http.server.ThreadingHTTPServer (HTTP/1.1, like examples/receiver.py)
  cycling through eleven statuses with a JSON body, a 204 among them, on one
  kept-alive connection: no answer may be taken for "misconfigured";
- a receiver that closes every connection after a slow answer: requests
  must run side by side, whatever the keep-alive.
"""
import http.server
import itertools
import json
import socket
import threading
import time

import subprocess

import pytest

from test_webhook_delivery import EML, REPLY, clean_env


def run(driver, url, *args, timeout=120):
    cmd = [str(driver), "--url", url, *args, str(EML)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=clean_env())
    assert p.returncode == 0, f"rc={p.returncode}\nstdout={p.stdout}\nstderr={p.stderr}"
    replies = []
    for line in p.stdout.splitlines():
        m = REPLY.match(line)
        assert m, f"not a reply line: {line!r}"
        replies.append((int(m.group(2)), m.group(3), m.group(4)))
    return replies, p.stderr


class RawServer:
    """Reads each request whole, writes `answer` verbatim, closes. Counts requests."""

    def __init__(self, answer):
        self.answer = answer
        self.requests = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def url(self):
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/hook"

    def _read_request(self, c):
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = c.recv(65536)
            if not chunk:
                return False
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(body) < length:
            chunk = c.recv(65536)
            if not chunk:
                return False
            body += chunk
        return True

    def _serve(self):
        while not self.stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            with c:
                c.settimeout(5)
                try:
                    if self._read_request(c):
                        self.requests += 1
                        c.sendall(self.answer)
                except OSError:
                    pass

    def close(self):
        self.stop = True
        self.thread.join(5)
        self.sock.close()


CUT = {
    "nothing": b"",
    "inside_status_line": b"HTTP/1.1 20",
    "status_line_only": b"HTTP/1.1 200 OK\r\n",
    "inside_header_name": b"HTTP/1.1 200 OK\r\nContent-Le",
    "header_block_not_ended": b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n",
    "body_short_of_length": b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
    "chunked_not_terminated": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n",
    "interim_1xx_then_close": b"HTTP/1.1 100 Continue\r\n\r\n",
    "interim_1xx_then_cut_final": b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
                                  b"HTTP/1.1 200 OK\r\n",
}


@pytest.mark.parametrize("name", list(CUT))
def test_cut_answer_is_451_and_retried(driver, name):  # noqa: F811
    srv = RawServer(CUT[name])
    try:
        replies, err = run(driver, srv.url(), "--format", "raw", "--retry-budget-ms", "1200",
                           "--timeout-ms", "2000", "--connect-timeout-ms", "2000",
                           "--breaker", "0")
    finally:
        srv.close()
    assert len(replies) == 1
    code, status, text = replies[0]
    assert code == 451, (replies, err)
    assert "misconfigured" not in text
    assert srv.requests >= 2, err  # retried within the budget


@pytest.mark.parametrize("answer", [
    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
    b"HTTP/1.0 200 OK\r\n\r\nclose-delimited body",
], ids=["empty", "length", "chunked", "1xx_then_204", "http10_close_delimited"])
def test_complete_answer_is_250(driver, answer):  # noqa: F811
    srv = RawServer(answer)
    try:
        replies, err = run(driver, srv.url(), "--format", "raw", "--retry-budget-ms", "0",
                           "--timeout-ms", "3000")
    finally:
        srv.close()
    assert [(c, s) for c, s, _ in replies] == [(250, "2.0.0")], err
    assert srv.requests == 1


STATUSES = [200, 204, 400, 401, 403, 404, 410, 413, 422, 429, 500]


class CyclingHandler(http.server.BaseHTTPRequestHandler):
    """examples/receiver.py's way of answering: JSON body with Content-Length, any status."""
    protocol_version = "HTTP/1.1"
    timeout = 10

    def log_message(self, fmt, *args):
        pass

    def setup(self):
        super().setup()
        with self.server.lock:
            self.server.connections += 1

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status = STATUSES[next(self.server.counter) % len(STATUSES)]
        body = json.dumps({"received": True, "status": status}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)  # a separate write: it may arrive after curl is done
        except OSError:
            pass


def test_eleven_statuses_never_misconfigured(driver):  # noqa: F811
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), CyclingHandler)
    srv.daemon_threads = True
    srv.counter = itertools.count()
    srv.lock = threading.Lock()
    srv.connections = 0
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    n = 10 * len(STATUSES)
    try:
        replies, err = run(driver, f"http://127.0.0.1:{srv.server_address[1]}/hook",
                           "--count", str(n), "--retry-budget-ms", "0", "--timeout-ms", "5000")
    finally:
        srv.shutdown()
        srv.server_close()
    assert len(replies) == n
    assert not [r for r in replies if "misconfigured" in r[2]], err
    assert "HTTP/0.9" not in err
    # each answer got its own row of the table (200 and 204 -> 250, and so on)
    assert {c for c, _, _ in replies} == {250, 451, 550, 552, 554}
    assert sum(1 for c, _, _ in replies if c == 250) >= 10
    # keep-alive still works for the statuses that leave a clean connection
    print(f"{n} messages, {srv.connections} connections")
    assert srv.connections < n


class ClosingHandler(http.server.BaseHTTPRequestHandler):
    """Answers after a delay with Connection: close; records the peak concurrency."""
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.server.lock:
            self.server.active += 1
            self.server.peak = max(self.server.peak, self.server.active)
        time.sleep(self.server.delay)
        with self.server.lock:
            self.server.active -= 1
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True


def test_concurrency_without_keepalive(driver):  # noqa: F811
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), ClosingHandler)
    srv.daemon_threads = True
    srv.lock = threading.Lock()
    srv.active = srv.peak = 0
    srv.delay = 1.0
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    n = 12
    t0 = time.monotonic()
    try:
        replies, err = run(driver, f"http://127.0.0.1:{srv.server_address[1]}/hook",
                           "--count", str(n), "--concurrent", "--max-in-flight", "64",
                           "--retry-budget-ms", "0", "--timeout-ms", "30000")
    finally:
        srv.shutdown()
        srv.server_close()
    elapsed = time.monotonic() - t0
    print(f"{n} messages, 1.0 s each, Connection: close: peak {srv.peak} at once, "
          f"{elapsed:.1f} s in all")
    assert [c for c, _, _ in replies] == [250] * n, err
    # all were submitted at once and each answer takes a second: one at a time would be 1
    assert srv.peak >= 3


def test_concurrency_without_keepalive_https(driver, tmp_path):  # noqa: F811
    from webhook_sink import Action, Sink, make_pki, server_context
    pki = make_pki(tmp_path)
    s = Sink(tls=server_context(pki))
    s.default = Action(200, delay=1.0, headers={"Connection": "close"})
    n = 8
    try:
        replies, err = run(driver, s.url(), "--ca-file", str(pki / "ca.pem"), "--count", str(n),
                           "--concurrent", "--max-in-flight", "64", "--retry-budget-ms", "0",
                           "--timeout-ms", "30000")
    finally:
        s.close()
    print(f"https, Connection: close: {n} messages, peak {s.max_active} at once, "
          f"{s.connections} connections")
    assert [c for c, _, _ in replies] == [250] * n, err
    assert s.max_active >= 3
