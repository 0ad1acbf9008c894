"""Large payloads are built off the worker's loop (payload_offload_threshold).

smtplib -> the smtp-gateway daemon (one worker) -> the real webhook code ->
webhook_sink.Sink. A message of payload_offload_threshold octets or more has
its payload (MIME parse and JSON) built on the payload build threads: it is
delivered with the very JSON an inline build gives, and the worker's other
sessions are served while it is built. The figures (messages served during
the build) are printed, never asserted against a clock.
"""
import json
import re
import smtplib
import socket
import threading
import time

import pytest

from gwdaemon import SmtpLines
from test_webhook_e2e import Gateway

HEAD = (b"From: Alice <alice@sender.test>\r\nTo: hello@example.test\r\nSubject: big\r\n"
        b"Message-ID: <offload-%d@sender.test>\r\nDate: Sun, 29 Nov 2026 12:00:00 +0000\r\n")
FIELD = b"X-Filler: abcdefghijklmnopqrstuvwxyz\r\n"


def big_message(n, octets):
    """A message whose parse is heavy: mostly header fields (the header_10mb attack's shape),
    then a multipart body with text, HTML and an attachment."""
    body = (b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n"
            b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + b"text line\r\n" * 2000 +
            b"--b1\r\nContent-Type: text/html\r\n\r\n<p>" + b"html <b>x</b> " * 2000 + b"</p>\r\n"
            b"--b1\r\nContent-Type: application/octet-stream; name=a.bin\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + b"QUJDRA==\r\n" * 100 + b"--b1--\r\n")
    fields = FIELD * (max(0, octets - len(body)) // len(FIELD))
    return HEAD % n + fields + body


def small_message(n):
    return (b"From: Bob <bob@sender.test>\r\nTo: hello@example.test\r\nSubject: small\r\n"
            b"Message-ID: <small-%d@sender.test>\r\n\r\nhi\r\n" % n)


def stable(payload):
    """The payload without what differs from one delivery of a message to the next: its id,
    the time, and our own Received trace field (session id, time)."""
    p = json.loads(payload)
    p.pop("id", None)
    p.pop("received_at", None)
    p.get("envelope", {}).get("client", {}).pop("port", None)
    msg = p.get("message", {})
    msg["headers"] = [h for h in msg.get("headers", []) if h.get("name", "").lower() != "received"]
    msg.pop("raw", None)
    return json.dumps(p, sort_keys=True)


def deliver_once(gateway_bin, tmp_path, sink, extra, msg):
    tmp_path.mkdir()
    g = Gateway(gateway_bin, tmp_path, sink.url("/inbound"), extra=extra)
    try:
        with g.smtp() as c:
            assert c.sendmail("alice@sender.test", ["hello@example.test"], msg) == {}
    finally:
        g.stop()
    return g.log()


def test_offloaded_payload_is_the_inline_one(gateway_bin, tmp_path, sink):
    msg = big_message(1, 2 * 1024 * 1024)
    inline_log = deliver_once(gateway_bin, tmp_path / "inline", sink,
                              '[limits]\npayload_offload_threshold = 0\n', msg)
    pool_log = deliver_once(gateway_bin, tmp_path / "pool", sink,
                            '[limits]\npayload_offload_threshold = "1MB"\n', msg)
    inline, pooled = sink.requests
    assert "payload built off the loop" not in inline_log
    assert "payload built off the loop" in pool_log
    assert stable(pooled.body) == stable(inline.body)
    p = json.loads(pooled.body)
    assert p["message"]["subject"] == "big"
    assert p["id"] in pool_log  # the id computed on the loop is the request's


def test_small_messages_stay_inline(gateway_bin, tmp_path, sink):
    g = Gateway(gateway_bin, tmp_path, sink.url("/inbound"))  # the default threshold (256KB)
    try:
        with g.smtp() as c:
            for i in range(3):
                assert c.sendmail("bob@sender.test", ["hello@example.test"],
                                  small_message(i)) == {}
    finally:
        g.stop()
    assert len(sink.requests) == 3
    assert "payload built off the loop" not in g.log()


def session_of(log, pattern):
    m = re.search(r"session=(\w+)[^\n]*" + pattern, log)
    assert m, pattern + "\n" + log[-3000:]
    return m.group(1)


def test_worker_serves_others_while_building(gateway_bin, tmp_path, sink):
    """One worker: while a 12 MB message's payload is built, a second session on the same
    worker keeps getting its small messages delivered. On the loop, the build would hold
    every other session of the worker from end of data to the POST."""
    g = Gateway(gateway_bin, tmp_path, sink.url("/inbound"),
                extra='[limits]\nmax_message_size = "20MB"\nmax_transactions = 100000\n')
    stop = threading.Event()
    sent = []
    errors = []

    def chatter():
        try:
            with g.smtp() as c:
                deadline = time.monotonic() + 120  # a hang bound, not a speed check
                while not stop.is_set() and len(sent) < 5000 and time.monotonic() < deadline:
                    n = len(sent)
                    assert c.sendmail("bob@sender.test", ["hello@example.test"],
                                      small_message(n)) == {}
                    sent.append(n)
        except (AssertionError, OSError, smtplib.SMTPException) as e:
            errors.append(e)

    try:
        t = threading.Thread(target=chatter)
        t.start()
        while not sent and not errors:  # the chatter session is being served
            time.sleep(0.01)
        with g.smtp() as c:
            c.sock.settimeout(120)
            assert c.sendmail("alice@sender.test", ["hello@example.test"],
                              big_message(1, 12 * 1024 * 1024)) == {}
        stop.set()
        t.join(timeout=130)
        assert not t.is_alive()
        assert not errors, errors
    finally:
        stop.set()
        g.stop()
    log = g.log()
    big = session_of(log, "message submitted octets=1[0-9]{7}")
    lines = log.splitlines()
    submitted = next(i for i, l in enumerate(lines)
                     if f"session={big}" in l and "message submitted" in l)
    built = next((i for i, l in enumerate(lines)
                  if f"session={big}" in l and "payload built off the loop" in l), None)
    assert built is not None, "the 12 MB payload was not built off the loop"
    served = [l for l in lines[submitted:built]
              if "delivered reply=250" in l and f"session={big}" not in l]
    print(f"small messages delivered while the 12 MB payload was built: {len(served)} "
          f"(of {len(sent)} in all)")
    assert served, "no other session was served while the payload was built"
    assert len(sink.requests) == len(sent) + 1


def test_offloaded_payload_too_big(gateway_bin, tmp_path, sink):
    """A payload over max_payload_size, found while building off the loop: 552 5.3.4 and the
    refused_max_payload_size counter, as when it is found on the loop; the session goes on."""
    g = Gateway(gateway_bin, tmp_path, sink.url("/inbound"),
                extra='[limits]\nmax_payload_size = "256KB"\npayload_offload_threshold = "4KB"\n')
    ctl = b"\x01" * 70 + b"\r\n"  # escaped to six octets each in the JSON
    try:
        with g.smtp() as c:
            with pytest.raises(smtplib.SMTPDataError) as e:
                c.sendmail("alice@sender.test", ["hello@example.test"],
                           HEAD % 1 + b"\r\n" + ctl * 900)
            assert (e.value.smtp_code, e.value.smtp_error.decode()[:5]) == (552, "5.3.4")
            assert c.sendmail("alice@sender.test", ["hello@example.test"],
                              HEAD % 2 + b"\r\n" + b"x" * 70 * 900 + b"\r\n") == {}
        assert len(sink.requests) == 1
    finally:
        g.stop()
    log = g.log()
    assert "payload too large" in log
    assert "refused_max_payload_size=1" in log


def test_client_gone_during_build(gateway_bin, tmp_path, sink):
    """The client leaves right after its large message: the build it borrows the message for
    ends before the session is freed (never a use after free), and the worker goes on."""
    g = Gateway(gateway_bin, tmp_path, sink.url("/inbound"),
                extra='[limits]\nmax_message_size = "20MB"\n')
    try:
        for n in range(3):
            s = socket.create_connection(("127.0.0.1", g.port), timeout=30)
            s.sendall(b"EHLO client.sender.test\r\nMAIL FROM:<alice@sender.test>\r\n"
                      b"RCPT TO:<hello@example.test>\r\nDATA\r\n")
            got = b""
            while b"354" not in got:
                chunk = s.recv(4096)
                assert chunk, got
                got += chunk
            s.sendall(big_message(n, 4 * 1024 * 1024) + b".\r\n")
            s.close()
        with g.smtp() as c:
            assert c.sendmail("bob@sender.test", ["hello@example.test"], small_message(9)) == {}
    finally:
        g.stop()
    assert g.proc.returncode == 0, g.log()[-3000:]


def test_payload_pool_full(gateway_bin, tmp_path, sink):
    """max_payload_builds = 1: two large messages end together on one worker (each whole
    in the gateway, BDAT's 250 for its chunk, before either BDAT 0 LAST); the first one's
    build holds the pool's one place (8 MB of header fields take far longer to build than
    the other BDAT 0 LAST to read), so the other gets 451 4.3.0 and the log names the
    limit; the sessions go on and their next messages are delivered."""
    g = Gateway(gateway_bin, tmp_path, sink.url("/inbound"),
                extra='[limits]\nmax_message_size = "20MB"\npayload_offload_threshold = "4KB"\n'
                      'max_payload_builds = 1\npayload_build_threads = 1\n')
    try:
        a, b = SmtpLines(g.port), SmtpLines(g.port)
        for n, c in enumerate((a, b)):
            assert c.reply().startswith("220")
            assert c.cmd(b"EHLO client.sender.test\r\n").startswith("250")
            assert c.send(b"alice@sender.test", big_message(n, 8 * 1024 * 1024),
                          last=False).startswith("250 2.0.0")
        a.sock.sendall(b"BDAT 0 LAST\r\n")
        b.sock.sendall(b"BDAT 0 LAST\r\n")
        replies = sorted([a.reply()[:9], b.reply()[:9]])
        assert replies == ["250 2.0.0", "451 4.3.0"], replies
        for c in (a, b):
            assert c.send(b"bob@sender.test", small_message(3)).startswith("250 "), \
                "the session goes on"
            c.sock.close()
    finally:
        g.stop()
    log = g.log()
    assert "limit max_payload_builds=1 reached" in log
    assert len(sink.requests) == 3
