"""Spam verdicts from rspamd (issue 16), end to end: smtplib -> the smtp-gateway daemon
-> a real rspamd (tests/spam/rspamd_fixture.py: Debian's package, on 127.0.0.1, no
network) or a stand-in that answers slowly or not at all (rspamd_standin.py) -> the
webhook sink of tests/webhook/.

Under enforce GTUBE gets 550 5.7.1 with rspamd's text and is not posted; under
annotate it is posted with the verdict; a clean message gets "no action" and the
fields rspamd adds (X-Rspamd-Queue-Id is our delivery id); a stopped rspamd gives
the failure policy's answer and opens the breaker; a slow rspamd holds only its own
message; rspamd is told the envelope in its protocol headers."""
import json
import re
import signal
import pathlib
import sys
import threading
import time

import jsonschema
import pytest

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "webhook"))
from gwpaths import ROOT, free_port  # noqa: E402
from rspamd_fixture import GTUBE, rspamd, rspamd_hs_cache, rspamd_module  # noqa: E402,F401
from rspamd_standin import RspamdStandin, wait_for  # noqa: E402
import gwdaemon  # noqa: E402
from dnsserver import dns_server  # noqa: E402,F401 (fixture)

SCHEMA = json.loads((ROOT / "docs" / "payload.schema.json").read_text())
DATE = "Date: Sun, 06 Dec 2026 07:00:00 +0000\r\n"


def message(body, subject="hello", mid="<m1@sender.test>"):
    return (f"From: Alice <alice@sender.test>\r\nTo: bob@ours.test\r\nSubject: {subject}\r\n"
            f"Message-ID: {mid}\r\n{DATE}MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\n" + body + "\r\n").encode()


CLEAN = message("Hello Bob,\r\n\r\nthe minutes of Tuesday's meeting are below.\r\n\r\nAlice")
SPAM = message(GTUBE, subject="test")


class Gateway(gwdaemon.Gateway):
    """The daemon with a [spam] section; auth off (hermetic: no DNS)."""

    def __init__(self, tmp, hook_url, spam, route=None, auth=None):
        auth = auth or ["[auth]", 'spf = "off"', 'dkim = "off"', 'dmarc = "off"', 'arc = "off"']

        def text(port):
            return "\n".join([
                "[server]", "allow_root = true", 'hostname = "mx.ours.test"', "workers = 1",
                'log_level = "debug"',
                "[[listener]]", f'address = "127.0.0.1:{port}"', *auth,
                "[spam]", *[f"{k} = {json.dumps(v)}" for k, v in spam.items()],
                "[webhook]", 'timeout = "10s"', 'retry_budget = "0s"',
                "[[route]]", 'name = "ours"', 'match = "*@ours.test"', f'url = "{hook_url}"',
                *[f"{k} = {json.dumps(v)}" for k, v in (route or {}).items()]]) + "\n"
        super().__init__(tmp, text)
        self.cfg = self.config

    def send(self, msg, rcpts=("bob@ours.test",), sender="alice@sender.test"):
        """(code, text) of the end of data."""
        with self.smtp(timeout=60) as c:
            c.ehlo()
            assert c.mail(sender)[0] == 250
            for r in rcpts:
                assert c.rcpt(r)[0] == 250
            return c.data(msg)


@pytest.fixture
def gateway(tmp_path, sink):
    started = []

    def start(spam, route=None, auth=None):
        g = Gateway(tmp_path, sink.url("/hook"), spam, route, auth)
        started.append(g)
        return g

    try:
        yield start
    finally:
        for g in started:
            g.close()
        for g in started:
            g.check()  # no sanitizer report, exit status 0


def posted(sink, n=1):
    assert wait_for(lambda: len(sink.requests) >= n, 20), "nothing posted"
    return [json.loads(r.body) for r in sink.requests[:n]]


def fields_of(payload, name):
    return [h["value"] for h in payload["message"]["headers"] if h["name"].lower() == name.lower()]


# ---- a real rspamd ----

