"""The admin listener (issue 13): after a scripted run, /metrics says what was
sent (messages by route and reply code, refused recipients, bytes, webhook
statuses, sender authentication results, TLS handshakes, DNS queries and
cache hits); the JSON log has one line per message with its envelope, reply
and stage times; an AUTH session leaves no secret in a trace-level log;
/readyz turns 503 on SIGTERM while the drain runs, /healthz stays 200."""
import base64
import json
import pathlib
import signal
import smtplib
import sys
import threading

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from admin_lib import (Daemon, Sink, client_tls, json_lines, make_cert,  # noqa: E402
                       password_hash, total, value, wait_for)
from dnsserver import DNSServer  # noqa: E402

PASSWORD = "Tr0ub4dor-and-3"
BODY_MARKER = "body-marker-7c1e"
TRACE = '["smtp", "webhook", "dns", "spf", "dkim", "dmarc", "auth"]'


def config(sink, dns, cert, key, extra=""):
    return f'''
[server]
allow_root = true
hostname = "mx.test"
workers = 2
log_level = "debug"
log_trace = {TRACE}
log_format = "json"

[admin]
address = "127.0.0.1:@ADMIN@"

[[listener]]
address = "127.0.0.1:@SMTP@"

[[listener]]
address = "127.0.0.1:@SUB@"
mode = "submission"

[[tls.certificate]]
cert = "{cert}"
key = "{key}"

[dns]
servers = ["{dns.address}"]

[auth]
spf = "annotate"
dkim = "annotate"
dmarc = "annotate"
arc = "off"

[webhook]
retry_budget = "0"
circuit_breaker_threshold = 0

[[user]]
name = "carol"
password_hash = '{password_hash(PASSWORD)}'

[[route]]
name = "ok"
match = "*@good.test"
url = "{sink.url('/200')}"

[[route]]
name = "fail"
match = "*@fail.test"
url = "{sink.url('/503')}"

[[route]]
name = "down"
match = "*@down.test"
url = "http://127.0.0.1:1/hook"
{extra}
'''


def message(n):
    return (f"From: Alice <alice@sender.test>\r\nTo: x@good.test\r\nSubject: n{n}\r\n"
            f"Message-ID: <m{n}@sender.test>\r\n\r\n{BODY_MARKER} {n}\r\n" + "y" * 70 * n
            + "\r\n").encode()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("admin")
    sink = Sink()
    dns = DNSServer({"sender.test": [("TXT", "v=spf1 ip4:127.0.0.1 -all")],
                     "_dmarc.sender.test": [("TXT", "v=DMARC1; p=none")]})
    dns.start()
    cert, key = make_cert(tmp)
    d = Daemon(tmp, config(sink, dns, cert, key))
    yield d, sink, dns
    d.stop()
    dns.stop()
    sink.close()


class Run:
    """What the client did and saw, to compare with the scrape."""

    def __init__(self):
        self.sessions = 0
        self.replies = {}  # (route, code) -> count
        self.octets = 0
        self.data_messages = 0
        self.refused_rcpts = 0

    def send(self, c, rcpt, n, route):
        msg = message(n)
        c.mail("alice@sender.test")
        code, _ = c.rcpt(rcpt)
        assert code == 250
        code, _ = c.data(msg)
        self.replies[(route, str(code))] = self.replies.get((route, str(code)), 0) + 1
        self.octets += len(msg)
        self.data_messages += 1
        return code


def scripted_run(d):
    run = Run()
    with smtplib.SMTP("127.0.0.1", d.port, local_hostname="client.sender.test", timeout=30) as c:
        run.sessions += 1
        c.ehlo("client.sender.test")
        for n in range(3):
            assert run.send(c, "x@good.test", n, "ok") == 250
        for n in range(2):
            run.send(c, "x@fail.test", 10 + n, "fail")
        run.send(c, "x@down.test", 20, "down")
        for rcpt in ("a@nowhere.test", "b@nowhere.test"):
            c.mail("alice@sender.test")
            assert c.rcpt(rcpt)[0] == 550
            run.refused_rcpts += 1
            c.rset()
    with smtplib.SMTP("127.0.0.1", d.port, local_hostname="client.sender.test", timeout=30) as c:
        run.sessions += 1
        c.starttls(context=client_tls())
        c.ehlo("client.sender.test")
        assert run.send(c, "x@good.test", 30, "ok") == 250
    with smtplib.SMTP("127.0.0.1", d.sub_port, local_hostname="client.sender.test",
                      timeout=30) as c:
        run.sessions += 1
        c.starttls(context=client_tls())
        c.ehlo("client.sender.test")
        c.login("carol", PASSWORD)
        assert run.send(c, "x@good.test", 40, "ok") == 250
    return run


