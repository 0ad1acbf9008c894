"""The session around sender authentication, with the real daemon, tests/dnsserver.py
and the webhook of tests/smtp_auth/: a client that half-closes after pipelining its
message still gets it delivered and answered; [auth] timeout bounds the wait for
checks whose DNS never answers."""
import pathlib
import socket
import sys
import time

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "smtp_auth"))
from dnsserver import dns_server  # noqa: E402,F401 (fixture)
from test_smtp_auth import BODY, gateway, wait_posts, zone  # noqa: E402,F401 (fixture)


@pytest.fixture
def slow_gateway(gateway):
    """gateway of tests/smtp_auth/ with a DNS timeout (10 s) far beyond [auth] timeout (1 s)."""
    def start(dns, auth, route_opts=None):
        return gateway(dns, auth={"timeout": "1s", **auth},
                       routes=[("*@ours.test", route_opts or {})], dns_timeout="10s")

    return start


def test_auth_timeout_at_mail_under_enforce(slow_gateway, dns_server, rsa_key):
    """SPF's DNS never answers (and c-ares would wait 10 s): [auth] timeout = 1s ends the
    wait of MAIL with 451 4.7.24 (temperror under enforce)."""
    dns = dns_server(zone(rsa_key[1]), timeout={"slow.test"})
    d, hook = slow_gateway(dns, {"spf": "enforce"})
    with d.smtp() as s:
        t0 = time.monotonic()
        code, msg = s.mail("x@slow.test")
        assert (code, msg[:6]) == (451, b"4.7.24")
        assert time.monotonic() - t0 < 5
        assert s.noop()[0] == 250
    assert "limit auth timeout=1000ms" in d.log()


@pytest.mark.parametrize("policy,code", [("enforce", 451), ("annotate", 250)])
def test_auth_timeout_at_end_of_data(policy, code, slow_gateway, dns_server, rsa_key):
    """DMARC's DNS never answers: after [auth] timeout the checks are cancelled; a route
    that enforces answers 451 4.7.1, one that annotates delivers without results."""
    dns = dns_server(zone(rsa_key[1]), timeout={"_dmarc.example.com"})
    d, hook = slow_gateway(dns, {"dmarc": policy})
    with d.smtp() as s:
        t0 = time.monotonic()
        s.mail("alice@example.com")
        s.rcpt("bob@ours.test")
        got, msg = s.data(BODY)
        assert got == code, msg
        assert time.monotonic() - t0 < 5
        if code == 451:
            assert msg.startswith(b"4.7.1")
    assert "limit auth timeout=1000ms" in d.log()
    if code == 250:
        auth = wait_posts(hook, 1)[0]["auth"]
        assert auth["dmarc"] is None and auth["authentication_results"] is None, auth
    else:
        time.sleep(0.2)
        assert hook.requests == []


def test_half_close_after_pipelined_message_is_answered(gateway, dns_server, rsa_key):
    """The message and QUIT in one write, then shutdown(SHUT_WR) while DMARC waits on a
    slow DNS answer: a half-close is not a vanished client (only a reset is)."""
    dns = dns_server(zone(rsa_key[1]), timeout={"_dmarc.example.com"})
    d, hook = gateway(dns)
    c = socket.create_connection(("127.0.0.1", d.port), timeout=10)
    try:
        f = c.makefile("rb")
        assert f.readline().startswith(b"220")
        c.sendall(b"HELO helo.test\r\nMAIL FROM:<alice@example.com>\r\n"
                  b"RCPT TO:<bob@ours.test>\r\nDATA\r\n" + BODY + b".\r\nQUIT\r\n")
        c.shutdown(socket.SHUT_WR)
        replies = [f.readline()[:3] for _ in range(6)]
        assert replies == [b"250", b"250", b"250", b"354", b"250", b"221"], replies
        assert f.readline() == b""
    finally:
        c.close()
    assert wait_posts(hook, 1)[0]["auth"]["dmarc"]["result"] == "temperror"
    assert "client went away" not in d.log()
