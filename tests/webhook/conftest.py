"""Fixtures of the webhook tests (the sink and the daemon are in tests/conftest.py)."""
import pytest


@pytest.fixture(scope="module")
def driver(build_dir):
    """tests/webhook/webhook-post: delivery_submit() on a libevent loop, one message."""
    path = build_dir / "tests" / "webhook" / "webhook-post"
    if not path.exists():
        pytest.skip(f"{path} is not built")
    return path
