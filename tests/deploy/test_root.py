"""Running as root without server.user is refused unless server.allow_root says
so (docs/deployment.md): a mail server parses hostile input in every session,
and as root a parser bug is the whole machine."""
import os
import subprocess
import time

import pytest

from gwdaemon import Gateway, listening, write_toml
from gwpaths import BUILD, free_port

BIN = BUILD / "gateway" / "smtp-gateway"
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: the refusal is root's")


def config(port, server):
    return (f'[server]\nhostname = "mx.test"\nworkers = 1\n{server}\n'
            f'[[listener]]\naddress = "127.0.0.1:{port}"\n'
            '[[route]]\nmatch = "*@example.test"\nurl = "http://127.0.0.1:9/hook"\n')


def test_root_without_user_is_refused(tmp_path):
    port = free_port()
    cfg = write_toml(tmp_path / "gateway.toml", config(port, ""))
    p = subprocess.run([str(BIN), "-c", str(cfg)], capture_output=True, text=True, timeout=30)
    assert p.returncode == 1, p.stderr
    assert "refusing to run as root without server.user" in p.stderr
    # The message says why and what to do about it.
    assert "untrusted mail" in p.stderr and "server.allow_root = true" in p.stderr
    assert "listening on" not in p.stderr, "refused only after binding"


@pytest.mark.parametrize("server", ["allow_root = true", 'user = "nobody"'])
def test_root_allowed_explicitly_or_with_user(tmp_path, server):
    g = Gateway(tmp_path, lambda port: config(port, server), ready=listening)
    try:
        text = g.log()
        assert "refusing" not in text
        if "user" in server:
            # The drop happened: the process's real and effective uid are nobody's. It
            # comes after the listeners are bound and the keys loaded, so "listening"
            # can be seen first: wait for it, bounded (the ASan build is slow there).
            def uids():
                status = open(f"/proc/{g.pid}/status").read()
                line = next(x for x in status.splitlines() if x.startswith("Uid:"))
                return set(line.split()[1:])
            deadline = time.monotonic() + 15
            while uids() != {"65534"} and time.monotonic() < deadline:
                time.sleep(0.05)
            assert uids() == {"65534"}, uids()
    finally:
        assert g.close() == 0, g.log()
        g.check()
