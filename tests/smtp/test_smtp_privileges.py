"""Start-up order: bind (port 25 when free) as root, load the keys, then run as
server.user."""
import os
import pwd
import socket

import pytest

from smtp_harness import Client


def port_free(port):
    try:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_bind_as_root_then_drop(start_gateway, certs):
    nobody = pwd.getpwnam("nobody")
    extra = [{"address": '"127.0.0.1:25"'}] if port_free(25) else []
    gw = start_gateway({"server.user": '"nobody"'}, certs=certs, extra_listeners=extra)
    status = open(f"/proc/{gw.proc.pid}/status").read()
    uids = next(ln for ln in status.splitlines() if ln.startswith("Uid:")).split()[1:]
    assert all(int(u) == nobody.pw_uid for u in uids), status
    assert gw.wait_log("running as nobody")
    ports = [gw.port] + ([25] if extra else [])
    for port in ports:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            c = Client(raw)
            assert c.reply()[0] == 220
            c.send(b"EHLO c.test\r\n")
            _, _, lines = c.reply()
            assert any("STARTTLS" in ln for ln in lines)  # keys loaded before the drop