@pytest.fixture(scope="module")
def ran(world):
    d, sink, dns = world
    before = d.scrape()
    queries_before = dns.count()
    run = scripted_run(d)
    assert wait_for(lambda: value(d.scrape(), "smtp_gateway_sessions") == 0)
    return before, d.scrape(), run, dns.count() - queries_before


def delta(before, after, name, **labels):
    return value(after, name, **labels) - value(before, name, **labels)


def test_messages_by_route_and_code(ran):
    before, after, run, _ = ran
    assert run.replies[("ok", "250")] == 5
    for (route, code), n in run.replies.items():
        assert delta(before, after, "smtp_gateway_messages_total", route=route, code=code) == n
    assert total(after, "smtp_gateway_messages_total") - total(
        before, "smtp_gateway_messages_total") == run.data_messages
    assert delta(before, after, "smtp_gateway_message_duration_seconds_count") == \
        run.data_messages


def test_connections_sessions_bytes_recipients(world, ran):
    d, _, _ = world
    before, after, run, _ = ran
    for port in (d.port, d.sub_port):
        assert f'127.0.0.1:{port}' in {dict(k[1]).get("listener") for k in after if k}
    assert total(after, "smtp_gateway_connections_total", result="accepted") - total(
        before, "smtp_gateway_connections_total", result="accepted") == run.sessions
    assert value(after, "smtp_gateway_sessions") == 0
    # the exit-time counters, live
    assert delta(before, after, "smtp_gateway_events_total", event="connections") == run.sessions
    assert delta(before, after, "smtp_gateway_events_total", event="messages_delivered") == \
        run.data_messages
    assert delta(before, after, "smtp_gateway_received_bytes_total") == run.octets
    assert delta(before, after, "smtp_gateway_recipients_refused_total",
                 reason="relay_denied") == run.refused_rcpts


def test_webhook_statuses_and_durations(ran):
    before, after, run, _ = ran
    assert delta(before, after, "smtp_gateway_webhook_requests_total", route="ok",
                 status="200") == 5
    assert delta(before, after, "smtp_gateway_webhook_requests_total", route="fail",
                 status="503") == 2
    assert delta(before, after, "smtp_gateway_webhook_requests_total", route="down",
                 status="connect") == 1
    assert delta(before, after, "smtp_gateway_webhook_duration_seconds_count", route="ok") == 5
    assert value(after, "smtp_gateway_webhook_duration_seconds_bucket", route="ok",
                 le="+Inf") == value(after, "smtp_gateway_webhook_duration_seconds_count",
                                     route="ok")
    assert value(after, "smtp_gateway_circuit_breaker_open", route="ok") == 0


def test_auth_tls_dns(ran):
    before, after, run, queries = ran
    n = run.data_messages
    assert delta(before, after, "smtp_gateway_auth_results_total", check="spf",
                 result="pass") == n
    assert delta(before, after, "smtp_gateway_auth_results_total", check="dkim",
                 result="none") == n
    assert total(after, "smtp_gateway_auth_results_total", check="dmarc") - total(
        before, "smtp_gateway_auth_results_total", check="dmarc") == n
    assert total(after, "smtp_gateway_tls_handshakes_total") - total(
        before, "smtp_gateway_tls_handshakes_total") == 2
    # every query the server saw was counted once, by its result; the rest came from the cache
    assert total(after, "smtp_gateway_dns_queries_total") - total(
        before, "smtp_gateway_dns_queries_total") == queries
    assert queries >= 2
    assert delta(before, after, "smtp_gateway_dns_cache_hits_total") >= 1