def test_gtube_refused_under_enforce(gateway, sink, rspamd_module):
    g = gateway({"spam": "enforce", "rspamd_url": rspamd_module.url})
    code, text = g.send(SPAM)
    assert code == 550, text
    assert text.startswith(b"5.7.1 ")
    assert b"Gtube pattern" in text  # rspamd's own smtp_message, cleaned
    time.sleep(0.3)
    assert sink.requests == []
    assert 'spam action="reject"' in g.log()
    g.stop()
    assert "spam_rejected=1" in g.log()  # the counters, logged at exit


def test_gtube_annotated_and_valid(gateway, sink, rspamd_module):
    g = gateway({"spam": "annotate", "rspamd_url": rspamd_module.url})
    code, text = g.send(SPAM)
    assert code == 250, text
    p, = posted(sink)
    jsonschema.validate(p, SCHEMA)
    spam = p["spam"]
    assert spam["engine"] == "rspamd" and spam["action"] == "reject"
    assert "GTUBE" in [s["name"] for s in spam["symbols"]]
    assert spam["score"] >= spam["required_score"] > 0


def test_route_overrides_global_policy(gateway, sink, rspamd_module):
    """[spam] spam = "off", the route enforces: GTUBE to that route is refused."""
    g = gateway({"spam": "off", "rspamd_url": rspamd_module.url}, route={"spam": "enforce"})
    assert g.send(SPAM)[0] == 550


def test_clean_message_no_action_and_rspamd_fields(gateway, sink, rspamd_module):
    g = gateway({"spam": "enforce", "rspamd_url": rspamd_module.url})
    code, text = g.send(CLEAN)
    assert code == 250, text
    p, = posted(sink)
    jsonschema.validate(p, SCHEMA)
    assert p["spam"]["action"] == "no action", p["spam"]
    assert p["spam"]["score"] < p["spam"]["required_score"]
    # rspamd's milter add_headers, in the message we post: its Queue-Id is our delivery id.
    assert fields_of(p, "X-Rspamd-Queue-Id") == [p["id"]]
    result, = fields_of(p, "X-Spamd-Result")
    assert result.startswith("default: False")
    assert not [w for w in p["warnings"] if w["code"].startswith("spam_")]


def test_forged_spam_fields_are_cut(gateway, sink, rspamd_module):
    """The sender's own copies of the fields rspamd asks to remove (a forged
    X-Spamd-Result, X-Spam) are cut before rspamd's are added."""
    g = gateway({"spam": "annotate", "rspamd_url": rspamd_module.url})
    forged = CLEAN.replace(b"Subject: hello\r\n", b"Subject: hello\r\nX-Spam: No\r\n"
                           b"X-Spamd-Result: default: False [-9.00 / 15.00];\r\n\tNONE(0.00)\r\n")
    assert g.send(forged)[0] == 250
    p, = posted(sink)
    result, = fields_of(p, "X-Spamd-Result")
    assert result.startswith("default: False") and "-9.00" not in result
    assert fields_of(p, "X-Spam") == []
    assert len(fields_of(p, "X-Rspamd-Queue-Id")) == 1


def test_spam_off_sends_nothing_to_rspamd(gateway, sink):
    standin = RspamdStandin()
    try:
        g = gateway({"spam": "off", "rspamd_url": standin.url})
        assert g.send(CLEAN)[0] == 250
        p, = posted(sink)
        assert p["spam"] is None
        assert standin.requests == []
    finally:
        standin.close()


def test_rspamd_stopped_mid_run(gateway, sink, rspamd):
    """tempfail: 451 4.7.1 once rspamd is gone; after circuit_breaker_threshold failures
    the breaker opens and later messages are answered without asking rspamd."""
    g = gateway({"spam": "enforce", "rspamd_url": rspamd.url, "spam_failure": "tempfail",
                 "circuit_breaker_threshold": 2, "circuit_breaker_probe": "1h",
                 "timeout": "2s", "connect_timeout": "1s"})
    assert g.send(CLEAN)[0] == 250
    rspamd.stop()
    for _ in range(2):
        code, text = g.send(CLEAN)
        assert (code, text[:6]) == (451, b"4.7.1 "), text
        assert b"Spam filter unavailable" in text
    assert "spam: circuit breaker open after 2 failed checks" in g.log()
    assert g.send(CLEAN)[:1] == (451,)
    assert "spam check failed: circuit breaker open" in g.log()
    assert len(sink.requests) == 1
    g.stop()
    assert "spam_check_failed=3" in g.log()


