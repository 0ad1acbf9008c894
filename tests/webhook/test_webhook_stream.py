"""Peak RSS of the daemon for one big message: the request body is streamed.

smtplib -> the smtp-gateway daemon -> the real webhook code -> webhook_sink.Sink.
A 50 MB message spills to a file that the delivery maps; format "raw" posts
our small head (trace fields, X-Gateway-Envelope) and then the mapped message
itself through libcurl's read callback, so the daemon's peak RSS grows by
about one message size, not two (before: the head and the message were
copied into one body buffer, about 2x). The bound is 1.5x the message over
the idle daemon's peak. Under ASan/UBSan RSS measures the sanitizer, so the
bound is checked in the normal build only (gwpaths.SANITIZED).
"""
import base64
import hashlib
import hmac
import json

import pytest

from gwpaths import SANITIZED
from test_webhook_e2e import SECRET, Gateway
from test_webhook_delivery import post
from webhook_sink import Action, Sink

SIZE = 50 * 1024 * 1024
LINE = b"The quarterly numbers are below, as discussed on Monday, line after line.\r\n"


HEAD_SMALL = (b"From: Alice <alice@sender.test>\r\nTo: big@example.test\r\nSubject: big\r\n"
              b"Message-ID: <big-1@sender.test>\r\nDate: Sun, 6 Dec 2026 12:00:00 +0000\r\n\r\n")


def big_message():
    return HEAD_SMALL + LINE * ((SIZE - len(HEAD_SMALL)) // len(LINE))


def peak_rss(pid):
    """VmHWM of pid in bytes."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def verify(req):
    """The Standard Webhooks v1 signature over id.timestamp.body, checked in Python."""
    key = base64.b64decode(SECRET[len("whsec_"):])
    signed = (req.headers["webhook-id"] + "." + req.headers["webhook-timestamp"] + ".").encode()
    mac = hmac.new(key, signed + req.body, hashlib.sha256).digest()
    sigs = req.headers["webhook-signature"].split()
    return "v1," + base64.b64encode(mac).decode() in sigs


@pytest.mark.skipif(SANITIZED, reason="RSS under ASan measures the sanitizer")
@pytest.mark.parametrize("fmt", ["raw"])
def test_big_message_peak_rss(gateway_bin, tmp_path, fmt):
    sink = Sink()
    g = Gateway(gateway_bin, tmp_path, sink.url("/inbound"),
                extra=f'format = "{fmt}"\n[limits]\nmax_message_size = "64MB"\n'
                      'max_payload_size = "128MB"\n')
    try:
        msg = big_message()
        with g.smtp() as c:
            c.ehlo()  # the idle daemon, one session open: its peak so far is the baseline
            base = peak_rss(g.proc.pid)
            assert c.sendmail("alice@sender.test", ["big@example.test"], msg) == {}
        peak = peak_rss(g.proc.pid)
        assert len(sink.requests) == 1
        req = sink.requests[0]
        assert verify(req)
        if fmt == "raw":
            assert req.body.endswith(msg)  # the message itself, after our head
        else:
            assert json.loads(req.body)["message"]["text"].startswith(LINE.decode().rstrip())
        grown = peak - base
        print(f"{fmt}: {len(msg)} bytes, peak RSS {peak >> 20} MB, grown {grown >> 20} MB "
              f"({grown / len(msg):.2f}x), baseline {base >> 20} MB")
        assert grown <= 1.5 * len(msg), f"peak grew {grown >> 20} MB for {len(msg) >> 20} MB"
    finally:
        g.stop()
        sink.close()


def test_raw_body_read_through_its_own_reference(driver, sink, tmp_path):
    # Format raw borrows the message's bytes instead of copying them: webhook-post
    # --hold gives each submission a copy held by a reference count, as the
    # session's store does, and drops its own reference as soon as
    # delivery_submit() returns (the bytes are overwritten with X when freed).
    # Both attempts (a 503, then the retry) must still read the message whole.
    eml = tmp_path / "held.eml"
    msg = HEAD_SMALL + LINE * ((2 << 20) // len(LINE))
    eml.write_bytes(msg)
    sink.plan = [Action(503), Action(200)]
    replies, err = post(driver, sink.url(), "--format", "raw", "--secret", SECRET, "--hold",
                        "--from", "alice@sender.test", "--rcpt", "big@example.test",
                        "--retry-budget-ms", "20000", "--timeout-ms", "10000", eml=eml)
    assert replies[0][0] == 250, err
    assert len(sink.requests) == 2
    for req in sink.requests:
        assert req.body.endswith(msg)
        assert verify(req)
