"""Peak RSS of the daemon for one big message: one copy of it, not two.

smtplib -> the smtp-gateway daemon -> the real webhook code -> webhook_sink.Sink.
A 50 MB message spills to a file that the delivery maps; format "raw" posts
our small head (trace fields, X-Gateway-Envelope) and then the mapped message
itself through libcurl's read callback, so the daemon's peak RSS grows by
about one message size, not two (before: the head and the message were
copied into one body buffer, about 2x). Format "json" (the default) decodes
the body part while it hands the mapped message's pages back to the kernel
(they come back from the file if read again), so the message and its
decoded text are never both resident (before: 2.05x), with an HMAC
(whsec_) or an Ed25519 (whsk_) key, and for base64, quoted-printable,
ISO-8859-1 and invalid UTF-8 (repaired) body parts too. The
bound is 1.5x the message over the idle daemon's peak. Under ASan/UBSan RSS
measures the sanitizer, so the bound is checked in the normal build only
(gwpaths.SANITIZED).
"""
import base64
import hashlib
import hmac
import json

import pytest

import gwdaemon
from gwpaths import SANITIZED
from test_webhook_e2e import SECRET, Gateway, e2e_config
from test_webhook_delivery import post
from webhook_sink import Action, Sink

SIZE = 50 * 1024 * 1024
LINE = b"The quarterly numbers are below, as discussed on Monday, line after line.\r\n"


HEAD_SMALL = (b"From: Alice <alice@sender.test>\r\nTo: big@example.test\r\nSubject: big\r\n"
              b"Message-ID: <big-1@sender.test>\r\nDate: Sun, 6 Dec 2026 12:00:00 +0000\r\n\r\n")


def big_message():
    return HEAD_SMALL + LINE * ((SIZE - len(HEAD_SMALL)) // len(LINE))


HEAD_B64 = HEAD_SMALL[:-2] + (b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
                              b"Content-Transfer-Encoding: base64\r\n\r\n")


def big_base64_message():
    """The same lines, base64-encoded in 76-character lines (RFC 2045 6.8): 50 MB encoded."""
    text = LINE * ((SIZE - len(HEAD_B64)) * 3 // 4 * 76 // 78 // len(LINE))
    enc = base64.b64encode(text)
    return HEAD_B64 + b"".join(enc[i:i + 76] + b"\r\n" for i in range(0, len(enc), 76)), text


def ed25519_key():
    """A whsk_ secret and its public key (cryptography), or a skip."""
    ed = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.ed25519")
    from cryptography.hazmat.primitives import serialization
    key = ed.Ed25519PrivateKey.generate()
    seed = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                             serialization.NoEncryption())
    return "whsk_" + base64.b64encode(seed).decode(), key.public_key()


def peak_rss(pid):
    """VmHWM of pid in bytes."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def verify(req, pub=None):
    """The Standard Webhooks signature over id.timestamp.body, checked in Python: v1
    (HMAC-SHA256 with SECRET), or v1a (Ed25519) with the public key pub."""
    signed = (req.headers["webhook-id"] + "." + req.headers["webhook-timestamp"] + ".").encode()
    sigs = req.headers["webhook-signature"].split()
    if pub:
        pub.verify(base64.b64decode(sigs[0].split(",", 1)[1]), signed + req.body)  # raises
        return sigs[0].startswith("v1a,")
    key = base64.b64decode(SECRET[len("whsec_"):])
    mac = hmac.new(key, signed + req.body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode() in sigs


class BigGateway(Gateway):
    """The e2e daemon with limits for 50 MB, the route's format and its signing secret."""

    def __init__(self, binary, tmp, sink_url, fmt, secret):
        limits = '[limits]\nmax_message_size = "64MB"\nmax_payload_size = "128MB"\n'

        def config(port):
            doc = e2e_config(port, sink_url, f'format = "{fmt}"\n' + limits)
            doc["route"][0]["secret"] = secret
            return doc
        gwdaemon.Gateway.__init__(self, tmp, config, binary=binary)


HEAD_QP = HEAD_B64.replace(b"base64", b"quoted-printable")
LINE_QP = "Caf\u00e9 = the quarterly numbers are below, as discussed on Monday.\r\n".encode()


def big_qp_message():
    """Lines with an accent and an '=', quoted-printable (RFC 2045 6.7): =C3=A9 and =3D."""
    import binascii
    n = (SIZE - len(HEAD_QP)) * 8 // 10 // len(LINE_QP)
    line = binascii.b2a_qp(LINE_QP[:-2]) + b"\r\n"  # one encoded line, under 76 characters
    return HEAD_QP + line * n, LINE_QP * n


HEAD_LATIN1 = HEAD_B64.replace(b"utf-8", b"iso-8859-1").replace(b"base64", b"8bit")


def big_latin1_message():
    """The accented lines in ISO-8859-1, 8bit: converted to UTF-8 on the way in."""
    line = LINE_QP.decode().encode("latin-1")
    n = (SIZE - len(HEAD_LATIN1)) // len(line)
    return HEAD_LATIN1 + line * n, LINE_QP * n


HEAD_BADUTF8 = HEAD_B64.replace(b"base64", b"8bit")


def big_bad_utf8_message():
    """Declared UTF-8, 8bit, with a stray byte on every line: repaired on the way in
    (each becomes U+FFFD), in 1 MB chunks whose pages go back, not in one copy."""
    line = LINE_QP[:-2] + b"\xff\r\n"
    n = (SIZE - len(HEAD_BADUTF8)) // len(line)
    return HEAD_BADUTF8 + line * n, (LINE_QP[:-2] + "\ufffd\r\n".encode()) * n


BODIES = {"plain": lambda: (big_message(), None), "base64": big_base64_message,
          "qp": big_qp_message, "latin1": big_latin1_message, "badutf8": big_bad_utf8_message}


@pytest.mark.skipif(SANITIZED, reason="RSS under ASan measures the sanitizer")
@pytest.mark.parametrize("fmt,key,body", [("raw", "whsec", "plain"), ("json", "whsec", "plain"),
                                          ("json", "whsk", "plain"),
                                          ("json", "whsec", "base64"), ("json", "whsec", "qp"),
                                          ("json", "whsec", "latin1"),
                                          ("json", "whsec", "badutf8")])
def test_big_message_peak_rss(gateway_bin, tmp_path, fmt, key, body):
    secret, pub = ed25519_key() if key == "whsk" else (SECRET, None)
    sink = Sink()
    g = BigGateway(gateway_bin, tmp_path, sink.url("/inbound"), fmt, secret)
    try:
        msg, text = BODIES[body]()
        with g.smtp() as c:
            c.ehlo()  # the idle daemon, one session open: its peak so far is the baseline
            base = peak_rss(g.proc.pid)
            assert c.sendmail("alice@sender.test", ["big@example.test"], msg) == {}
        peak = peak_rss(g.proc.pid)
        assert len(sink.requests) == 1
        req = sink.requests[0]
        assert verify(req, pub)
        if fmt == "raw":
            assert req.body.endswith(msg)  # the message itself, after our head
        else:
            got = json.loads(req.body)["message"]["text"]
            want = (text or msg[len(HEAD_SMALL):]).decode().replace("\r\n", "\n")
            assert got == want
        grown = peak - base
        print(f"{fmt} {key} {body}: {len(msg)} bytes, peak RSS {peak >> 20} MB, "
              f"grown {grown >> 20} MB ({grown / len(msg):.2f}x), baseline {base >> 20} MB")
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