def test_failure_annotate_delivers_with_warning(gateway, sink):
    """annotate: a dead rspamd (nothing listens) costs the message nothing but its verdict."""
    g = gateway({"spam": "enforce", "rspamd_url": f"http://127.0.0.1:{free_port()}",
                 "connect_timeout": "1s"})
    assert g.send(CLEAN)[0] == 250
    p, = posted(sink)
    jsonschema.validate(p, SCHEMA)
    assert p["spam"] is None
    w, = [w for w in p["warnings"] if w["code"] == "spam_check_failed"]
    assert w["message"]


# ---- the stand-in: what rspamd will not do on demand ----

def test_breaker_one_timeout_then_fast(gateway, sink):
    """An rspamd that never answers: the first message waits [spam] timeout, the breaker
    opens (threshold 1), the next ones are not sent to it at all."""
    standin = RspamdStandin(mode="hang")
    try:
        g = gateway({"spam": "annotate", "rspamd_url": standin.url, "timeout": "1s",
                     "circuit_breaker_threshold": 1, "circuit_breaker_probe": "1h"})
        for _ in range(3):
            assert g.send(CLEAN)[0] == 250
        assert len(standin.requests) == 1  # one timeout, then the breaker answers
        assert "spam: circuit breaker open after 1 failed checks" in g.log()
        ps = posted(sink, 3)
        assert [p["spam"] for p in ps] == [None, None, None]
    finally:
        standin.close()


def test_slow_rspamd_does_not_delay_other_sessions(gateway, sink):
    """Session A's message makes the stand-in sleep; session B, started after A's DATA,
    is answered first: the worker's loop never waited for rspamd."""
    standin = RspamdStandin(delay=3.0)
    try:
        g = gateway({"spam": "annotate", "rspamd_url": standin.url, "timeout": "10s"})
        order = []

        def session(name, body):
            order.append((name, g.send(body)[0]))

        a = threading.Thread(target=session, args=("A", message("SLOW-MARKER please")))
        a.start()
        assert wait_for(lambda: len(standin.requests) == 1, 10)  # A is at rspamd now
        session("B", CLEAN)
        a.join(30)
        assert order == [("B", 250), ("A", 250)]
    finally:
        standin.close()


def test_protocol_headers(gateway, sink):
    standin = RspamdStandin()
    try:
        g = gateway({"spam": "annotate", "rspamd_url": standin.url + "/"})
        assert g.send(CLEAN, rcpts=("bob@ours.test", "carol+x@ours.test"))[0] == 250
        p, = posted(sink)
        path, _, body = standin.requests[0]
        h = standin.headers_of(0)
        get = lambda n: [v for k, v in h if k.lower() == n.lower()]  # noqa: E731
        assert path == "/checkv2"
        assert get("IP") == ["127.0.0.1"]
        assert get("Helo") == ["client.sender.test"]
        assert get("From") == ["<alice@sender.test>"]
        assert get("Rcpt") == ["<bob@ours.test>", "<carol+x@ours.test>"]
        assert get("Queue-Id") == [p["id"]]
        assert get("MTA-Name") == ["mx.ours.test"]
        assert get("User") == [] and get("Password") == []
        assert body == CLEAN  # the message as received, no trace fields of ours
        assert p["spam"]["action"] == "no action"
        assert [s["name"] for s in p["spam"]["symbols"]] == ["R_STANDIN", "MIME_GOOD"]
    finally:
        standin.close()


@pytest.mark.parametrize("answer,status", [
    (b"not json", 200),
    ({"score": 1.0, "action": "obliterate"}, 200),  # an action we do not know: fail closed
    ({"error": "internal"}, 500),
])
def test_nonsense_answer_is_a_failure(gateway, sink, answer, status):
    standin = RspamdStandin(answer=answer, status=status)
    try:
        g = gateway({"spam": "enforce", "rspamd_url": standin.url, "spam_failure": "tempfail"})
        code, text = g.send(CLEAN)
        assert (code, text[:5]) == (451, b"4.7.1"), text
        assert sink.requests == []
    finally:
        standin.close()


