"""End to end: smtplib -> the smtp-gateway daemon -> the real webhook code ->
the fault-injecting sink, and the sink's answer back as the SMTP reply."""
import base64
import hashlib
import hmac
import json
import re
import smtplib
import subprocess
import time

import pytest

import gwdaemon
from gwdaemon import Toml, gateway_config
from gwpaths import free_port
from webhook_sink import Action

SECRET = "whsec_" + base64.b64encode(b"end to end secret for the tests!").decode()
MSG = (b"From: Alice <alice@sender.test>\r\nTo: hello@example.test\r\nSubject: e2e\r\n"
       b"Message-ID: <e2e-1@sender.test>\r\nDate: Sun, 29 Nov 2026 12:00:00 +0000\r\n"
       b"\r\nHello through the gateway.\r\n")


def e2e_config(port, sink_url, extra="", server=""):
    """The e2e route to sink_url; extra: TOML lines after the route's keys (more keys, or
    further sections), server: lines in [server]."""
    route = {"name": "e2e", "match": "*@example.test", "url": sink_url, "secret": SECRET,
             "replies": {"404": "550 5.1.1 No such ticket"}, "circuit_breaker_threshold": 2,
             "circuit_breaker_probe": "1h", "+": Toml(extra)}
    return gateway_config(port, [route], server={"+": Toml(server)},
                          webhook={"timeout": "5s", "retry_budget": "0"})


class Gateway(gwdaemon.Gateway):
    """The daemon with the e2e route; stop() drains it (SIGTERM) and fails the test on a
    sanitizer report or an exit status other than 0."""

    def __init__(self, binary, tmp, sink_url, extra="", server=""):
        super().__init__(tmp, lambda port: e2e_config(port, sink_url, extra, server),
                         binary=binary)

    def stop(self, timeout=30.0):
        code = self.close(timeout)
        self.check()
        return code


@pytest.fixture
def gateway(gateway_bin, tmp_path, sink):
    g = Gateway(gateway_bin, tmp_path, sink.url("/inbound"))
    try:
        yield g
    finally:
        g.stop()


def verify(r):
    key = base64.b64decode(SECRET[len("whsec_"):])
    signed = f"{r.headers['webhook-id']}.{r.headers['webhook-timestamp']}.".encode() + r.body
    want = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return hmac.compare_digest(r.headers["webhook-signature"], want)


def test_delivered_signed_json(gateway, sink):
    with gateway.smtp() as c:
        refused = c.sendmail("alice@sender.test", ["hello@example.test"], MSG)
    assert refused == {}
    r, = sink.requests
    assert r.path == "/inbound"
    assert verify(r)
    assert r.headers["Content-Type"] == "application/json"
    payload = json.loads(r.body)
    assert payload["id"] == r.headers["webhook-id"]
    assert "hello@example.test" in json.dumps(payload["envelope"])


def test_app_answer_becomes_smtp_reply(gateway, sink):
    sink.default = Action(404)
    with gateway.smtp() as c:
        with pytest.raises(smtplib.SMTPDataError) as e:
            c.sendmail("alice@sender.test", ["hello@example.test"], MSG)
    assert e.value.smtp_code == 550
    assert e.value.smtp_error.decode().startswith("5.1.1 No such ticket")
    sink.default = Action(403, {"smtp": {"code": 550, "status": "5.7.1",
                                         "message": "Sender blocked by the app"}})
    with gateway.smtp() as c:
        with pytest.raises(smtplib.SMTPDataError) as e:
            c.sendmail("alice@sender.test", ["hello@example.test"], MSG)
    assert (e.value.smtp_code, e.value.smtp_error.decode()) == \
        (550, "5.7.1 Sender blocked by the app")


def test_same_message_same_id(gateway, sink):
    for _ in range(2):  # a sender retrying on a new connection (new port)
        with gateway.smtp() as c:
            c.sendmail("alice@sender.test", ["hello@example.test"], MSG)
    a, b = sink.requests
    assert a.headers["webhook-id"] == b.headers["webhook-id"]
    assert a.headers["webhook-timestamp"] and verify(a) and verify(b)


def test_keepalive_across_sessions(gateway, sink):
    with gateway.smtp() as c:
        for i in range(3):
            c.sendmail("alice@sender.test", ["hello@example.test"], MSG + b"%d\r\n" % i)
    with gateway.smtp() as c:
        c.sendmail("alice@sender.test", ["hello@example.test"], MSG)
    assert len(sink.requests) == 4
    assert sink.connections == 1


def test_breaker_refuses_at_rcpt(gateway, sink):
    sink.default = Action(503)
    for _ in range(2):
        with gateway.smtp() as c:
            with pytest.raises(smtplib.SMTPDataError) as e:
                c.sendmail("alice@sender.test", ["hello@example.test"], MSG)
            assert e.value.smtp_code == 451
    with gateway.smtp() as c:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as e:
            c.sendmail("alice@sender.test", ["hello@example.test"], MSG)
    code, text = e.value.recipients["hello@example.test"]
    assert code == 451 and text.decode().startswith("4.3.0")
    assert len(sink.requests) == 2  # the third message never reached the app


def test_client_gone_while_posting(gateway, sink):
    sink.plan = [Action(200, delay=1.5)]
    c = gateway.smtp()
    c.ehlo()
    c.mail("alice@sender.test")
    c.rcpt("hello@example.test")
    c.putcmd("data")
    assert c.getreply()[0] == 354
    c.send(MSG + b".\r\n")
    c.sock.close()  # gone before the app answers: delivery_forget()
    time.sleep(2.0)
    with gateway.smtp() as c2:
        assert c2.sendmail("alice@sender.test", ["hello@example.test"], MSG) == {}
    assert len(sink.requests) == 2
    assert gateway.proc.poll() is None


def test_log_joins_session_and_delivery(gateway_bin, tmp_path, sink):
    """One log (docs/logging.md): the submit line names the delivery id, every webhook
    line names the session, and log_trace turns on one subsystem's debug lines alone."""
    g = Gateway(gateway_bin, tmp_path, sink.url("/inbound"),
                server='log_level = "info"\nlog_trace = ["webhook"]')
    try:
        with g.smtp() as c:
            assert c.sendmail("alice@sender.test", ["hello@example.test"], MSG) == {}
        assert g.proc.poll() is None
    finally:
        g.stop()
    log = g.log()
    sub = re.search(r"info sys=smtp session=([0-9a-f]{16}) delivery=(\S+) message submitted", log)
    assert sub, log
    session, delivery = sub.groups()
    assert delivery == sink.requests[0].headers["webhook-id"]
    assert f"info sys=smtp session={session} delivery={delivery} delivered reply=250" in log
    hooks = [ln for ln in log.splitlines() if " sys=webhook " in ln]
    assert hooks and all(f"session={session} delivery={delivery} " in ln for ln in hooks), log
    assert any("debug sys=webhook" in ln and " job " in ln for ln in hooks), log  # traced
    assert "debug sys=smtp" not in log  # smtp is not traced: its debug lines stay off
    assert "info sys=main" in log and "ready:" in log


def test_log_trace_unknown_name_refused(gateway_bin, tmp_path):
    cfg = tmp_path / "gw.toml"
    cfg.write_text('[server]\nlog_trace = ["smtp", "nosuch"]\n'
                   '[[listener]]\naddress = "127.0.0.1:%d"\n' % free_port())
    p = subprocess.run([str(gateway_bin), "check", "-c", str(cfg)], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode != 0
    assert "'log_trace': unknown name 'nosuch'" in p.stderr
