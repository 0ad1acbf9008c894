"""The real daemon (build/gateway/smtp-gateway, webhook delivery) end to end:
SMTP in, one HTTP POST out, the HTTP answer back as the SMTP answer."""
import json
import smtplib

import pytest

from gwdaemon import GATEWAY, gateway_config
from webhook_sink import Action


@pytest.mark.skipif(not GATEWAY.exists(), reason="daemon not built")
def test_daemon_posts_and_answers(sink, gateways):
    gw = gateways.start(lambda port: gateway_config(
        port, [{"match": "*@example.com", "url": sink.url("/hook")}], hostname="mx.test",
        webhook={"retry_budget": "0s"}))
    with smtplib.SMTP("127.0.0.1", gw.port, timeout=20) as s:
        s.sendmail("a@client.test", ["x@example.com"], b"Subject: real\r\n\r\nhello\r\n")
        sink.default = Action(503)
        with pytest.raises(smtplib.SMTPDataError) as e:
            s.sendmail("a@client.test", ["x@example.com"], b"Subject: two\r\n\r\nno\r\n")
        assert e.value.smtp_code >= 400  # the webhook module owns the exact mapping
    body = json.loads(sink.requests[0].body)
    assert body["envelope"]["mail_from"] == "a@client.test"
    assert body["envelope"]["rcpt_to"] == ["x@example.com"]