@pytest.mark.parametrize("action,code", [
    ("soft reject", 451), ("greylist", 451), ("add header", 250), ("rewrite subject", 250),
    ("no action", 250)])
def test_enforce_mapping(gateway, sink, action, code):
    answer = {"score": 7.0, "required_score": 15.0, "action": action, "symbols": {},
              "subject": "[SPAM] hello"}
    standin = RspamdStandin(answer=answer)
    try:
        g = gateway({"spam": "enforce", "rspamd_url": standin.url})
        got, text = g.send(CLEAN)
        assert got == code, text
        if code == 451:
            assert text.startswith(b"4.7.1 ")
            g.stop()
            assert "spam_deferred=1" in g.log()
            return
        p, = posted(sink)
        assert p["spam"]["action"] == action
        want = "[SPAM] hello" if action == "rewrite subject" else "hello"
        assert fields_of(p, "Subject") == [want]
        assert p["message"]["subject"] == want
    finally:
        standin.close()


def test_add_headers_bounded_and_checked(gateway, sink):
    """Fields rspamd asks for: a folded one is kept, a name or value that could inject
    fields of its own is left out, and max_headers bounds the count."""
    add = {"X-Folded": {"value": "a;\n\tb", "order": 0},
           "X-Evil": "x\r\nBcc: victim@example.com",
           "Bad Name": "y",
           "X-List": ["one", {"value": "two"}, "three"]}
    answer = {"score": 1.0, "required_score": 15.0, "action": "add header", "symbols": {},
              "milter": {"add_headers": add}}
    standin = RspamdStandin(answer=answer)
    try:
        g = gateway({"spam": "annotate", "rspamd_url": standin.url, "max_headers": 3})
        assert g.send(CLEAN)[0] == 250
        p, = posted(sink)
        assert fields_of(p, "X-Evil") == [] and fields_of(p, "Bcc") == []
        assert fields_of(p, "Bad Name") == []
        assert [v.replace("\t", " ").replace("  ", " ") for v in fields_of(p, "X-Folded")] \
            in (["a; b"], ["a;  b"], ["a;\tb"], ["a;b"], ["a; \tb"])
        assert fields_of(p, "X-List") == ["one", "two"]
    finally:
        standin.close()


def test_symbols_bounded(gateway, sink):
    syms = {f"S{i:03d}": {"name": f"S{i:03d}", "score": float(i),
                          "options": ["o" * 100, "p", "q"]} for i in range(50)}
    answer = {"score": 99.0, "required_score": 15.0, "action": "add header", "symbols": syms}
    standin = RspamdStandin(answer=answer)
    try:
        g = gateway({"spam": "annotate", "rspamd_url": standin.url, "max_symbols": 5,
                     "max_options": 2, "max_option_length": 16})
        assert g.send(CLEAN)[0] == 250
        p, = posted(sink)
        jsonschema.validate(p, SCHEMA)
        s = p["spam"]
        assert s["truncated"] is True
        assert [x["name"] for x in s["symbols"]] == ["S049", "S048", "S047", "S046", "S045"]
        assert s["symbols"][0]["options"] == ["o" * 16, "p"]
    finally:
        standin.close()


def test_reply_too_long_is_a_failure(gateway, sink):
    answer = {"score": 1.0, "required_score": 15.0, "action": "no action",
              "symbols": {}, "padding": "z" * 20000}
    standin = RspamdStandin(answer=answer)
    try:
        g = gateway({"spam": "annotate", "rspamd_url": standin.url, "max_reply_size": "4KB"})
        assert g.send(CLEAN)[0] == 250
        p, = posted(sink)
        assert p["spam"] is None
        w, = [w for w in p["warnings"] if w["code"] == "spam_check_failed"]
        assert "max_reply_size" in w["message"]
    finally:
        standin.close()


def test_too_large_is_skipped_not_failed(gateway, sink):
    standin = RspamdStandin()
    try:
        g = gateway({"spam": "enforce", "rspamd_url": standin.url, "max_size": "1KB",
                     "spam_failure": "tempfail"})
        assert g.send(message("x" * 2000))[0] == 250
        p, = posted(sink)
        assert p["spam"] is None and standin.requests == []
        assert [w["code"] for w in p["warnings"] if w["code"].startswith("spam_")] == \
            ["spam_check_skipped"]
        g.stop()
        assert re.search(r"spam_check_skipped=1\b", g.log())
    finally:
        standin.close()


