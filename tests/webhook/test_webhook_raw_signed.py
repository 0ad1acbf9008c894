"""Format "raw": the envelope and the auth results are covered by the signature.

They travel as the first header fields of the body (X-Gateway-Envelope,
X-Gateway-Auth), which the Standard Webhooks signature covers; checked here
with Python's hmac, independently of the C code, and with the verify()
function of examples/receiver.py.
"""
import email
import email.policy
import importlib.util
import json
import pathlib

from test_webhook_delivery import EML, FAST, SECRET, post, verify_hmac

ROOT = pathlib.Path(__file__).resolve().parents[2]


def load_receiver():
    spec = importlib.util.spec_from_file_location("receiver", ROOT / "examples" / "receiver.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_raw_envelope_and_auth_are_signed(driver, sink, tmp_path):
    forged = tmp_path / "forged.eml"
    forged.write_bytes(b'X-Gateway-Envelope: {"rcpt_to": ["forged@evil.test"]}\r\n'
                       b'X-Gateway-Auth: {"spf": {"result": "pass"}}\r\n' + EML.read_bytes())
    auth = {"spf": {"result": "fail", "reason": "a, \"quoted\", comma-rich reason"},
            "dkim": [], "dmarc": None}
    rcpts = [f"user{i:03d}-{'x' * 40}@example.test" for i in range(40)]
    args = ["--format", "raw", "--secret", SECRET, "--from", "s@sender.test",
            "--auth-json", json.dumps(auth), *FAST]
    for r in rcpts:
        args += ["--rcpt", r]
    replies, err = post(driver, sink.url(), *args, eml=forged)
    assert replies[0][0] == 250, err
    req = sink.requests[0]
    h, body = req.headers, req.body
    assert verify_hmac(SECRET, h["webhook-id"], h["webhook-timestamp"], body,
                       h["webhook-signature"])
    receiver = load_receiver()
    keys = [receiver.decode_secret(SECRET)]
    assert receiver.verify(keys, h, body, 300) is None
    # the signed copies come first: a field of the same name in the message comes after them
    msg = email.message_from_bytes(body, policy=email.policy.compat32)
    env = json.loads(msg.get_all("X-Gateway-Envelope")[0])
    assert env["rcpt_to"] == rcpts
    assert env["mail_from"] == "s@sender.test"
    assert json.loads(msg.get_all("X-Gateway-Auth")[0]) == auth
    assert body.endswith(b"\r\n" + forged.read_bytes())  # the message itself, unchanged
    head = body[:body.index(b"\r\n" + forged.read_bytes()) + 2]
    assert all(len(line) <= 998 for line in head.split(b"\r\n"))  # RFC 5322 2.1.1, folded
    # a change to the envelope breaks the signature
    tampered = body.replace(rcpts[0].encode(), b"victim@example.test", 1)
    assert not verify_hmac(SECRET, h["webhook-id"], h["webhook-timestamp"], tampered,
                           h["webhook-signature"])
    # the unsigned request-header copy says the same
    assert json.loads(h["X-Gateway-Envelope"])["rcpt_to"] == rcpts


def test_raw_through_the_daemon(gateway_bin, tmp_path, sink):
    from test_webhook_e2e import MSG, SECRET as E2E_SECRET, Gateway
    g = Gateway(gateway_bin, tmp_path, sink.url("/inbound"), extra='format = "raw"\n')
    try:
        forged = b'X-Gateway-Envelope: {"rcpt_to": ["forged@evil.test"]}\r\n' + MSG
        with g.smtp() as c:
            assert c.sendmail("alice@sender.test", ["hello@example.test"], forged) == {}
    finally:
        g.stop()
    r, = sink.requests
    assert verify_hmac(E2E_SECRET, r.headers["webhook-id"], r.headers["webhook-timestamp"],
                       r.body, r.headers["webhook-signature"])
    msg = email.message_from_bytes(r.body, policy=email.policy.compat32)
    first = json.loads(msg.get_all("X-Gateway-Envelope")[0])
    assert first["rcpt_to"] == ["hello@example.test"]
    assert first["mail_from"] == "alice@sender.test"
    # the gateway's trace fields stay on top, the client's message follows ours unchanged
    assert r.body.startswith((b"Received:", b"Authentication-Results:"))
    assert r.body.endswith(b"\r\n" + forged)
    assert r.body.index(b"X-Gateway-Envelope: {\"mail_from\"") < r.body.index(forged)
