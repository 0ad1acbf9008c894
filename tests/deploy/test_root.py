"""Running as root without server.user is refused unless server.allow_root says
so (docs/deployment.md): a mail server parses hostile input in every session,
and as root a parser bug is the whole machine."""
import os
import socket
import subprocess
import time

import pytest

from gwpaths import BUILD, free_port

BIN = BUILD / "gateway" / "smtp-gateway"
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: the refusal is root's")


def config(tmp_path, port, server):
    cfg = tmp_path / "gateway.toml"
    cfg.write_text(f'[server]\nhostname = "mx.test"\nworkers = 1\n{server}\n'
                   f'[[listener]]\naddress = "127.0.0.1:{port}"\n'
                   '[[route]]\nmatch = "*@example.test"\nurl = "http://127.0.0.1:9/hook"\n')
    return cfg


def listening(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def test_root_without_user_is_refused(tmp_path):
    port = free_port()
    p = subprocess.run([str(BIN), "-c", str(config(tmp_path, port, ""))], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 1, p.stderr
    assert "refusing to run as root without server.user" in p.stderr
    # The message says why and what to do about it.
    assert "untrusted mail" in p.stderr and "server.allow_root = true" in p.stderr
    assert "listening on" not in p.stderr, "refused only after binding"


@pytest.mark.parametrize("server", ["allow_root = true", 'user = "nobody"'])
def test_root_allowed_explicitly_or_with_user(tmp_path, server):
    port = free_port()
    log = tmp_path / "gateway.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen([str(BIN), "-c", str(config(tmp_path, port, server))],
                                stdout=fh, stderr=fh)
    try:
        deadline = time.monotonic() + 15
        while not listening(port):
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        text = log.read_text()
        assert "refusing" not in text
        if "user" in server:
            # The drop happened: the process's real and effective uid are nobody's.
            status = open(f"/proc/{proc.pid}/status").read()
            uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
            assert set(uid_line.split()[1:]) == {"65534"}, uid_line
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0, log.read_text()
