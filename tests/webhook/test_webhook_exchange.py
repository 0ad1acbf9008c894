"""Broken and awkward HTTP exchanges: never a 250 without a complete 2xx answer.

Drives tests/webhook/webhook-post (delivery_submit on a libevent loop)
against real receivers on 127.0.0.1:
- raw-socket servers that cut their answer off (inside the status line,
  inside the header block, inside the body, a short Content-Length, a chunked
  body without its last chunk, a 1xx and then nothing): each must give 451
  and be retried inside the retry budget;
- webhook_sink.Sink (an HTTP/1.1 ThreadingHTTPServer, like examples/receiver.py)
  cycling through eleven statuses with a JSON body, a 204 among them, on one
  kept-alive connection: no answer may be taken for "misconfigured";
- a receiver that closes every connection after a slow answer: requests
  must run side by side, whatever the keep-alive.
"""
import time

import pytest

from test_webhook_delivery import post
from webhook_sink import Action, RawReceiver, Sink, make_pki, server_context


def raw_server(answer):
    """Reads each request whole, writes `answer` verbatim, closes. Counts requests."""
    return RawReceiver(lambda c, rx: c.sendall(answer))


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
def test_cut_answer_is_451_and_retried(driver, name):
    srv = raw_server(CUT[name])
    try:
        replies, err = post(driver, srv.url(), "--format", "raw", "--retry-budget-ms", "1200",
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
def test_complete_answer_is_250(driver, answer):
    srv = raw_server(answer)
    try:
        replies, err = post(driver, srv.url(), "--format", "raw", "--retry-budget-ms", "0",
                           "--timeout-ms", "3000")
    finally:
        srv.close()
    assert [(c, s) for c, s, _ in replies] == [(250, "2.0.0")], err
    assert srv.requests == 1


STATUSES = [200, 204, 400, 401, 403, 404, 410, 413, 422, 429, 500]


def test_eleven_statuses_never_misconfigured(driver, sink):
    """examples/receiver.py's way of answering: JSON body with Content-Length, any status."""
    n = 10 * len(STATUSES)
    sink.plan = [Action(st, body={"received": True, "status": st},
                        headers={"Content-Type": "application/json"})
                 for st in STATUSES * 10]
    replies, err = post(driver, sink.url(), "--count", str(n), "--retry-budget-ms", "0",
                       "--timeout-ms", "5000")
    assert len(replies) == n
    assert not [r for r in replies if "misconfigured" in r[2]], err
    assert "HTTP/0.9" not in err
    # each answer got its own row of the table (200 and 204 -> 250, and so on)
    assert {c for c, _, _ in replies} == {250, 451, 550, 552, 554}
    assert sum(1 for c, _, _ in replies if c == 250) >= 10
    # keep-alive still works for the statuses that leave a clean connection
    print(f"{n} messages, {sink.connections} connections")
    assert sink.connections < n


@pytest.mark.parametrize("tls,n", [(False, 12), (True, 8)], ids=["http", "https"])
def test_concurrency_without_keepalive(driver, tmp_path, tls, n):
    """Answers after a second with Connection: close: the requests run side by side."""
    args = []
    if tls:
        pki = make_pki(tmp_path)
        args = ["--ca-file", str(pki / "ca.pem")]
    s = Sink(tls=server_context(pki) if tls else None)
    s.default = Action(200, delay=1.0, headers={"Connection": "close"})
    t0 = time.monotonic()
    try:
        replies, err = post(driver, s.url(), *args, "--count", str(n), "--concurrent",
                           "--max-in-flight", "64", "--retry-budget-ms", "0",
                           "--timeout-ms", "30000")
    finally:
        s.close()
    print(f"{s.scheme}, Connection: close: {n} messages, 1.0 s each, peak {s.max_active} at "
          f"once, {s.connections} connections, {time.monotonic() - t0:.1f} s in all")
    assert [c for c, _, _ in replies] == [250] * n, err
    # all were submitted at once and each answer takes a second: one at a time would be 1
    assert s.max_active >= 3
