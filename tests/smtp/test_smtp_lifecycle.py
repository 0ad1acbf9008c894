"""SIGTERM drain and SIGHUP reload."""
import signal
import socket
import time

import pytest

from smtp_harness import ROUTES


def ehlo(c):
    assert c.reply()[0] == 220
    c.send(b"EHLO client.test\r\n")
    assert c.reply()[0] == 250


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_idle_session_gets_421_and_exit_0(sig, gateway, client_of):
    c = client_of(gateway)
    ehlo(c)
    gateway.signal(sig)
    assert c.reply()[1].startswith("421 4.3.2")
    assert c.closed()
    assert gateway.proc.wait(timeout=10) == 0
    assert "counters connections=1" in gateway.log()


def in_data_to_slow(c):
    """The client after EHLO, MAIL, RCPT to the slow route (400 ms) and DATA."""
    ehlo(c)
    c.send(b"MAIL FROM:<a@client.test>\r\nRCPT TO:<x@slow.test>\r\nDATA\r\n")
    assert [c.reply()[0] for _ in range(3)] == [250, 250, 354]
    return c


def test_sigterm_lets_transaction_finish(gateway, client_of):
    c = in_data_to_slow(client_of(gateway))
    c.send(b"Subject: slow\r\n\r\nbody\r\n.\r\n")
    time.sleep(0.1)  # the 400 ms delivery is in flight
    gateway.signal(signal.SIGTERM)
    assert gateway.wait_log("draining")
    # New connections are no longer accepted.
    time.sleep(0.1)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", gateway.port), timeout=2).recv(1)
    assert c.reply()[1].startswith("250 2.0.0")
    assert c.reply()[1].startswith("421 4.3.2")
    assert gateway.proc.wait(timeout=10) == 0
    assert len(gateway.deliveries()) == 1


def test_sigterm_drain_timeout(start_gateway, client_of):
    gw = start_gateway({"limits.drain_timeout": '"1s"'})
    c = client_of(gw)
    ehlo(c)
    c.send(b"MAIL FROM:<a@client.test>\r\nRCPT TO:<x@hang.test>\r\nDATA\r\n.\r\n")
    assert [c.reply()[0] for _ in range(3)] == [250, 250, 354]
    assert gw.wait_log("message submitted")
    t0 = time.monotonic()
    gw.signal(signal.SIGTERM)
    assert gw.proc.wait(timeout=10) == 0
    assert time.monotonic() - t0 >= 0.9
    assert c.closed()
    assert "drain_timeout reached" in gw.log()


def test_sighup_reload_keeps_sessions(gateway, client_of):
    old = client_of(gateway)
    ehlo(old)
    old.send(b"MAIL FROM:<a@client.test>\r\n")
    assert old.reply()[0] == 250
    gateway.rewrite(routes=ROUTES + [("*@new.test", "http://double/250")])
    gateway.signal(signal.SIGHUP)
    assert gateway.wait_log("configuration reloaded")
    # The open session keeps the configuration it started with.
    old.send(b"RCPT TO:<x@new.test>\r\n")
    assert old.reply()[1].startswith("550 5.7.1")
    old.send(b"RCPT TO:<x@example.com>\r\nDATA\r\nSubject: old\r\n\r\n.\r\n")
    assert [old.reply()[0] for _ in range(3)] == [250, 354, 250]
    new = client_of(gateway)
    ehlo(new)
    new.send(b"MAIL FROM:<a@client.test>\r\nRCPT TO:<x@new.test>\r\n")
    assert [new.reply()[0] for _ in range(2)] == [250, 250]


def test_sighup_bad_config_keeps_old(gateway, client_of):
    gateway.rewrite(text="[server\nthis is not toml")
    gateway.signal(signal.SIGHUP)
    assert gateway.wait_log("reload failed; keeping the running configuration")
    c = client_of(gateway)
    ehlo(c)
    c.send(b"MAIL FROM:<a@client.test>\r\nRCPT TO:<x@example.com>\r\n")
    assert [c.reply()[0] for _ in range(2)] == [250, 250]
    assert gateway.proc.poll() is None


def test_session_gone_before_delivery_reply(gateway, client_of):
    """The client leaves while its message is with the webhook: the late reply is dropped."""
    c = in_data_to_slow(client_of(gateway))
    c.send(b"Subject: bye\r\n\r\n.\r\n")
    assert gateway.wait_log("message submitted")
    c.close()
    time.sleep(0.6)
    d = client_of(gateway)
    ehlo(d)
    assert gateway.proc.poll() is None


def test_sighup_listener_change_refused(gateway, client_of):
    gateway.rewrite(text=gateway.config.read_text() + '\n[[listener]]\naddress = "127.0.0.1:1"\n')
    gateway.signal(signal.SIGHUP)
    assert gateway.wait_log("reload refused: listeners changed")
    c = client_of(gateway)
    ehlo(c)


def test_bind_failure_exits_1(start_gateway):
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    port = blocker.getsockname()[1]
    try:
        gw = start_gateway(extra_listeners=[{"address": f'"127.0.0.1:{port}"'}], expect_fail=True)
        assert gw.proc.returncode == 1
        assert f"cannot listen on 127.0.0.1:{port}" in gw.log()
    finally:
        blocker.close()


PROXIED = {"listener.proxy_protocol": "true", "listener.proxy_trusted": '["127.0.0.1"]'}


@pytest.mark.parametrize("before,after,what", [
    ({}, PROXIED, "proxy_protocol"),
    (PROXIED, {**PROXIED, "listener.proxy_trusted": '["127.0.0.0/8"]'}, "proxy_trusted"),
])
def test_sighup_listener_setting_change_refused(before, after, what, start_gateway, client_of):
    """Not only the address: a reload that changes any listener setting is refused whole,
    and new sessions keep the old listener rules (none may run half of the new ones)."""
    gw = start_gateway(before)
    gw.rewrite(overrides=after)
    gw.signal(signal.SIGHUP)
    assert gw.wait_log(f"reload: listener 127.0.0.1:{gw.port}: {what} changed")
    assert gw.wait_log("reload refused: listeners changed")
    c = client_of(gw)
    if before:
        c.send(b"PROXY TCP4 192.0.2.7 198.51.100.1 4242 25\r\n")
    ehlo(c)
