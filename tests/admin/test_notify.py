"""systemd's readiness protocol (sd_notify(3), gateway/admin/notify.c): a
datagram socket stands in for the service manager, named by NOTIFY_SOCKET as
a path or as an abstract name ('@'). The daemon says READY=1 once its
listeners and workers run (after the bind: a connection then succeeds),
RELOADING=1 then READY=1 around a SIGHUP, STOPPING=1 on SIGTERM; without
NOTIFY_SOCKET, or with a socket nobody reads, it runs as before."""
import os
import signal
import socket

import pytest

from gwdaemon import GATEWAY, clean_env, gateway_config

pytestmark = pytest.mark.skipif(not GATEWAY.exists(), reason="daemon not built")


def manager(tmp_path, abstract):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if abstract:
        name = f"smtp-gateway-test-{os.getpid()}-{tmp_path.name}"
        s.bind("\0" + name)
        address = "@" + name
    else:
        address = str(tmp_path / "notify.sock")
        s.bind(address)
    s.settimeout(15)
    return s, address


def states(s):
    """The next datagram as {key: value}."""
    text = s.recv(4096).decode()
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def config(sink):
    return lambda port: gateway_config(port, [{"match": "*@example.com", "url": sink.url()}])


@pytest.mark.parametrize("abstract", [False, True], ids=["path", "abstract"])
def test_ready_reloading_stopping(tmp_path, sink, gateways, abstract):
    s, address = manager(tmp_path, abstract)
    with s:
        gw = gateways.start(config(sink), env=clean_env({"NOTIFY_SOCKET": address}))
        first = states(s)
        assert first["READY"] == "1", first
        gw.connect().close()  # ready means bound: the listener takes connections
        gw.signal(signal.SIGHUP)
        assert states(s)["RELOADING"] == "1"
        assert states(s)["READY"] == "1"
        assert gw.wait_log("configuration reloaded")
        gw.signal(signal.SIGTERM)
        assert states(s)["STOPPING"] == "1"
        assert gw.wait(timeout=30) == 0


@pytest.mark.parametrize("value", ["", "relative/path", "/nonexistent/notify.sock"])
def test_no_manager_changes_nothing(tmp_path, sink, gateways, value):
    gw = gateways.start(config(sink), env=clean_env({"NOTIFY_SOCKET": value}))
    with gw.smtp() as c:
        assert c.sendmail("a@client.test", ["x@example.com"], b"Subject: t\r\n\r\nx\r\n") == {}
    assert sink.wait_requests(1) == 1
