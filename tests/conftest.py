"""Shared pytest fixtures: where the build is, free loopback ports, the test data."""
import os
import pathlib
import socket

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
BUILD = pathlib.Path(os.environ.get("SMTPGW_BUILD", ROOT / "build"))
TESTDATA = ROOT.parent / "shared" / "testdata"


def free_port(family=socket.AF_INET, host="127.0.0.1"):
    """A TCP port nobody listens on right now (bound and released)."""
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def build_dir():
    return BUILD


@pytest.fixture(scope="session")
def gateway_bin():
    path = BUILD / "gateway" / "smtp-gateway"
    assert path.exists(), f"{path} is not built"
    return path


@pytest.fixture(scope="session")
def testdata():
    return TESTDATA
