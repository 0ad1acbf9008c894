"""Shared pytest fixtures: where the build is, free loopback ports, the test data."""
import pytest

from gwpaths import BUILD, ROOT, TESTDATA, free_port  # noqa: F401


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
