"""Helpers for the fault tests: a gateway with two routes, raw-socket and
recording webhook receivers, an SMTP client that classifies every message.

Everything listens on 127.0.0.1 only; every loop is bounded in count and time.
"""
import http.server
import os
import pathlib
import re
import smtplib
import socket
import sys
import threading
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))  # also as a script
import gwdaemon  # noqa: E402
from gwdaemon import Toml, gateway_config  # noqa: E402
from webhook_sink import RawReceiver  # noqa: E402,F401 (the fault tests' raw receiver)

TCP_STATES = {"01": "ESTABLISHED", "06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT",
              "04": "FIN_WAIT1", "05": "FIN_WAIT2", "09": "LAST_ACK", "0B": "CLOSING"}
KEY = re.compile(rb"fault-([0-9a-z]+)-(\d+)@sender\.test")
# Messages whose bytes we do not write (Postfix's smtp-source) carry their key
# in the recipient: smtp-source -N makes it "<seq>s<proc>-<run>@...".
RCPT_KEY = re.compile(r"^(\d+)s(\d+)-([0-9a-z]+)@")
PER_PROC = 1000000


def rcpt_key(rcpt):
    m = RCPT_KEY.match(rcpt or "")
    return (m.group(3), int(m.group(2)) * PER_PROC + int(m.group(1))) if m else None


