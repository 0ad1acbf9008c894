"""Webhook delivery against a real HTTP(S) sink.

Runs the webhook-post driver (tests/webhook/webhook_post.c: delivery_submit
on a libevent loop) against webhook_sink.Sink and checks the SMTP reply of
every row of the HTTP-to-SMTP table, the Standard Webhooks signatures
(verified here with hmac / cryptography, independently of the C code), the
deterministic id, keep-alive, max_in_flight, retries, the circuit breaker,
the app's reply override, sanitising, redirects, TLS, and forgetting.
"""
import base64
import hashlib
import hmac
import json
import pathlib
import re
import subprocess
import time

import pytest

import gwdaemon
from gwpaths import free_port
from webhook_sink import Action, H2Sink, Sink, make_pki, server_context

HERE = pathlib.Path(__file__).resolve().parent
DATA = HERE / "data"
EML = DATA / "simple.eml"
REPLY = re.compile(r"^(?:(\d+): )?(\d{3}) (\d\.\d{1,3}\.\d{1,3}) (.*)$")
SECRET = "whsec_" + base64.b64encode(b"smtp-gateway test secret 0123456789").decode()
SECRET2 = "whsec_" + base64.b64encode(b"the second, rotated-in secret!!").decode()
FAST = ["--retry-budget-ms", "0", "--timeout-ms", "3000", "--connect-timeout-ms", "2000"]


def clean_env():
    env = gwdaemon.clean_env()
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1")  # an ASan build fails on any leak
    env.setdefault("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")
    return env


def post(driver, url, *args, eml=EML, timeout=90):
    cmd = [str(driver), *(["--url", url] if url else []), *args, str(eml)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=clean_env())
    assert p.returncode == 0, f"rc={p.returncode}\nstdout={p.stdout}\nstderr={p.stderr}"
    replies = []
    for line in p.stdout.splitlines():
        m = REPLY.match(line)
        assert m, f"not a reply line: {line!r}"
        replies.append((int(m.group(2)), m.group(3), m.group(4)))
    return replies, p.stderr


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


def table_cases():
    for line in (DATA / "reply_table.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            answer, code, status = line.split()
            yield pytest.param(answer, int(code), status, id=answer)


@pytest.mark.parametrize("answer,code,status", list(table_cases()))
def test_reply_table(driver, sink, answer, code, status):
    url = sink.url()
    if answer == "refused":
        url = f"http://127.0.0.1:{free_port()}/hook"
    elif answer in ("hang", "close", "close_mid"):
        sink.default = Action(200, b'{"ok": true}', mode=answer)
    else:
        sink.default = Action(int(answer), b"", {"Location": sink.url("/elsewhere")})
    timeout = ["--timeout-ms", "700"] if answer == "hang" else []
    replies, _ = post(driver, url, "--format", "raw", *FAST, *timeout)
    assert [(c, s) for c, s, _ in replies] == [(code, status)]
    if code != 250:
        assert "msg_" not in replies[0][2]
    if answer not in ("refused",):
        assert len(sink.requests) == 1  # no retry with a zero budget, no redirect followed


def verify_hmac(secret, msg_id, ts, body, sig):
    key = base64.b64decode(secret.split("_", 1)[1])
    mac = hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    return hmac.compare_digest(sig, "v1," + base64.b64encode(mac).decode())


def test_signature_hmac_two_secrets(driver, sink):
    replies, _ = post(driver, sink.url(), "--format", "raw", "--secret", SECRET, "--secret",
                      SECRET2, *FAST)
    (code, _, text), = replies
    assert code == 250
    r = sink.requests[0]
    msg_id, ts = r.headers["webhook-id"], r.headers["webhook-timestamp"]
    sigs = r.headers["webhook-signature"].split(" ")
    assert len(sigs) == 2
    assert verify_hmac(SECRET, msg_id, ts, r.body, sigs[0])
    assert verify_hmac(SECRET2, msg_id, ts, r.body, sigs[1])
    assert not verify_hmac(SECRET, msg_id, str(int(ts) + 1), r.body, sigs[0])
    assert abs(int(ts) - time.time()) < 60
    assert r.headers["Idempotency-Key"] == msg_id
    assert msg_id in text
    assert re.fullmatch(r"msg_[0-9a-f]{32}", msg_id)
    assert r.body.startswith(b"X-Gateway-Envelope: ")  # signed with the message
    assert r.body.endswith(b"\r\n" + EML.read_bytes())
    assert r.headers["User-Agent"].startswith("smtp-gateway/")


def test_signature_ed25519(driver, sink):
    ed = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.ed25519")
    from cryptography.hazmat.primitives import serialization
    key = ed.Ed25519PrivateKey.generate()
    seed = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                             serialization.NoEncryption())
    pub = key.public_key()
    pub_raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    for secret in ("whsk_" + base64.b64encode(seed).decode(),
                   "whsk_" + base64.b64encode(seed + pub_raw).decode()):
        sink.requests.clear()
        replies, _ = post(driver, sink.url(), "--format", "raw", "--secret", secret, *FAST)
        assert replies[0][0] == 250
        r = sink.requests[0]
        scheme, sig = r.headers["webhook-signature"].split(",", 1)
        assert scheme == "v1a"
        signed = f"{r.headers['webhook-id']}.{r.headers['webhook-timestamp']}.".encode() + r.body
        pub.verify(base64.b64decode(sig), signed)  # raises when it does not verify


