"""Memory held by deliveries: max_payload_size and max_delivery_memory.

smtplib / raw SMTP -> the smtp-gateway daemon -> the real webhook code ->
webhook_sink.Sink. A body that would pass max_payload_size gets 552 5.3.4
and is never built past it nor posted; while the request bodies held by
deliveries in flight would pass max_delivery_memory, a message gets
451 4.3.1 at the end of data, and is accepted again once they are answered.
"""
import json
import smtplib

import pytest

from test_webhook_e2e import Gateway
from webhook_sink import Action

HEAD = (b"From: Alice <alice@sender.test>\r\nTo: hello@example.test\r\nSubject: mem\r\n"
        b"Message-ID: <mem-%d@sender.test>\r\nDate: Sun, 29 Nov 2026 12:00:00 +0000\r\n\r\n")


def message(n, body_octets, fill=b"x"):
    line = fill * 70 + b"\r\n"
    return HEAD % n + line * (body_octets // len(line))


def test_max_payload_size(gateway_bin, tmp_path, sink):
    g = Gateway(gateway_bin, tmp_path, sink.url("/inbound"),
                extra='[limits]\nmax_payload_size = "256KB"\n')
    try:
        # 60 KB of control characters: each is escaped to six octets in the JSON (~360 KB)
        with g.smtp() as c:
            with pytest.raises(smtplib.SMTPDataError) as e:
                c.sendmail("alice@sender.test", ["hello@example.test"],
                           message(1, 60 * 1024, fill=b"\x01"))
            assert (e.value.smtp_code, e.value.smtp_error.decode()[:5]) == (552, "5.3.4")
            assert not sink.requests  # never posted
            # the same size in plain text fits, and the session goes on
            assert c.sendmail("alice@sender.test", ["hello@example.test"],
                              message(2, 60 * 1024)) == {}
        assert len(sink.requests) == 1
        assert len(sink.requests[0].body) <= 256 * 1024
        assert "payload too large" in g.log()
        assert "max_payload_size" in g.log()
    finally:
        g.stop()
    assert "refused_max_payload_size=1" in g.log()  # the counters, logged at exit


def hold_two(g, sink, octets):
    """Two messages whose POSTs the app sits on (3 s each): their connections, the final
    reply unread."""
    sink.plan = [Action(200, delay=3.0), Action(200, delay=3.0)]
    held = [g.send_no_wait(message(n, octets)) for n in (1, 2)]
    assert sink.wait_requests(2) == 2
    return held


def refused_451(c, msg):
    """msg is refused at the end of data with 451 4.3.1 (delivery memory full)."""
    with pytest.raises(smtplib.SMTPDataError) as e:
        c.sendmail("alice@sender.test", ["hello@example.test"], msg)
    assert (e.value.smtp_code, e.value.smtp_error.decode()[:5]) == (451, "4.3.1")


def test_max_delivery_memory(gateway_bin, tmp_path, sink):
    # each message's JSON body is about 1.2 MB and may reach max_payload_size (2 MB):
    # two fit in 4 MB while the app sits on them, a third does not
    g = Gateway(gateway_bin, tmp_path, sink.url("/inbound"),
                extra='[limits]\nmax_payload_size = "2MB"\nmax_delivery_memory = "4MB"\n')
    try:
        a, b = hold_two(g, sink, 1200 * 1024)
        with g.smtp() as c:
            refused_451(c, message(3, 1200 * 1024))
            assert len(sink.requests) == 2  # the third was not posted
            assert a.getreply()[0] == 250 and b.getreply()[0] == 250
            # the two answered, their bodies are given back: the next message gets through
            assert c.sendmail("alice@sender.test", ["hello@example.test"],
                              message(4, 1200 * 1024)) == {}
        a.close()
        b.close()
        assert len(sink.requests) == 3
        assert "max_delivery_memory" in g.log()
        # what is held (the two bodies as built, ~1.3 MB each) is under 4 MB: DATA
        # was accepted, the third body's cap (2 MB) is what did not fit
        assert "reached at DATA" not in g.log()
        json.loads(sink.requests[2].body)
    finally:
        g.stop()
    assert "refused_max_delivery_memory=1" in g.log()


@pytest.mark.parametrize("fmt", ["mailgun", "postmark"])
def test_max_delivery_memory_provider_formats(gateway_bin, tmp_path, sink, fmt):
    # A provider format's body counts as what it holds, as our own format's does:
    # Mailgun's multipart form is streamed to libcurl, never one buffer, and
    # once counted 0 bytes; two ~1.2 MB bodies held plus a third's cap (2 MB)
    # pass 4 MB, so the third waits (451 4.3.1).
    key = 'mailgun_signing_key = "key-test"\n' if fmt == "mailgun" else ""
    g = Gateway(gateway_bin, tmp_path, sink.url("/inbound"),
                extra=f'format = "{fmt}"\n{key}[limits]\nmax_payload_size = "2MB"\n'
                      'max_delivery_memory = "4MB"\n')
    try:
        a, b = hold_two(g, sink, 600 * 1024)
        assert all(len(r.body) > 1100 * 1024 for r in sink.requests)
        with g.smtp() as c:
            refused_451(c, message(3, 600 * 1024))
            assert a.getreply()[0] == 250 and b.getreply()[0] == 250
            assert c.sendmail("alice@sender.test", ["hello@example.test"],
                              message(4, 600 * 1024)) == {}
        a.close()
        b.close()
        assert len(sink.requests) == 3
    finally:
        g.stop()
