"""The JSON body's size: its cap follows what the payload really holds.

Drives tests/webhook/webhook-post against webhook_sink.Sink.
"""
import json

from gwdaemon import write_toml
from test_webhook_delivery import FAST, post


def rcpt_args(n):
    args = []
    for i in range(n):
        # 64-octet local parts (RFC 5321 4.5.3.1.1) on a long domain: about 120 octets each
        args += ["--rcpt", f"r{i:05d}-" + "x" * 57 + "@" + "mail-" * 10 + "example.test"]
    return args


def test_small_message_to_4000_recipients_is_posted(driver, sink):
    replies, err = post(driver, sink.url(), "--format", "json", *FAST, *rcpt_args(4000))
    assert [(c, s) for c, s, _ in replies] == [(250, "2.0.0")], err
    assert len(sink.requests) == 1
    body = sink.requests[0].body
    payload = json.loads(body)
    assert len(payload["envelope"]["rcpt_to"]) == 4000
    assert len(payload["recipients"]) == 4000
    print(f"4000 recipients: JSON body {len(body)} bytes")


def test_raw_body_over_max_payload_size(driver, sink, tmp_path):
    cfg = write_toml(tmp_path / "gateway.toml", {
        "server": {"hostname": "mx.test"},
        "listener": [{"address": "127.0.0.1:1", "mode": "smtp"}],
        "limits": {"max_payload_size": "64KB"},
        "route": [{"name": "raw", "match": "*@example.test", "url": sink.url(), "format": "raw",
                   "retry_budget": "0"}]})
    big = tmp_path / "big.eml"
    big.write_bytes(b"Subject: big\r\n\r\n" + (b"x" * 76 + b"\r\n") * 1000)  # 78 KB
    small = tmp_path / "small.eml"
    small.write_bytes(b"Subject: small\r\n\r\n" + (b"x" * 76 + b"\r\n") * 500)  # 39 KB
    args = ["--config", str(cfg), "--route", "raw", "--rcpt", "a@example.test"]
    replies, err = post(driver, None, *args, eml=big)
    assert [(c, s) for c, s, _ in replies] == [(552, "5.3.4")], err
    assert not sink.requests
    replies, err = post(driver, None, *args, eml=small)
    assert [(c, s) for c, s, _ in replies] == [(250, "2.0.0")], err
    assert len(sink.requests) == 1 and len(sink.requests[0].body) <= 64 * 1024