def test_bad_secret_is_a_setup_error(driver, sink):
    replies, err = post(driver, sink.url(), "--secret", "whsec_not base64!", *FAST)
    assert replies == [(451, "4.3.0", "Delivery could not be set up")]
    assert "secret" in err
    assert not sink.requests


def test_deterministic_id(driver, sink, tmp_path):
    def one(*args, eml=EML):
        replies, _ = post(driver, sink.url(), "--format", "raw", *FAST, *args, eml=eml)
        assert replies[0][0] == 250
        return sink.requests[-1].headers["webhook-id"]

    base = one("--rcpt", "a@example.test", "--rcpt", "b@example.test")
    # a sender retrying after a lost connection: new port, new IP, new HELO, same id
    assert one("--rcpt", "b@example.test", "--rcpt", "a@example.test", "--client-ip",
               "198.51.100.7", "--helo", "other.test") == base
    assert one("--rcpt", "a@example.test") != base
    assert one("--rcpt", "a@example.test", "--rcpt", "b@example.test", "--from",
               "x@sender.test") != base
    other = tmp_path / "other.eml"
    other.write_bytes(EML.read_bytes() + b"one more line\r\n")
    assert one("--rcpt", "a@example.test", "--rcpt", "b@example.test", eml=other) != base
    assert one("--rcpt", "a@example.test", "--rcpt", "b@example.test",
               "--route-name", "another") != base


def test_keepalive_sequential(driver, sink):
    replies, _ = post(driver, sink.url(), "--count", "6", *FAST)
    assert [c for c, _, _ in replies] == [250] * 6
    assert len(sink.requests) == 6
    assert sink.connections == 1


@pytest.mark.parametrize("reload", [False, True], ids=["steady", "set_config"])
def test_max_in_flight_queues(driver, sink, reload):
    sink.default = Action(200, delay=0.3)
    replies, _ = post(driver, sink.url(), "--format", "raw", "--count", "6", "--concurrent",
                      "--max-in-flight", "2", *FAST, *(["--reconfigure"] if reload else []))
    assert sorted(c for c, _, _ in replies) == [250] * 6
    assert sink.max_active == 2
    assert sink.connections <= 2  # the two slots reuse their connections


def test_max_in_flight_one_keeps_one_connection(driver, sink):
    replies, _ = post(driver, sink.url(), "--format", "raw", "--count", "4", "--concurrent",
                      "--max-in-flight", "1", *FAST)
    assert [c for c, _, _ in replies] == [250] * 4
    assert sink.max_active == 1
    assert sink.connections == 1


def test_queue_wait_is_bounded(driver, sink):
    # one slot, a slow app, a 1s budget: the third message cannot get a turn in time
    sink.default = Action(200, delay=0.55)
    replies, _ = post(driver, sink.url(), "--format", "raw", "--count", "3", "--concurrent",
                      "--max-in-flight", "1", "--timeout-ms", "1000", "--retry-budget-ms", "0")
    codes = sorted((c, s) for c, s, _ in replies)
    assert codes == [(250, "2.0.0"), (451, "4.4.2"), (451, "4.4.2")]
    assert len(sink.requests) == 2  # the third never had the time for a useful attempt


def test_retry_then_success(driver, sink):
    sink.plan = [Action(503), Action(502), Action(504)]
    replies, _ = post(driver, sink.url(), "--format", "raw", "--secret", SECRET,
                      "--retry-budget-ms", "20000", "--breaker", "0")
    assert replies[0][0] == 250
    assert len(sink.requests) == 4
    ids = {r.headers["webhook-id"] for r in sink.requests}
    assert len(ids) == 1  # the id stays, each attempt is signed afresh
    for r in sink.requests:
        assert verify_hmac(SECRET, r.headers["webhook-id"], r.headers["webhook-timestamp"],
                           r.body, r.headers["webhook-signature"])


