"""DKIM and ARC hashing of large messages off the worker's loop ([auth]
dkim_offload_threshold, dkim_verify_threads, dkim_max_verifies), end to end:
the daemon, tests/dnsserver.py serving the keys, messages signed and sealed
live with python3-dkim (the fixtures of test_smtp_auth.py).

What is checked: a message hashed on the verification threads gets the very
results an inline check gives (pass, fail, ARC pass); with the threads full
the check fails closed (temperror, never a pass; enforce answers 451) and
the log names the limit; a client that leaves while its message is hashed
leaves a working daemon."""

import dkim

from test_smtp_auth import BODY, gateway, header_values, sign, wait_posts, zone  # noqa: F401
from dnsserver import dns_server  # noqa: F401 (fixture)
from gwdaemon import SmtpLines

ARC_HEADERS = [b"from", b"to", b"subject"]


def big(octets):
    """BODY with a body of about octets octets of text lines."""
    line = b"The numbers are in, and they are large enough to need a few lines.\r\n"
    return BODY + line * (octets // len(line))


def seal(msg, priv):
    msg = b"Authentication-Results: forwarder.test; dkim=pass header.d=example.com\r\n" + msg
    return b"".join(dkim.arc_sign(msg, b"arc", b"forwarder.test", priv, b"forwarder.test",
                                  include_headers=ARC_HEADERS)) + msg


ONE_THREAD = {"dkim_offload_threshold": "64KB", "dkim_max_verifies": 1,
              "dkim_verify_threads": 1}


def results(payload):
    a = payload["auth"]
    return ([(s["result"], s["domain"], s["selector"], s.get("reason", "")) for s in a["dkim"]],
            a["arc"]["result"], a["dmarc"]["result"])


def deliver(gateway, dns, limits_auth, msgs):
    d, hook = gateway(dns, auth=limits_auth)
    with d.smtp() as s:
        for m in msgs:
            s.sendmail("alice@example.com", ["bob@ours.test"], m)
    return wait_posts(hook, len(msgs)), d.log()


def test_offloaded_results_are_the_inline_ones(gateway, dns_server, rsa_key):
    priv, pub = rsa_key
    dns = dns_server(zone(pub))
    signed = sign(big(300 * 1024), priv)
    msgs = [seal(signed, priv), signed.replace(b"are in,", b"are out,", 1), sign(BODY, priv)]
    inline, inline_log = deliver(gateway, dns, {"dkim_offload_threshold": "0"}, msgs)
    off, off_log = deliver(gateway, dns, {"dkim_offload_threshold": "64KB"}, msgs)
    assert [results(p) for p in off] == [results(p) for p in inline]
    assert results(off[0])[0][0][0] == "pass" and results(off[0])[1] == "pass"
    assert results(off[1])[0][0][0] == "fail"
    assert "hashed off the loop" not in inline_log
    assert off_log.count("dkim/arc hashed off the loop") == 2  # the small one stays inline
    # the tampered one fails on its body hash: no public-key operation to run
    assert off_log.count("dkim/arc signatures checked off the loop") == 1
    ar = [header_values(p, "Authentication-Results")[0].split(";", 1)[1] for p in (inline + off)]
    assert ar[:3] == ar[3:]


def staged(port, msg):
    """A session whose whole message is in the gateway's hands (BDAT's 250 for the chunk),
    short of the BDAT 0 LAST that ends it."""
    c = SmtpLines(port)
    assert c.reply().startswith("220")
    for line in (b"EHLO helo.test\r\n", b"MAIL FROM:<alice@example.com>\r\n",
                 b"RCPT TO:<bob@ours.test>\r\n"):
        assert c.cmd(line).startswith("250"), line
    assert c.cmd(b"BDAT %d\r\n" % len(msg) + msg).startswith("250 2.0.0")
    return c


def two_at_once(d, msg):
    """Two sessions whose messages end together: the first one's hashing (16 MB) holds the
    threads' one place far longer than handling the other BDAT 0 LAST takes."""
    a, b = staged(d.port, msg), staged(d.port, msg)
    a.sock.sendall(b"BDAT 0 LAST\r\n")
    b.sock.sendall(b"BDAT 0 LAST\r\n")
    replies = sorted([a.reply()[:9], b.reply()[:9]])
    a.sock.close()
    b.sock.close()
    return replies


def test_full_threads_fail_closed(gateway, dns_server, rsa_key):
    priv, pub = rsa_key
    dns = dns_server(zone(pub))
    auth = ONE_THREAD
    d, hook = gateway(dns, auth=auth, limits={"max_message_size": "30MB"})
    msg = seal(sign(big(16 * 1024 * 1024), priv), priv)
    assert two_at_once(d, msg) == ["250 2.0.0", "250 2.0.0"]  # annotate: both delivered
    got = sorted((results(p) for p in wait_posts(hook, 2)), key=lambda r: r[0][0][0])
    ok, busy = got
    assert ok[0][0][0] == "pass" and ok[1] == "pass"
    assert busy[0][0][:2] == ("temperror", "example.com")
    assert busy[1] == "temperror"  # cv fail, temporary: never a pass
    log = d.log()
    # refused at the hashing job; the other's key job then finds the place free
    assert log.count("limit dkim_max_verifies=1 reached: DKIM and ARC not evaluated") == 1
    assert "signatures not checked" not in log


def test_full_threads_enforce_is_451(gateway, dns_server, rsa_key):
    priv, pub = rsa_key
    dns = dns_server(zone(pub))
    auth = {"dkim": "enforce", **ONE_THREAD}
    d, hook = gateway(dns, auth=auth, limits={"max_message_size": "30MB"})
    msg = sign(big(16 * 1024 * 1024), priv)
    replies = two_at_once(d, msg)
    assert replies[0] == "250 2.0.0" and replies[1].startswith("451 4."), replies
    assert d.log().count("limit dkim_max_verifies=1 reached: DKIM and ARC not evaluated") == 1
    assert len(wait_posts(hook, 1)) == 1


def test_client_gone_while_hashing(gateway, dns_server, rsa_key):
    priv, pub = rsa_key
    dns = dns_server(zone(pub))
    d, hook = gateway(dns, auth={"dkim_offload_threshold": "64KB"},
                      limits={"max_message_size": "30MB"})
    msg = sign(big(8 * 1024 * 1024), priv)
    for _ in range(3):
        c = staged(d.port, msg)
        c.sock.sendall(b"BDAT 0 LAST\r\n")
        c.sock.close()
    with d.smtp() as s:
        s.sendmail("alice@example.com", ["bob@ours.test"], sign(BODY, priv))
    assert all(results(p)[0][0][0] == "pass" for p in wait_posts(hook, 1))