def test_build_info_and_format(world):
    d, _, _ = world
    status, text = d.get("/metrics")
    assert status == 200
    assert 'smtp_gateway_build_info{version="' in text
    assert text.endswith("\n")


def test_json_log_line_per_message(world, ran):
    d, sink, _ = world
    lines = json_lines(d.log())  # every line is one JSON object
    msgs = [ln for ln in lines if ln.get("msg") == "message" and ln.get("route") == "ok"]
    assert len(msgs) >= 5
    m = msgs[0]
    for key in ("time", "level", "session", "delivery", "client", "helo", "from", "rcpts",
                "route", "size", "http_status", "reply", "data_us", "auth_us", "payload_us",
                "webhook_us"):
        assert key in m, key
    assert m["client"] == "127.0.0.1" and m["helo"] == "client.sender.test"
    assert m["from"] == "alice@sender.test" and m["rcpts"] == ["x@good.test"]
    assert m["http_status"] == 200 and m["reply"].startswith("250 ")
    assert m["size"] == len(message(0))
    assert all(isinstance(m[k], int) and m[k] >= 0
               for k in ("data_us", "auth_us", "payload_us", "webhook_us"))
    # the delivery id joins the line to the webhook's lines of the same message
    assert any(ln.get("sys") == "webhook" and ln.get("delivery") == m["delivery"] for ln in lines)


def test_no_secret_or_body_in_trace_log(world, ran):
    d, _, _ = world
    log = d.log()
    assert "AUTH" in log or "auth" in log
    plain = base64.b64encode(f"\0carol\0{PASSWORD}".encode()).decode()
    for secret in (PASSWORD, plain, base64.b64encode(PASSWORD.encode()).decode()):
        assert secret not in log
    assert BODY_MARKER not in log


def test_health_and_ready(world):
    d, _, _ = world
    assert d.get("/healthz") == (200, "ok\n")
    assert d.get("/readyz") == (200, "ready\n")
    assert d.get("/nothing")[0] == 404


def test_readyz_503_while_draining(tmp_path):
    sink = Sink()
    dns = DNSServer({})
    dns.start()
    cert, key = make_cert(tmp_path)
    extra = f'''
[[route]]
name = "slow"
match = "*@slow.test"
url = "{sink.url('/delay/3')}"

[limits]
drain_timeout = "20s"
'''
    d = Daemon(tmp_path, config(sink, dns, cert, key, extra))
    result = {}

    def slow_message():
        with smtplib.SMTP("127.0.0.1", d.port, timeout=30) as c:
            c.ehlo("client.sender.test")
            c.mail("alice@sender.test")
            c.rcpt("x@slow.test")
            result["code"] = c.data(message(1))[0]
            c.close()  # the drain's 421 would come at QUIT

    t = threading.Thread(target=slow_message)
    try:
        t.start()
        assert sink.got.wait(15), d.log()
        assert d.get("/readyz")[0] == 200
        d.proc.send_signal(signal.SIGTERM)
        assert wait_for(lambda: d.get("/readyz")[0] == 503), d.log()
        assert d.get("/healthz")[0] == 200  # alive while it drains
        t.join(30)
        assert result.get("code") == 250  # the message in flight got its answer
        assert d.proc.wait(timeout=30) == 0
    finally:
        t.join(5)
        d.stop()
        dns.stop()
        sink.close()


def test_json_lines_escape_client_strings(world):
    """A quoted local part carries '"' and '\\' into the log: the JSON stays one
    valid object a line and gives the address back exactly."""
    d, _, _ = world
    sender = '"a\\"b\\\\c"@sender.test'
    with smtplib.SMTP("127.0.0.1", d.port, local_hostname="client.sender.test", timeout=30) as c:
        c.ehlo("client.sender.test")
        assert c.mail(sender)[0] == 250
        assert c.rcpt("x@good.test")[0] == 250
        assert c.data(message(2))[0] == 250
    # every line parses, and the message's line gives the address back
    assert wait_for(lambda: any(ln.get("msg") == "message" and ln.get("from") == sender
                                for ln in json_lines(d.log())))