def test_spam_check_overlaps_sender_authentication(gateway, sink, dns_server):
    """DMARC waits for a DNS answer that never comes ([dns] timeout 2s): rspamd has the
    message before sender authentication has its results, so the two waits overlap."""
    dns = dns_server({"example.com": [("TXT", "v=spf1 ip4:127.0.0.1 -all")]},
                     timeout={"_dmarc.example.com"})
    standin = RspamdStandin()
    try:
        auth = ["[auth]", 'spf = "annotate"', 'dkim = "annotate"', 'dmarc = "annotate"',
                'arc = "annotate"', 'timeout = "20s"',
                "[dns]", f'servers = ["{dns.address}"]', 'timeout = "2s"', "tries = 1"]
        g = gateway({"spam": "annotate", "rspamd_url": standin.url}, auth=auth)
        msg = CLEAN.replace(b"alice@sender.test", b"alice@example.com")
        result = []
        t = threading.Thread(target=lambda: result.append(g.send(msg, sender="alice@example.com")))
        t.start()
        assert wait_for(lambda: standin.requests, 10)
        assert "auth mx.ours.test" not in g.log()  # DMARC still waits: rspamd runs beside it
        t.join(30)
        assert result[0][0] == 250, result
        p, = posted(sink)
        assert p["spam"]["action"] == "no action"
        assert p["auth"]["dmarc"]["result"] == "temperror"
        assert "auth mx.ours.test" in g.log()
    finally:
        standin.close()


def test_provider_formats_carry_the_verdict(gateway, sink):
    """Postmark's X-Spam-* headers and SendGrid's spam_score / spam_report."""
    standin = RspamdStandin()
    try:
        g = gateway({"spam": "annotate", "rspamd_url": standin.url}, route={"format": "postmark"})
        assert g.send(CLEAN)[0] == 250
        p, = posted(sink)
        h = {x["Name"]: x["Value"] for x in p["Headers"]}
        assert h["X-Spam-Checker-Version"] == "rspamd"
        assert (h["X-Spam-Status"], h["X-Spam-Score"]) == ("No", "0.50")
        assert h["X-Spam-Tests"] == "R_STANDIN,MIME_GOOD"
        g.stop()
        sink.requests.clear()
        g = gateway({"spam": "annotate", "rspamd_url": standin.url}, route={"format": "sendgrid"})
        assert g.send(CLEAN)[0] == 250
        assert wait_for(lambda: sink.requests, 20)
        body = sink.requests[0].body
        assert b'name="spam_score"\r\n\r\n0.500\r\n' in body
        assert b'name="spam_report"' in body and b"R_STANDIN" in body
    finally:
        standin.close()


def test_provider_formats_without_verdict(gateway, sink):
    g = gateway({"spam": "off"}, route={"format": "sendgrid"})
    assert g.send(CLEAN)[0] == 250
    assert wait_for(lambda: sink.requests, 20)
    assert b'name="spam_score"' not in sink.requests[0].body


def test_reload_to_another_rspamd_closes_the_breaker(gateway, sink):
    """A dead rspamd_url opens the breaker (probe: 1h); SIGHUP with a working one: the
    next message is checked at once, the old rspamd's failures do not count."""
    standin = RspamdStandin()
    try:
        dead = f"http://127.0.0.1:{free_port()}"
        g = gateway({"spam": "annotate", "rspamd_url": dead, "circuit_breaker_threshold": 1,
                     "circuit_breaker_probe": "1h", "connect_timeout": "1s"})
        assert g.send(CLEAN)[0] == 250
        assert "spam: circuit breaker open" in g.log()
        g.cfg.write_text(g.cfg.read_text().replace(dead, standin.url))
        g.proc.send_signal(signal.SIGHUP)
        assert wait_for(lambda: "configuration reloaded" in g.log(), 10)
        assert g.send(CLEAN)[0] == 250
        ps = posted(sink, 2)
        assert ps[0]["spam"] is None and ps[1]["spam"]["action"] == "no action"
        assert len(standin.requests) == 1
    finally:
        standin.close()
