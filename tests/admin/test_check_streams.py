"""`smtp-gateway check -c -` reads the configuration from standard input and
`-c /dev/fd/N` from a descriptor, each read once, so a pipe works and the
summary shows the file's values, not the defaults (issue 13)."""
import os
import pathlib
import subprocess
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from admin_lib import BINARY  # noqa: E402

CONFIG = b'''
[server]
allow_root = true
hostname = "piped.example.test"

[[listener]]
address = "127.0.0.1:2526"

[[route]]
name = "piped-route"
match = "*@piped.test"
url = "http://127.0.0.1:8080/in"
'''


def check(args, **kw):
    return subprocess.run([str(BINARY), "check", *args], capture_output=True, timeout=30, **kw)


def test_check_from_stdin():
    p = check(["-c", "-"], input=CONFIG)
    assert p.returncode == 0, p.stderr
    assert b"-: OK" in p.stdout
    assert b"hostname: piped.example.test" in p.stdout
    assert b"piped-route: *@piped.test" in p.stdout


def test_check_from_a_pipe_descriptor():
    r, w = os.pipe()
    os.write(w, CONFIG)
    os.close(w)
    try:
        p = check(["-c", f"/dev/fd/{r}"], pass_fds=(r,))
    finally:
        os.close(r)
    assert p.returncode == 0, p.stderr
    assert b"hostname: piped.example.test" in p.stdout
    assert b"127.0.0.1:2526 smtp" in p.stdout


def test_errors_name_the_stream():
    p = check(["-c", "-"], input=b"[server]\nworkers = \n")
    assert p.returncode == 1
    assert p.stderr.startswith(b"-:2:")
