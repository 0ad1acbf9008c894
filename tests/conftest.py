"""Shared pytest fixtures: where the build is, free loopback ports, the test data, the
daemon under test (gwdaemon.py) and the webhook sink (webhook_sink.py)."""
import pytest

from gwdaemon import GATEWAY, Gateways
from gwpaths import BUILD, ROOT, TESTDATA, free_port, rsa_dkim_key  # noqa: F401
from webhook_sink import Sink


def pytest_sessionstart(session):
    """The external suites are the referee: their absence is an error, never a silent skip."""
    if not TESTDATA.is_dir():
        raise pytest.UsageError(f"{TESTDATA} is missing: the test suites need ../shared/testdata "
                                "beside the project (see README.md)")


@pytest.fixture(scope="session")
def build_dir():
    return BUILD


@pytest.fixture(scope="session")
def gateway_bin():
    assert GATEWAY.exists(), f"{GATEWAY} is not built"
    return GATEWAY


@pytest.fixture(scope="session")
def testdata():
    return TESTDATA


@pytest.fixture
def sink():
    """A webhook_sink.Sink on 127.0.0.1, closed at the end of the test."""
    s = Sink()
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def gateways(tmp_path):
    """gateways.start(config, **Gateway options) -> gwdaemon.Gateway; at the end every
    one is stopped (SIGTERM) and must have exited 0 with no sanitizer report."""
    g = Gateways(tmp_path)
    try:
        yield g
    finally:
        g.finish()


@pytest.fixture(scope="module")
def rsa_key(tmp_path_factory):
    """A fresh 2048-bit RSA key: (private PEM bytes, public DER base64 for a DKIM p=)."""
    return rsa_dkim_key(tmp_path_factory.mktemp("key"))
