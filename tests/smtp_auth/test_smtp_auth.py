"""Sender authentication in the running daemon, end to end with real parts:
build/gateway/smtp-gateway (the real webhook delivery), tests/dnsserver.py
serving SPF, DKIM and DMARC records on loopback ([dns] servers points at it),
messages signed live with python3-dkim, smtplib as the client, and a local
HTTP server as the webhook that keeps every request it got.

What is checked: the payload's auth object, the replies under enforce (MAIL,
RCPT, end of data), the Authentication-Results field in the delivered
message (forged ones with our authserv-id removed, foreign ones kept), a
stable delivery id, no DNS query at all when every policy is off, and a
client that goes away while its checks run."""
import json
import signal
import socket
import struct
import threading
import time

import dkim
import pytest

from dnsserver import dns_server  # noqa: F401 (fixture)
from gwdaemon import GATEWAY as DAEMON
from gwdaemon import Gateway
from webhook_sink import Sink

HOST = "mx.test"

pytestmark = pytest.mark.skipif(not DAEMON.exists(), reason="daemon not built")

BODY = (b"From: Alice <alice@example.com>\r\n"
        b"To: bob@ours.test\r\n"
        b"Subject: quarterly numbers\r\n"
        b"Message-ID: <1@example.com>\r\n"
        b"\r\n"
        b"The numbers are in.\r\n")


def zone(pub, dmarc="v=DMARC1; p=none"):
    return {
        "example.com": [("TXT", "v=spf1 ip4:127.0.0.1 -all")],
        "fail.test": [("TXT", "v=spf1 ip4:192.0.2.1 -all")],
        "soft.test": [("TXT", "v=spf1 ~all")],
        "helo.test": [("TXT", "v=spf1 ip4:127.0.0.1 -all")],
        "sel._domainkey.example.com": [("TXT", f"v=DKIM1; k=rsa; p={pub}")],
        "_dmarc.example.com": [("TXT", dmarc)],
        "arc._domainkey.forwarder.test": [("TXT", f"v=DKIM1; k=rsa; p={pub}")],
    }


def sign(msg, priv, domain=b"example.com", selector=b"sel"):
    return dkim.sign(msg, selector, domain, priv,
                     include_headers=[b"from", b"to", b"subject", b"message-id"]) + msg


def auth_config(dns, hook, auth, routes, limits, dns_timeout="1s"):
    """gateway.toml (a function of the listener's port) with [dns] on dns_server."""
    def config(port):
        return {"server": {"hostname": HOST, "workers": 1, "log_level": "debug",
                           "allow_root": True},  # the tests run as root
                "listener": [{"address": f"127.0.0.1:{port}"}],
                "dns": {"servers": [dns.address], "timeout": dns_timeout, "tries": 1},
                "auth": auth, "webhook": {"retry_budget": "0s"}, "limits": limits,
                "route": [{"match": match, "url": hook.url("/hook"), **opts}
                          for match, opts in routes]}
    return config


class Daemon(Gateway):
    def smtp(self):
        s = super().smtp(local_hostname="helo.test", timeout=20)
        s.ehlo()
        return s


@pytest.fixture
def gateway(gateways):
    """gateway(dns, auth={...}, routes=[(match, {opts})], limits={...}) -> (Daemon, Sink).
    dns_timeout is [dns] timeout (c-ares' own wait, before [auth] timeout)."""
    def start(dns, auth=None, routes=None, limits=None, dns_timeout="1s"):
        hook = Sink()
        gateways.add_cleanup(hook.close)
        pol = {"spf": "annotate", "dkim": "annotate", "dmarc": "annotate", "arc": "annotate"}
        pol.update(auth or {})
        config = auth_config(dns, hook, pol, routes or [("*@ours.test", {})], limits or {},
                             dns_timeout)
        return gateways.start(config, daemon=Daemon, timeout=10), hook

    return start


