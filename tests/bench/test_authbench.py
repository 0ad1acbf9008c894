"""The pieces of the auth-20x5KB benchmark scenarios: loadgen rotating message
files and senders, and tests/bench/authzone.py's world (signed mail of five
sender domains, unbound in front of the dnslib server) giving spf, dkim, dmarc
and arc pass through the real gateway, with the resolver's query counts that
the benchmark reports. The unbound cases skip where unbound is not installed
(it is a benchmark package, scripts/bench-packages.txt)."""
import pathlib
import shutil
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench  # noqa: E402
from authzone import ARC_DOMAINS, DOMAINS, UNBOUND, AuthZone, check_payload  # noqa: E402
from gwpaths import BUILD  # noqa: E402

pytest.importorskip("dkim")
needs_unbound = pytest.mark.skipif(shutil.which(UNBOUND) is None,
                                   reason="unbound (a benchmark package) is not installed")


def gateway(tmp_path, sink, **opts):
    return bench.Gateway(BUILD / "gateway" / "smtp-gateway", tmp_path, sink.port, workers=1,
                         **opts)


def send(tmp_path, sink, n, args, **opts):
    """n messages over one session; the webhook bodies, in order."""
    with gateway(tmp_path, sink, **opts) as gw:
        res = bench.loadgen(BUILD, gw.port, "-s", 1, "-m", n, *args)
        assert sink.wait_requests(n) == n
    assert res["replies"] == {"250": n}
    return sink.payloads()


def test_loadgen_rotates_files_and_senders(tmp_path, sink):
    args = []
    for name in "ABC":
        eml = tmp_path / f"{name}.eml"
        eml.write_bytes(f"From: x@one.test\r\nSubject: {name}\r\n\r\nbody {name}\r\n".encode())
        args += ["-F", eml]
    args += ["-f", "s1@one.test", "-f", "s2@two.test"]
    got = [(p["message"]["subject"], p["envelope"]["mail_from"])
           for p in send(tmp_path, sink, 6, args)]
    # message k: file k mod 3, sender k mod 2
    assert got == [("A", "s1@one.test"), ("B", "s2@two.test"), ("C", "s1@one.test"),
                   ("A", "s2@two.test"), ("B", "s1@one.test"), ("C", "s2@two.test")]


def auth_run(tmp_path, sink, zone, n, cache=True):
    """(payloads, resolver queries per message) of n messages with authentication on."""
    q0 = zone.client_queries()
    bodies = send(tmp_path, sink, n, zone.loadgen_args(), auth_on=True,
                  extra=zone.dns_toml(cache=cache))
    return bodies, (zone.client_queries() - q0) / n


@pytest.mark.parametrize("resolver", [pytest.param("unbound", marks=needs_unbound), "dnslib"])
def test_every_message_passes_authentication(tmp_path, sink, resolver):
    with AuthZone(tmp_path, use_unbound=resolver == "unbound") as zone:
        assert bool(zone.unbound) == (resolver == "unbound")
        bodies, _ = auth_run(tmp_path, sink, zone, 2 * len(DOMAINS))
    domains = [p["envelope"]["mail_from"].rpartition("@")[2] for p in bodies]
    assert sorted(domains) == sorted(DOMAINS * 2)
    assert [x for p, d in zip(bodies, domains) for x in check_payload(p, d)] == []
    assert {d for p, d in zip(bodies, domains) if p["auth"]["arc"]["result"] == "pass"} == \
        ARC_DOMAINS


@needs_unbound
def test_caches_save_queries_at_unbound(tmp_path, sink):
    """What the nocache scenario shows: without the gateway's caches every message asks
    the resolver again; with them, the first message of each domain does. unbound answers
    both from its own cache after the first (the authoritative server sees no more)."""
    n = 6 * len(DOMAINS)
    with AuthZone(tmp_path) as zone:
        _, cached = auth_run(tmp_path, sink, zone, n)
        up = zone.upstream_queries()
        sink.requests.clear()
        bodies, uncached = auth_run(tmp_path, sink, zone, n, cache=False)
        assert zone.upstream_queries() == up
    assert [x for p in bodies
            for x in check_payload(p, p["envelope"]["mail_from"].rpartition("@")[2])] == []
    assert 0 < cached < 2 < uncached
    assert uncached > 3 * cached


def test_check_payload_names_each_failure():
    good = {"auth": {"spf": {"result": "pass", "domain": "news.test"},
                     "dkim": [{"result": "pass", "domain": "news.test"}],
                     "dmarc": {"result": "pass", "policy": "reject"},
                     "arc": {"result": "pass"}}}
    assert check_payload(good, "news.test") == []
    assert len(check_payload(good, "shop.test")) == 3  # spf, dkim domains; arc not "none"
    for key, bad in [("spf", {"result": "softfail", "domain": "news.test"}),
                     ("dkim", [{"result": "fail", "domain": "news.test"}]),
                     ("dmarc", {"result": "fail", "policy": "reject"}),
                     ("arc", {"result": "fail"})]:
        p = {"auth": dict(good["auth"], **{key: bad})}
        assert [x.split(":")[1].split()[0] for x in check_payload(p, "news.test")] == [key]
