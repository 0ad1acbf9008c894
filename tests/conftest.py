"""Shared pytest fixtures: where the build is, free loopback ports, the test data."""
import pytest

from gwpaths import BUILD, ROOT, TESTDATA, free_port  # noqa: F401


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
    path = BUILD / "gateway" / "smtp-gateway"
    assert path.exists(), f"{path} is not built"
    return path


@pytest.fixture(scope="session")
def testdata():
    return TESTDATA