def test_retry_budget_runs_out(driver, sink):
    sink.default = Action(503)
    t0 = time.monotonic()
    replies, _ = post(driver, sink.url(), "--format", "raw", "--retry-budget-ms", "1500",
                      "--timeout-ms", "1000", "--breaker", "0")
    elapsed = time.monotonic() - t0
    assert [(c, s) for c, s, _ in replies] == [(451, "4.3.0")]
    assert len(sink.requests) >= 2
    assert elapsed < 30  # bounded: a correctness bound, not a speed measurement


def test_no_retry_for_permanent_answers(driver, sink):
    sink.default = Action(500)
    replies, _ = post(driver, sink.url(), "--retry-budget-ms", "5000", "--breaker", "0")
    assert replies[0][:2] == (451, "4.3.0")
    assert len(sink.requests) == 1


def test_refused_is_retried_then_451(driver):
    url = f"http://127.0.0.1:{free_port()}/hook"
    replies, err = post(driver, url, "--retry-budget-ms", "1200", "--breaker", "0")
    assert replies[0][:2] == (451, "4.4.1")
    assert err.count("attempt ") >= 2


def test_retry_after_reflected(driver, sink):
    sink.default = Action(429, headers={"Retry-After": "120"})
    replies, _ = post(driver, sink.url(), "--retry-budget-ms", "5000")
    assert replies[0][:2] == (451, "4.7.0")
    assert "retry after 120 seconds" in replies[0][2]
    assert len(sink.requests) == 1


@pytest.mark.parametrize("reload", [False, True], ids=["steady", "set_config"])
def test_circuit_breaker_opens_and_probe_closes(driver, sink, reload):
    # "set_config": delivery_set_config() before each message must keep the breaker state
    sink.plan = [Action(503), Action(503)]
    replies, err = post(driver, sink.url(), "--format", "raw", "--retry-budget-ms", "0",
                        "--breaker", "2", "--probe-ms", "800", "--count", "8",
                        "--interval-ms", "200", *(["--reconfigure"] if reload else []))
    codes = [(c, s) for c, s, _ in replies]
    assert codes[:2] == [(451, "4.3.0"), (451, "4.3.0")]
    open_replies = [t for _, _, t in replies if t.startswith("Circuit open")]
    assert open_replies, codes
    assert codes[-1] == (250, "2.0.0")
    # every message the breaker let through reached the app; the refused ones did not
    assert len(sink.requests) == 8 - len(open_replies)
    assert "circuit breaker open" in err and "circuit breaker closed" in err


def test_breaker_stops_retries(driver):
    url = f"http://127.0.0.1:{free_port()}/hook"
    replies, err = post(driver, url, "--retry-budget-ms", "20000", "--breaker", "2",
                        "--probe-ms", "60000", "--count", "2")
    assert [(c, s) for c, s, _ in replies] == [(451, "4.4.1"), (451, "4.3.0")]
    assert err.count("attempt ") == 2  # the breaker opened after two, ending the retries


def test_app_override_body(driver, sink):
    body = {"smtp": {"code": 550, "status": "5.1.2", "message": "No such ticket\r\n250 ok"}}
    sink.default = Action(404, body, {"Content-Type": "application/json"})
    replies, _ = post(driver, sink.url(), *FAST)
    assert replies == [(550, "5.1.2", "No such ticket 250 ok")]


def test_app_override_must_keep_class(driver, sink):
    sink.default = Action(500, {"smtp": {"code": 250, "message": "all good"}})
    replies, _ = post(driver, sink.url(), *FAST)
    assert replies[0][:2] == (451, "4.3.0")
    sink.default = Action(200, {"smtp": {"code": 550, "message": "no"}})
    replies, _ = post(driver, sink.url(), *FAST)
    assert replies[0][:2] == (250, "2.0.0")


def test_app_override_2xx_words(driver, sink):
    sink.default = Action(200, {"smtp": {"code": 250, "message": "Ticket 42 opened"}})
    replies, _ = post(driver, sink.url(), "--format", "raw", *FAST)
    (code, status, text), = replies
    assert (code, status) == (250, "2.0.0")
    assert text.startswith("Ticket 42 opened (msg_")


