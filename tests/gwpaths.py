"""Where things are, for every test: the build, the sources, the shared test data.

A module of its own (not conftest) so that test files can import it whatever
other conftest.py files pytest has collected.
"""
import os
import pathlib
import socket

ROOT = pathlib.Path(__file__).resolve().parent.parent
BUILD = pathlib.Path(os.environ.get("SMTPGW_BUILD", ROOT / "build"))
TESTDATA = ROOT.parent / "shared" / "testdata"


def free_port(family=socket.AF_INET, host="127.0.0.1"):
    """A TCP port nobody listens on right now (bound and released)."""
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]