def message(run, n, body_octets=1000):
    """A message with a unique Message-ID and Subject (run, n)."""
    head = (f"From: Alice <alice@sender.test>\r\nTo: hello@good.test\r\n"
            f"Subject: fault {run} {n}\r\nMessage-ID: <fault-{run}-{n}@sender.test>\r\n"
            f"Date: Sun, 06 Dec 2026 05:00:00 +0000\r\n\r\n").encode()
    line = b"x" * 70 + b"\r\n"
    return head + line * max(1, body_octets // len(line))


class Gateway(gwdaemon.Gateway):
    """The smtp-gateway daemon with one [[route]] per (name, domain, url, extra TOML);
    start() after a SIGKILL restarts it on the same port, its log going on in the same
    file."""

    def __init__(self, binary, tmp, routes, workers=1, webhook="", limits="", port=None,
                 server="", retry_budget="0"):
        routes = [{"name": name, "match": f"*@{domain}", "url": url, "+": Toml(extra)}
                  for name, domain, url, extra in routes]
        webhook = {"timeout": "5s", "connect_timeout": "2s", "retry_budget": retry_budget,
                   "circuit_breaker_threshold": 0, "+": Toml(webhook)}
        super().__init__(tmp, lambda p: gateway_config(
            p, routes, workers=workers, server={"+": Toml(server)}, webhook=webhook,
            limits={"max_connections_per_ip": 1000, "+": Toml(limits)}), binary=binary,
            port=port, append=True)

    def fds(self):
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def fd_census(self, ports):
        """The daemon's open fds: {port: TCP sockets connected to 127.0.0.1:port
        for each of `ports`, "other": every other fd}, with the TCP state of
        the sockets to those ports under "states"."""
        inodes = set()
        total = 0
        for fd in os.listdir(f"/proc/{self.proc.pid}/fd"):
            total += 1
            try:
                link = os.readlink(f"/proc/{self.proc.pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
        out = {p: 0 for p in ports}
        states = []
        with open("/proc/net/tcp") as f:
            for line in f.readlines()[1:]:
                cols = line.split()
                port = int(cols[2].split(":")[1], 16)
                if cols[9] in inodes and port in out:
                    out[port] += 1
                    states.append((port, TCP_STATES.get(cols[3], cols[3])))
        out["other"] = total - sum(out[p] for p in ports)
        out["states"] = states
        return out

    def wait_fds(self, at_most, seconds=15):
        """Polls the daemon's open fd count until it is <= at_most (bounded); returns it."""
        deadline = time.monotonic() + seconds
        n = self.fds()
        while n > at_most and time.monotonic() < deadline:
            time.sleep(0.1)
            n = self.fds()
        return n

    def smtp(self, timeout=30):
        return super().smtp(timeout=timeout)

    def close(self, timeout=30.0):
        """Stops it; a sanitizer report in its log fails the run (the exit status is not
        checked: some runs end in SIGKILL)."""
        code = super().close(timeout)
        self.check(status=None)
        return code


def send(g, rcpt, msg, timeout=30):
    """One message in its own session. Returns the outcome of DATA:
    ("250"|"4xx"|"5xx"|"noreply"|"refused", code, text). "noreply" is a
    connection lost before the final reply, "refused" one that could not be
    opened or was closed before the greeting; a 4xx/5xx before DATA (421
    greeting, refused MAIL or RCPT) counts as that class."""
    try:
        c = g.smtp(timeout)
    except smtplib.SMTPConnectError as e:
        return classify(e.smtp_code, e.smtp_error)
    except (OSError, smtplib.SMTPException):
        return ("refused", 0, "")
    try:
        return send_on(c, rcpt, msg)
    finally:
        try:
            c.close()
        except OSError:
            pass


def send_on(c, rcpt, msg):
    """Sends one message on an open smtplib connection; outcome as send()."""
    try:
        code, text = c.ehlo()
        if code != 250:
            return classify(code, text)
        code, text = c.mail("alice@sender.test")
        if code != 250:
            return classify(code, text)
        code, text = c.rcpt(rcpt)
        if code != 250:
            return classify(code, text)
        code, text = c.data(msg)
        return classify(code, text)
    except smtplib.SMTPDataError as e:  # DATA itself refused
        return classify(e.smtp_code, e.smtp_error)
    except smtplib.SMTPResponseException as e:
        return classify(e.smtp_code, e.smtp_error)
    except (OSError, smtplib.SMTPException):
        return ("noreply", 0, "")


def classify(code, text):
    text = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
    if code == 250:
        return ("250", code, text)
    if 400 <= code < 500:
        return ("4xx", code, text)
    if 500 <= code < 600:
        return ("5xx", code, text)
    return ("noreply", code, text)


class Attempt:
    def __init__(self, key, wid, action, phase):
        self.key = key  # (run, n)
        self.phase = phase  # the receiver's phase when it came ("first", "resend")
        self.done = False  # the handler is finished with it
        self.wid = wid  # the webhook-id header
        self.action = action
        self.body_complete = False  # the whole request body was read
        self.answered_2xx = False  # a complete 2xx answer was written


class _RecHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30

    def log_message(self, fmt, *args):
        pass

    def do_POST(self):
        rec = self.server.rec
        n = int(self.headers.get("Content-Length") or 0)
        wid = self.headers.get("webhook-id", "")
        # the key (Message-ID) is in the first bytes of a raw body; at most half of
        # the body is read before the plan is known, so "cut_half_body" can cut there
        first = self.rfile.read(min(n // 2, 4096)) if n else b""
        m = KEY.search(first)
        key = ((m.group(1).decode(), int(m.group(2))) if m else
               rcpt_key(self.headers.get("X-Gateway-Rcpt-To")))
        action = rec.plan(key) if key else "ok"
        a = Attempt(key, wid, action, rec.phase)
        with rec.lock:
            rec.attempts.append(a)
        try:
            self._handle(rec, a, n, first)
        finally:
            a.done = True

    def _handle(self, rec, a, n, first):
        action = a.action
        rest = n - len(first)
        if action == "cut_half_body":
            self.rfile.read(max(0, n // 2 - len(first)))
            return self._cut()
        if rest:
            self.rfile.read(rest)
        a.body_complete = True
        if action == "cut_after_body":
            return self._cut()
        if action == "status_only":
            self.wfile.write(b"HTTP/1.1 200 OK\r\n")
            self.wfile.flush()
            return self._cut()
        if action.startswith("delay:"):
            rec.stop_ev.wait(float(action[6:]))
        body = b'{"ok":true}'
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
            a.answered_2xx = True
        except OSError:
            self.close_connection = True

    def _cut(self):
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class _RecServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # listen() backlog: hundreds of POSTs may connect at once


class RecordingReceiver:
    """The application: an HTTP/1.1 ThreadingHTTPServer (Content-Length answers)
    recording every POST with its webhook-id and message key; plan(key) says
    what to do with it: "ok", "delay:SECONDS", "cut_half_body",
    "cut_after_body" or "status_only"."""

    def __init__(self, plan=None):
        self.plan = plan or (lambda key: "ok")
        self.phase = "first"
        self.lock = threading.Lock()
        self.stop_ev = threading.Event()
        self.attempts = []
        self.server = _RecServer(("127.0.0.1", 0), _RecHandler)
        self.server.rec = self
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def port(self):
        return self.server.server_address[1]

    def url(self, path="/hook"):
        return f"http://127.0.0.1:{self.port()}{path}"

    def by_key(self):
        out = {}
        with self.lock:
            for a in self.attempts:
                out.setdefault(a.key, []).append(a)
        return out

    def by_key_list(self):
        with self.lock:
            return list(self.attempts)

    def in_flight(self):
        with self.lock:
            return sum(1 for a in self.attempts if a.body_complete and not a.done)

    def close(self):
        self.stop_ev.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
