"""`smtp-gateway route`: what each address would get, as an operator asks it."""
import subprocess

import pytest

CONFIG = """
[routing]
domains = ["example.org"]

[[route]]
name = "support"
match = ["support@example.com", "help@example.com"]
url = "https://helpdesk.example.com/hook"

[[route]]
name = "billing"
match = "billing-*@example.com"
url = "https://billing.example.com/hook"

[[route]]
name = "catchall"
match = "*@example.com"
url = "http://127.0.0.1:8080/all"

[[route]]
name = "subs"
match = "*@*.example.net"
url = "http://127.0.0.1:8080/subs"

[[route]]
name = "idn"
match = "info@bücher.example"
url = "http://127.0.0.1:8080/idn"
"""

CASES = [
    ("support@example.com", "route support (exact \"support@example.com\") -> https://helpdesk.example.com/hook"),
    ("SUPPORT@Example.COM", "route support (exact"),
    ("support+urgent@example.com", "route support (plus \"support@example.com\", tag \"urgent\")"),
    ("billing-eu@example.com", "route billing"),
    ("someone@example.com", "route catchall"),
    ("x@a.b.example.net", "route subs"),
    ("info@xn--bcher-kva.example", "route idn"),
    ("info@BÜCHER.example", "route idn"),
    ("x@example.net", "550 5.7.1"),
    ("nobody@example.org", "550 5.1.1"),
    ("someone@elsewhere.test", "550 5.7.1 relay refused"),
    ("no-at-sign", "501 5.1.3"),
]


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    p = tmp_path_factory.mktemp("route") / "g.toml"
    p.write_text(CONFIG)
    return p


@pytest.mark.parametrize("address,want", CASES, ids=[c[0] for c in CASES])
def test_route(gateway_bin, config, address, want):
    r = subprocess.run([str(gateway_bin), "route", "-c", str(config), address],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"{address}: "), r.stdout
    assert want in r.stdout, r.stdout


def test_route_many_addresses_one_line_each(gateway_bin, config):
    addrs = [c[0] for c in CASES]
    r = subprocess.run([str(gateway_bin), "route", "-c", str(config), *addrs],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0
    assert len(r.stdout.splitlines()) == len(addrs)


def test_check_summary_lists_domains_and_routes(gateway_bin, config):
    r = subprocess.run([str(gateway_bin), "check", "-c", str(config)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "routes: 5" in r.stdout
    for d in ("example.com", "example.org", "xn--bcher-kva.example"):
        assert d in r.stdout