def wait_posts(hook, n, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if len(hook.requests) >= n:
            return hook.payloads()
        time.sleep(0.02)
    raise AssertionError(f"{len(hook.requests)} POSTs, wanted {n}")


def header_values(payload, name):
    return [h["value"] for h in payload["message"]["headers"]
            if h["name"].lower() == name.lower()]


def test_spf_results_in_payload(gateway, dns_server, rsa_key):
    dns = dns_server(zone(rsa_key[1]))
    d, hook = gateway(dns)
    with d.smtp() as s:
        for sender in ("alice@example.com", "x@fail.test", "x@soft.test", ""):
            s.sendmail(sender, ["bob@ours.test"], BODY)
    got = wait_posts(hook, 4)
    spf = [p["auth"]["spf"] for p in got]
    assert [x["result"] for x in spf] == ["pass", "fail", "softfail", "pass"]
    assert [x["domain"] for x in spf] == ["example.com", "fail.test", "soft.test", "helo.test"]
    assert spf[3]["identity"] == "helo"  # null reverse-path: the HELO identity (RFC 7208 2.3)
    assert spf[1]["explanation"] is not None
    ar = header_values(got[1], "Authentication-Results")
    assert len(ar) == 1 and ar[0].startswith(f"{HOST};") and "spf=fail" in ar[0]
    assert "smtp.mailfrom=x@fail.test" in ar[0]
    assert got[0]["envelope"]["size"] == len(BODY)


def test_spf_enforce_refuses_at_mail(gateway, dns_server, rsa_key):
    dns = dns_server(zone(rsa_key[1]))
    d, hook = gateway(dns, auth={"spf": "enforce"})
    with d.smtp() as s:
        code, msg = s.mail("x@fail.test")
        assert (code, msg[:6]) == (550, b"5.7.23")
        code, _ = s.mail("x@soft.test")  # softfail is never refused
        assert code == 250
        s.rset()
        assert s.mail("alice@example.com")[0] == 250
        assert s.rcpt("bob@ours.test")[0] == 250
        assert s.data(BODY)[0] == 250
    assert [p["auth"]["spf"]["result"] for p in wait_posts(hook, 1)] == ["pass"]


def test_spf_enforce_pipelined(gateway, dns_server, rsa_key):
    """MAIL waits for SPF; the pipelined RCPT and DATA are answered in order after it."""
    dns = dns_server(zone(rsa_key[1]))
    d, hook = gateway(dns, auth={"spf": "enforce"})
    with socket.create_connection(("127.0.0.1", d.port), timeout=10) as c:
        f = c.makefile("rb")
        assert f.readline().startswith(b"220")
        c.sendall(b"EHLO helo.test\r\n")
        while not f.readline().startswith(b"250 "):
            pass
        c.sendall(b"MAIL FROM:<x@fail.test>\r\nRCPT TO:<bob@ours.test>\r\nDATA\r\n")
        assert f.readline().startswith(b"550 5.7.23")
        assert f.readline().startswith(b"503")  # RCPT without MAIL
        assert f.readline().startswith(b"503")
        c.sendall(b"QUIT\r\n")
        assert f.readline().startswith(b"221")
    assert hook.requests == []


def test_spf_temperror_enforce_is_451_at_mail(gateway, dns_server, rsa_key):
    dns = dns_server(zone(rsa_key[1]), timeout={"example.com"})
    d, hook = gateway(dns, auth={"spf": "enforce"})
    with d.smtp() as s:
        code, msg = s.mail("alice@example.com")
        assert (code, msg[:6]) == (451, b"4.7.24")


def test_spf_route_enforce_refuses_at_rcpt(gateway, dns_server, rsa_key):
    dns = dns_server(zone(rsa_key[1]))
    d, hook = gateway(dns, routes=[("*@strict.test", {"spf": "enforce"}), ("*@ours.test", {})])
    with d.smtp() as s:
        assert s.mail("x@fail.test")[0] == 250  # [auth] spf is annotate: MAIL passes
        code, msg = s.rcpt("a@strict.test")
        assert (code, msg[:6]) == (550, b"5.7.23")
        s.rset()
        s.sendmail("x@fail.test", ["bob@ours.test"], BODY)
        s.sendmail("alice@example.com", ["a@strict.test"], BODY)
    got = wait_posts(hook, 2)
    assert [p["envelope"]["rcpt_to"] for p in got] == [["bob@ours.test"], ["a@strict.test"]]
    assert got[0]["auth"]["spf"]["result"] == "fail"


def test_dkim_pass_and_tampered(gateway, dns_server, rsa_key):
    priv, pub = rsa_key
    dns = dns_server(zone(pub))
    d, hook = gateway(dns)
    signed = sign(BODY, priv)
    with d.smtp() as s:
        s.sendmail("alice@example.com", ["bob@ours.test"], signed)
        s.sendmail("alice@example.com", ["bob@ours.test"],
                   signed.replace(b"are in.", b"are out."))
    ok, bad = wait_posts(hook, 2)
    sig = ok["auth"]["dkim"][0]
    assert (sig["result"], sig["domain"], sig["selector"], sig["aligned"]) == \
        ("pass", "example.com", "sel", True)
    assert ok["auth"]["dmarc"]["result"] == "pass"
    assert bad["auth"]["dkim"][0]["result"] == "fail"
    assert "dkim=fail" in header_values(bad, "Authentication-Results")[0]


def test_dmarc_reject_enforce_550_at_end_of_data(gateway, dns_server, rsa_key):
    priv, pub = rsa_key
    dns = dns_server(zone(pub, "v=DMARC1; p=reject"))
    d, hook = gateway(dns, auth={"dmarc": "enforce"})
    with d.smtp() as s:
        assert s.mail("x@fail.test")[0] == 250
        assert s.rcpt("bob@ours.test")[0] == 250
        code, msg = s.data(BODY)  # From example.com, SPF for fail.test, no signature
        assert (code, msg[:5]) == (550, b"5.7.1")
        s.sendmail("x@fail.test", ["bob@ours.test"], sign(BODY, priv))  # DKIM aligns
    got = wait_posts(hook, 1)
    time.sleep(0.3)
    assert len(hook.requests) == 1
    assert got[0]["auth"]["dmarc"]["result"] == "pass"


def test_dmarc_enforce_refuses_unreadable_from(gateway, dns_server, rsa_key):
    """Issue 10: an author DMARC cannot check (5 author domains; an address the
    From parser cannot read with certainty) is permerror, refused under
    enforce even though the message carries an aligned DKIM signature for one
    author; a readable From with a long display name is judged as usual."""
    priv, pub = rsa_key
    dns = dns_server(zone(pub, "v=DMARC1; p=reject"))
    d, hook = gateway(dns, auth={"dmarc": "enforce"})
    many = BODY.replace(b"From: Alice <alice@example.com>",
                        b"From: alice@example.com, a@x1.test, a@x2.test, a@x3.test, a@x4.test")
    broken = BODY.replace(b"From: Alice <alice@example.com>",
                          b"From: a@x1.test alice@example.com")
    long_name = BODY.replace(b"From: Alice", b"From: " + b"A" * 600)
    with d.smtp() as s:
        for msg in (many, broken):
            assert s.mail("x@fail.test")[0] == 250
            assert s.rcpt("bob@ours.test")[0] == 250
            code, text = s.data(sign(msg, priv))
            assert (code, text[:5]) == (550, b"5.7.1"), text
        assert s.mail("x@fail.test")[0] == 250
        assert s.rcpt("bob@ours.test")[0] == 250
        code, text = s.data(long_name)  # readable: example.com, p=reject, nothing aligns
        assert (code, text[:5]) == (550, b"5.7.1"), text
        s.sendmail("x@fail.test", ["bob@ours.test"], sign(long_name, priv))
    got = wait_posts(hook, 1)
    time.sleep(0.3)
    assert len(hook.requests) == 1
    assert got[0]["auth"]["dmarc"]["result"] == "pass"


def test_dmarc_permerror_annotate_delivered(gateway, dns_server, rsa_key):
    dns = dns_server(zone(rsa_key[1], "v=DMARC1; p=reject"))
    d, hook = gateway(dns, auth={"dmarc": "annotate"})
    msg = BODY.replace(b"From: Alice <alice@example.com>", b"From: undisclosed")
    with d.smtp() as s:
        s.sendmail("x@fail.test", ["bob@ours.test"], msg)
    p, = wait_posts(hook, 1)
    assert p["auth"]["dmarc"]["result"] == "permerror"
    assert p["auth"]["dmarc"]["reason"] == "From mailbox without a domain"
    assert "dmarc=permerror (From mailbox without a domain)" in \
        p["auth"]["authentication_results"]


def test_dmarc_quarantine_delivered(gateway, dns_server, rsa_key):
    dns = dns_server(zone(rsa_key[1], "v=DMARC1; p=quarantine"))
    d, hook = gateway(dns, auth={"dmarc": "enforce"})
    with d.smtp() as s:
        s.sendmail("x@fail.test", ["bob@ours.test"], BODY)
    p, = wait_posts(hook, 1)
    assert p["auth"]["dmarc"]["result"] == "fail"
    assert p["auth"]["dmarc"]["disposition"] == "quarantine"
    assert "dis=quarantine" in p["auth"]["authentication_results"]


def test_dmarc_dns_timeout_enforce_451(gateway, dns_server, rsa_key):
    dns = dns_server(zone(rsa_key[1], "v=DMARC1; p=reject"), timeout={"_dmarc.example.com"})
    d, hook = gateway(dns, auth={"dmarc": "enforce"})
    with d.smtp() as s:
        s.mail("alice@example.com")
        s.rcpt("bob@ours.test")
        code, msg = s.data(BODY)
        assert (code, msg[:5]) == (451, b"4.7.1")
    assert hook.requests == []


def test_forged_authentication_results(gateway, dns_server, rsa_key):
    dns = dns_server(zone(rsa_key[1]))
    d, hook = gateway(dns, routes=[("*@ours.test", {}), ("*@raw.test", {"format": "raw"})])
    forged = (b"Authentication-Results: MX.TEST; dmarc=pass (forged)\r\n"
              b"Authentication-Results: other.example; spf=pass\r\n"
              b"Authentication-Results: mx.test;\r\n\tdkim=pass header.d=example.com\r\n"
              + BODY)
    with d.smtp() as s:
        s.sendmail("alice@example.com", ["bob@ours.test"], forged)
        s.sendmail("alice@example.com", ["bob@ours.test"], forged)
        s.sendmail("alice@example.com", ["bob@raw.test"], forged)
    wait_posts(hook, 3)
    (h1, b1), (h2, b2), (h3, raw) = hook.pairs()
    p1 = json.loads(b1)
    ar = header_values(p1, "Authentication-Results")
    assert len(ar) == 2, ar
    assert ar[0].startswith(f"{HOST};") and "spf=pass" in ar[0] and "forged" not in ar[0]
    assert ar[1] == "other.example; spf=pass"
    assert p1["envelope"]["size"] == len(forged)  # the octets the client sent
    # the same message again gets the same delivery id, though Received: differs
    assert h1["webhook-id"] == h2["webhook-id"]
    assert raw.startswith(f"Authentication-Results: {HOST};".encode())
    assert raw.count(b"Authentication-Results:") == 2
    assert b"(forged)" not in raw and b"other.example; spf=pass" in raw
    assert b"\r\n\r\nThe numbers are in.\r\n" in raw
    gw_auth = {k.lower(): v for k, v in h3.items()}["x-gateway-auth"]
    assert json.loads(gw_auth)["spf"]["result"] == "pass"
    assert "removed 2 Authentication-Results" in d.log()


def test_arc_chain_result(gateway, dns_server, rsa_key):
    priv, pub = rsa_key
    dns = dns_server(zone(pub))
    d, hook = gateway(dns)
    msg = sign(BODY, priv)
    msg = b"Authentication-Results: forwarder.test; dkim=pass header.d=example.com\r\n" + msg
    sealed = b"".join(dkim.arc_sign(msg, b"arc", b"forwarder.test", priv, b"forwarder.test",
                                    include_headers=[b"from", b"to", b"subject"])) + msg
    with d.smtp() as s:
        s.sendmail("alice@example.com", ["bob@ours.test"], sealed)
        s.sendmail("alice@example.com", ["bob@ours.test"], BODY)
    sealed_p, plain_p = wait_posts(hook, 2)
    assert sealed_p["auth"]["arc"]["result"] == "pass"
    assert sealed_p["auth"]["arc"]["instance"] == 1
    assert "arc=pass" in header_values(sealed_p, "Authentication-Results")[0]
    assert plain_p["auth"]["arc"]["result"] == "none"


def test_auth_off_asks_no_dns(gateway, dns_server, rsa_key):
    priv, pub = rsa_key
    dns = dns_server(zone(pub, "v=DMARC1; p=reject"))
    off = {"spf": "off", "dkim": "off", "dmarc": "off", "arc": "off"}
    d, hook = gateway(dns, auth=off)
    with d.smtp() as s:
        s.sendmail("x@fail.test", ["bob@ours.test"], sign(BODY, priv))
        s.sendmail("", ["bob@ours.test"], BODY)
    got = wait_posts(hook, 2)
    assert dns.queries == []
    assert got[0]["auth"]["spf"] is None and got[0]["auth"]["dkim"] == []
    assert header_values(got[0], "Authentication-Results") == []


def test_route_off_asks_no_dns(gateway, dns_server, rsa_key):
    """[auth] off, one route annotates: only its messages cost queries."""
    dns = dns_server(zone(rsa_key[1]))
    off = {"spf": "off", "dkim": "off", "dmarc": "off", "arc": "off"}
    d, hook = gateway(dns, auth=off, routes=[("*@ours.test", {}),
                                             ("*@checked.test", {"dkim": "annotate"})])
    with d.smtp() as s:
        s.sendmail("alice@example.com", ["bob@ours.test"], BODY)
        assert dns.queries == []
        s.sendmail("alice@example.com", ["bob@checked.test"], sign(BODY, rsa_key[0]))
    got = wait_posts(hook, 2)
    assert got[1]["auth"]["dkim"][0]["result"] == "pass"
    assert [(n.rstrip(".").lower(), t) for _, n, t in dns.queries] == \
        [("sel._domainkey.example.com", "TXT")]


def test_slow_dns_delays_only_its_message(gateway, dns_server, rsa_key):
    """One session waits on a DNS timeout; another is answered meanwhile."""
    dns = dns_server(zone(rsa_key[1]), timeout={"_dmarc.slow.test"})
    d, hook = gateway(dns)
    slow = BODY.replace(b"alice@example.com", b"a@slow.test")
    result = {}

    def send_slow():
        with d.smtp() as s:
            t0 = time.monotonic()
            s.sendmail("alice@example.com", ["bob@ours.test"], slow)
            result["slow"] = time.monotonic() - t0

    t = threading.Thread(target=send_slow)
    t.start()
    time.sleep(0.2)
    with d.smtp() as s:
        t0 = time.monotonic()
        s.sendmail("alice@example.com", ["bob@ours.test"], BODY)
        fast = time.monotonic() - t0
    t.join(timeout=30)
    assert "slow" in result
    assert fast < result["slow"]
    payloads = wait_posts(hook, 2)
    assert payloads[0]["auth"]["dmarc"]["result"] == "pass"
    assert payloads[1]["auth"]["dmarc"]["result"] == "temperror"


def test_client_vanishes_and_rset_cancel(gateway, dns_server, rsa_key):
    """Checks in flight are cancelled: RSET during SPF, a client gone during DMARC."""
    dns = dns_server(zone(rsa_key[1]), timeout={"_dmarc.example.com", "slow.test"})
    d, hook = gateway(dns)
    with d.smtp() as s:
        assert s.mail("x@slow.test")[0] == 250  # SPF runs (DNS never answers)
        s.rset()
        assert s.noop()[0] == 250
    c = socket.create_connection(("127.0.0.1", d.port), timeout=10)
    f = c.makefile("rb")
    f.readline()
    c.sendall(b"HELO helo.test\r\nMAIL FROM:<alice@example.com>\r\nRCPT TO:<bob@ours.test>\r\n"
              b"DATA\r\n" + BODY + b".\r\n")
    for _ in range(4):
        f.readline()
    f.close()
    # Gone (a reset: a mere half-close with a complete message is still answered,
    # tests/smtp/test_smtp_seam.py) while DMARC waits for its DNS timeout (1 s); the
    # reset is seen when the checks end, before anything is delivered.
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()
    assert d.wait_log("client went away during sender authentication", 3.0)
    time.sleep(0.5)
    assert hook.requests == []
    assert "message submitted" not in d.log()
    assert "dmarc=temperror" not in d.log()
    with d.smtp() as s:  # the worker is fine
        assert s.noop()[0] == 250


def test_client_vanishes_while_mail_waits_for_spf(gateway, dns_server, rsa_key):
    dns = dns_server(zone(rsa_key[1]), timeout={"slow.test"})
    d, hook = gateway(dns, auth={"spf": "enforce"})
    c = socket.create_connection(("127.0.0.1", d.port), timeout=10)
    f = c.makefile("rb")
    f.readline()
    c.sendall(b"HELO helo.test\r\nMAIL FROM:<x@slow.test>\r\nRCPT TO:<bob@ours.test>\r\n")
    assert f.readline().startswith(b"250")
    assert d.wait_log("state command -> spf", 2.0)
    f.close()
    c.close()
    assert d.wait_log("client went away during sender authentication", 0.8)
    time.sleep(1.2)  # past the DNS timeout
    assert "reply 451 4.7.24" not in d.log()


def test_dkim_route_enforce_refuses_failed_signature(gateway, dns_server, rsa_key):
    priv, pub = rsa_key
    dns = dns_server(zone(pub))
    d, hook = gateway(dns, routes=[("*@ours.test", {"dkim": "enforce"})])
    signed = sign(BODY, priv)
    with d.smtp() as s:
        s.mail("alice@example.com")
        s.rcpt("bob@ours.test")
        code, msg = s.data(signed.replace(b"are in.", b"are out."))
        assert (code, msg[:6]) == (550, b"5.7.20")
        s.sendmail("alice@example.com", ["bob@ours.test"], signed)
        s.sendmail("alice@example.com", ["bob@ours.test"], BODY)  # unsigned: DMARC's business
    got = wait_posts(hook, 2)
    assert [len(p["auth"]["dkim"]) for p in got] == [1, 0]


def test_forged_field_cut_from_a_spilled_message(gateway, dns_server, rsa_key):
    """Over limits.memory_threshold the message is in a file: the cut works there too."""
    dns = dns_server(zone(rsa_key[1]))
    d, hook = gateway(dns, routes=[("*@ours.test", {"format": "raw"})],
                      limits={"memory_threshold": "4KB"})
    filler = b"".join(b"X-Filler-%d: %s\r\n" % (i, b"y" * 60) for i in range(300))
    msg = (filler + b"Authentication-Results: mx.test; dkim=pass (forged)\r\n" + filler
           + BODY + b"z" * 40000 + b"\r\n")
    with d.smtp() as s:
        s.sendmail("alice@example.com", ["bob@ours.test"], msg)
        s.sendmail("alice@example.com", ["bob@ours.test"], msg)
    wait_posts(hook, 2)
    (h1, raw), (h2, _) = hook.pairs()
    assert "spilled to a file" in d.log()
    assert b"(forged)" not in raw
    assert raw.startswith(f"Authentication-Results: {HOST};\r\n\tspf=pass".encode())
    received = raw.index(b"Received: ")
    assert raw[received:].split(b"\r\n\t", 1)[0].startswith(b"Received: from helo.test")
    # everything after our two trace fields is the message minus the forged field
    cut = msg.replace(b"Authentication-Results: mx.test; dkim=pass (forged)\r\n", b"")
    assert raw.endswith(cut)
    assert raw.index(b"X-Filler-0:") == len(raw) - len(cut)
    assert h1["webhook-id"] == h2["webhook-id"]


def test_reload_switches_policy_for_new_sessions(gateway, dns_server, rsa_key):
    """SIGHUP: new sessions get the new [auth]; an open one keeps the context it began with."""
    dns = dns_server(zone(rsa_key[1]))
    d, hook = gateway(dns)
    old = d.smtp()
    try:
        d.write_config(d.config.read_text().replace('spf = "annotate"', 'spf = "enforce"'))
        d.proc.send_signal(signal.SIGHUP)
        assert d.wait_log("configuration reloaded", 5.0)
        time.sleep(0.2)  # the workers take the new configuration on their own loop
        with d.smtp() as s:
            assert s.mail("x@fail.test")[0] == 550
        old.sendmail("x@fail.test", ["bob@ours.test"], BODY)  # annotate still
    finally:
        old.quit()
    p, = wait_posts(hook, 1)
    assert p["auth"]["spf"]["result"] == "fail"