def test_route_override(driver, sink):
    sink.default = Action(404)
    replies, _ = post(driver, sink.url(), "--reply", "404=550 5.1.1 No such ticket",
                      "--reply", "5xx=250 2.0.0 never", *FAST)
    assert replies == [(550, "5.1.1", "No such ticket")]
    sink.default = Action(500)
    replies, _ = post(driver, sink.url(), "--reply", "5xx=250 2.0.0 never", *FAST)
    assert replies[0][:2] == (451, "4.3.0")  # an override cannot make a failure a 250


def test_reply_text_sanitised(driver, sink):
    msg = "x" * 150 + "\r\nINJECTED\x00\x1b[31m caf\u00e9 " + "y" * 400
    sink.default = Action(403, {"smtp": {"code": 550, "status": "5.7.1", "message": msg}})
    replies, _ = post(driver, sink.url(), *FAST)
    (code, status, text), = replies
    assert (code, status) == (550, "5.7.1")
    assert len(text) <= 200
    assert all(0x20 <= ord(ch) < 0x7F for ch in text)
    assert text.startswith("x" * 150 + " INJECTED")


def test_large_response_body_is_capped(driver, sink):
    sink.default = Action(200, b"z" * (3 * 1024 * 1024))
    replies, _ = post(driver, sink.url(), *FAST)
    assert replies[0][:2] == (250, "2.0.0")


def test_redirect_not_followed(driver, sink):
    sink.default = Action(302, headers={"Location": sink.url("/moved")})
    replies, err = post(driver, sink.url(), *FAST)
    assert replies[0][:2] == (451, "4.3.0")
    assert [r.path for r in sink.requests] == ["/hook"]
    assert "redirect" in err and "/moved" in err


def test_never_250_without_2xx(driver, sink):
    faults = [Action(s) for s in (300, 304, 400, 404, 500, 503, 599)]
    faults += [Action(200, b"ok", mode="close_mid"), Action(200, mode="close")]
    for a in faults:
        sink.default = a
        replies, _ = post(driver, sink.url(), "--format", "raw", *FAST)
        assert replies[0][0] != 250, (a.status, a.mode, replies)


def test_raw_headers(driver, sink):
    auth = '{"spf":{"result":"pass"},"dkim":[]}'
    replies, _ = post(driver, sink.url(), "--format", "raw", "--from", "s@sender.test",
                      "--rcpt", "a@example.test", "--rcpt", "b@example.test", "--helo",
                      "mx.sender.test\r\nX-Evil: 1", "--client-ip", "203.0.113.9",
                      "--auth-json", auth, "--header", "X-Team: support", "--header",
                      "webhook-id: forged", "--bearer", "tok123", *FAST)
    assert replies[0][0] == 250
    h = sink.requests[0].headers
    assert h["Content-Type"] == "message/rfc822"
    assert h["X-Gateway-Mail-From"] == "s@sender.test"
    assert h.get_all("X-Gateway-Rcpt-To") == ["a@example.test", "b@example.test"]
    assert h["X-Gateway-Client-Ip"] == "203.0.113.9"
    assert "X-Evil" not in h and "\n" not in h["X-Gateway-Helo"]
    assert h["X-Gateway-Helo"].startswith("mx.sender.test")
    assert json.loads(h["X-Gateway-Auth"]) == json.loads(auth)
    env = json.loads(h["X-Gateway-Envelope"])
    assert env["rcpt_to"] == ["a@example.test", "b@example.test"]
    assert h["X-Team"] == "support"
    assert h.get_all("webhook-id") == [h["Idempotency-Key"]]  # not forgeable by a route header
    assert h["Authorization"] == "Bearer tok123"
    assert "Expect" not in h


def test_basic_auth(driver, sink):
    replies, _ = post(driver, sink.url(), "--basic", "gw:s3cret", *FAST)
    assert replies[0][0] == 250
    want = "Basic " + base64.b64encode(b"gw:s3cret").decode()
    assert sink.requests[0].headers["Authorization"] == want


def test_null_sender(driver, sink):
    replies, _ = post(driver, sink.url(), "--format", "raw", "--from", "", *FAST)
    assert replies[0][0] == 250
    assert sink.requests[0].headers["X-Gateway-Mail-From"] == ""


def test_json_format(driver, sink):
    replies, err = post(driver, sink.url(), "--format", "json", "--secret", SECRET, *FAST)
    if replies[0] == (451, "4.3.0", "Delivery could not be set up"):
        pytest.fail("the json payload could not be built: " + err)
    assert replies[0][0] == 250
    r = sink.requests[0]
    assert r.headers["Content-Type"] == "application/json"
    payload = json.loads(r.body)
    assert payload.get("id") == r.headers["webhook-id"]
    assert verify_hmac(SECRET, r.headers["webhook-id"], r.headers["webhook-timestamp"], r.body,
                       r.headers["webhook-signature"])


def test_https_verified(driver, pki):
    s = Sink(tls=server_context(pki))
    try:
        replies, _ = post(driver, s.url(), "--ca-file", str(pki / "ca.pem"), "--count", "3",
                          *FAST)
        assert [c for c, _, _ in replies] == [250] * 3
        assert s.connections == 1
        replies, _ = post(driver, s.url(), *FAST)  # our CA is not in the system store
        assert replies[0][:2] == (451, "4.4.1")
        replies, _ = post(driver, s.url(), "--insecure", *FAST)
        assert replies[0][:2] == (250, "2.0.0")
        replies, _ = post(driver, s.url(host="localhost"), "--ca-file", str(pki / "ca.pem"),
                          *FAST)
        assert replies[0][:2] == (250, "2.0.0")
    finally:
        s.close()


def test_https_client_certificate(driver, pki):
    s = Sink(tls=server_context(pki, require_client_cert=True))
    try:
        replies, _ = post(driver, s.url(), "--ca-file", str(pki / "ca.pem"), *FAST)
        assert replies[0][:2] != (250, "2.0.0")
        assert replies[0][0] == 451
        replies, _ = post(driver, s.url(), "--ca-file", str(pki / "ca.pem"), "--client-cert",
                          str(pki / "client.pem"), "--client-key", str(pki / "client.key"),
                          *FAST)
        assert replies[0][:2] == (250, "2.0.0")
    finally:
        s.close()


def test_forget_in_flight(driver, sink):
    sink.default = Action(200, delay=1.0)
    replies, err = post(driver, sink.url(), "--count", "3", "--concurrent", "--max-in-flight",
                        "1", "--forget-after-ms", "200", *FAST)
    assert replies == []  # forgotten cookies never report
    assert "forgot all, 1 in flight" in err  # the running one completes, the queued ones go
    assert len(sink.requests) == 1


def test_free_in_flight(driver, sink):
    sink.default = Action(mode="hang")
    replies, err = post(driver, sink.url(), "--count", "2", "--concurrent", "--free-after-ms",
                        "300", *FAST)
    assert replies == []
    assert "freeing with 2 in flight" in err


def test_route_from_gateway_toml(driver, sink, tmp_path):
    """The route, its secret and its reply overrides as config_load() reads them."""
    cfg = tmp_path / "gateway.toml"
    cfg.write_text(f'''
[webhook]
timeout = "5s"
retry_budget = "0"
format = "raw"

[[route]]
name = "tickets"
match = "*@example.test"
url = "{sink.url('/inbound')}"
secret = "{SECRET}"
headers = {{ "X-Team" = "support" }}
replies = {{ "404" = "550 5.1.1 No such ticket" }}
''')
    replies, _ = post(driver, "", "--config", str(cfg), "--rcpt", "hello@example.test")
    assert replies[0][:2] == (250, "2.0.0")
    r = sink.requests[0]
    assert r.path == "/inbound" and r.headers["X-Team"] == "support"
    assert r.headers["X-Gateway-Route"] == "tickets"
    assert verify_hmac(SECRET, r.headers["webhook-id"], r.headers["webhook-timestamp"], r.body,
                       r.headers["webhook-signature"])
    sink.default = Action(404)
    replies, _ = post(driver, "", "--config", str(cfg), "--rcpt", "hello@example.test")
    assert replies == [(550, "5.1.1", "No such ticket")]


def test_http2_multiplexed(driver, pki):
    """HTTP/2 when the server offers it (ALPN): concurrent messages share one connection."""
    pytest.importorskip("h2")
    s = H2Sink(pki, delay=0.3)
    try:
        replies, err = post(driver, s.url(), "--ca-file", str(pki / "ca.pem"), "--format",
                            "raw", "--secret", SECRET, "--count", "5", "--concurrent", *FAST)
        assert sorted(c for c, _, _ in replies) == [250] * 5, err
        assert s.alpn == ["h2"]
        assert s.connections == 1
        assert s.max_active > 1  # streams in flight at once on the one connection
        headers, body = s.requests[0]
        assert body.endswith(b"\r\n" + EML.read_bytes())
        assert verify_hmac(SECRET, headers["webhook-id"], headers["webhook-timestamp"], body,
                           headers["webhook-signature"])
    finally:
        s.close()
