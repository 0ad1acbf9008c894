"""gateway/dns (c-ares on libevent, with its cache) against tests/dnsserver.py.

Each test feeds commands to build/tests/dns/dns_query and checks its JSON
answers and the queries the server really received: record parsing, the
cache (hits, TTL expiry, the max-TTL cap, LRU eviction), RFC 2308 negative
caching, timeouts/SERVFAIL/REFUSED as tempfail, TCP fallback on truncation,
CNAME chains, coalescing of identical queries and cancellation.
"""
import json
import socket
import subprocess
import time

import pytest

from gwpaths import BUILD
from dnsserver import dns_server  # noqa: F401 (fixture)

DRIVER = BUILD / "tests" / "dns" / "dns_query"
RUN_TIMEOUT_S = 60


def run(server, commands, **opts):
    """Runs the driver against server; returns its JSON lines."""
    assert DRIVER.exists(), f"{DRIVER} is not built"
    args = [str(DRIVER), "--dns", server.address]
    for k, v in opts.items():
        args += ["--" + k.replace("_", "-"), str(v)]
    proc = subprocess.run(args, input="\n".join(commands) + "\n", capture_output=True,
                          text=True, timeout=RUN_TIMEOUT_S)
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


def txt(answer):
    return [bytes.fromhex(r) for r in answer["records"]]


ZONE = {
    "example.com": [("A", "192.0.2.1"), ("A", "192.0.2.2", 120), ("AAAA", "2001:db8::1"),
                    ("MX", (10, "mx1.example.com")), ("MX", (20, "mx2.example.com")),
                    ("TXT", ["v=spf1 ", "-all"]), ("TXT", b"bin\x00ary\xff")],
    "1.2.0.192.in-addr.arpa": [("PTR", "host.example.com")],
    "alias.example.com": [("CNAME", "example.com")],
    "loop.example.com": [("CNAME", "loop2.example.com")],
    "loop2.example.com": [("CNAME", "loop.example.com")],
    "dangling.example.com": [("CNAME", "nowhere.example.com")],
}


def test_record_types(dns_server):
    dns = dns_server(ZONE)
    a, aaaa, mx, t, ptr = run(dns, ["query example.com A", "query example.com AAAA",
                                    "query Example.COM. MX", "query example.com TXT",
                                    "query 1.2.0.192.in-addr.arpa PTR"])
    assert (a["status"], sorted(a["records"])) == ("ok", ["192.0.2.1", "192.0.2.2"])
    assert a["ttl"] == 120, "the smallest TTL of the RRset"
    assert aaaa["records"] == ["2001:db8::1"]
    assert mx["name"] == "example.com"  # normalised: lower case, no trailing dot
    assert sorted(map(tuple, mx["records"])) == [(10, "mx1.example.com"), (20, "mx2.example.com")]
    # One RR's strings are concatenated, RRs stay separate, any byte survives.
    assert sorted(txt(t)) == [b"bin\x00ary\xff", b"v=spf1 -all"]
    assert ptr["records"] == ["host.example.com"]


def test_nxdomain_nodata(dns_server):
    dns = dns_server(ZONE)
    nx, nodata = run(dns, ["query nothing.example.com A", "query example.com PTR"])
    assert (nx["status"], nx["n"]) == ("nxdomain", 0)
    assert (nodata["status"], nodata["n"]) == ("nodata", 0)


def test_cname_chain_and_loop(dns_server):
    dns = dns_server(ZONE)
    chain, loop, dangling = run(dns, ["query alias.example.com A", "query loop.example.com A",
                                      "query dangling.example.com A"])
    assert sorted(chain["records"]) == ["192.0.2.1", "192.0.2.2"]
    assert loop["status"] == "nodata"
    assert dangling["status"] == "nxdomain"


def test_cache_hit(dns_server):
    dns = dns_server(ZONE)
    first, second, stats = run(dns, ["query example.com A", "query EXAMPLE.com A", "stats"])
    assert not first["sync"] and second["sync"], "the second answer comes from the cache"
    assert second["records"] == first["records"]
    assert dns.count("example.com", "A") == 1
    assert (stats["queries"], stats["cache_hits"], stats["sent"]) == (2, 1, 1)


def test_ttl_expiry(dns_server):
    dns = dns_server({"short.example.com": [("A", "192.0.2.1", 1)]})
    cmds = ["query short.example.com A", "query short.example.com A", "sleep 1200",
            "query short.example.com A"]
    proc = subprocess.Popen([str(DRIVER), "--dns", dns.address], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        proc.stdin.write(cmds[0] + "\n")
        proc.stdin.flush()
        first = json.loads(proc.stdout.readline())
        dns.set("short.example.com", [("A", "192.0.2.99", 1)])
        proc.stdin.write("\n".join(cmds[1:]) + "\n")
        proc.stdin.close()
        cached, fresh = [json.loads(line) for line in proc.stdout.read().splitlines()]
        assert proc.wait(timeout=RUN_TIMEOUT_S) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert first["records"] == cached["records"] == ["192.0.2.1"] and cached["sync"]
    assert fresh["records"] == ["192.0.2.99"] and not fresh["sync"]
    assert dns.count("short.example.com", "A") == 2


def test_ttl_zero_not_cached(dns_server):
    dns = dns_server({"zero.example.com": [("A", "192.0.2.1", 0)]})
    out = run(dns, ["query zero.example.com A", "query zero.example.com A"])
    assert [o["sync"] for o in out] == [False, False]
    assert dns.count("zero.example.com", "A") == 2


def test_max_ttl_cap(dns_server):
    dns = dns_server(ZONE)
    out = run(dns, ["query example.com MX", "query example.com MX", "sleep 400",
                    "query example.com MX"], max_ttl_ms=300)
    assert [o["sync"] for o in out] == [False, True, False]
    assert dns.count("example.com", "MX") == 2


def test_negative_caching_uses_soa(dns_server):
    dns = dns_server(ZONE, negative_ttl=1)
    out = run(dns, ["query nothing.example.com A", "query nothing.example.com A",
                    "query example.com PTR", "query example.com PTR", "sleep 1200",
                    "query nothing.example.com A", "query example.com PTR"])
    assert [o["status"] for o in out] == ["nxdomain", "nxdomain", "nodata", "nodata",
                                          "nxdomain", "nodata"]
    assert [o["sync"] for o in out] == [False, True, False, True, False, False]
    assert dns.count("nothing.example.com", "A") == 2
    assert dns.count("example.com", "PTR") == 2


def test_negative_ttl_cap(dns_server):
    dns = dns_server(ZONE, negative_ttl=3600)
    out = run(dns, ["query nothing.example.com A", "query nothing.example.com A", "sleep 400",
                    "query nothing.example.com A"], neg_ttl_ms=300)
    assert [o["sync"] for o in out] == [False, True, False]


def test_negative_without_soa_not_cached(dns_server):
    dns = dns_server(ZONE, negative_ttl=None)
    out = run(dns, ["query nothing.example.com A", "query nothing.example.com A"])
    assert [o["status"] for o in out] == ["nxdomain", "nxdomain"]
    assert dns.count("nothing.example.com", "A") == 2, "RFC 2308 section 5: no SOA, no cache"


def test_timeout_is_tempfail_and_not_cached(dns_server):
    dns = dns_server(ZONE, timeout={("example.com", "TXT")})
    start = time.monotonic()
    out = run(dns, ["query example.com TXT", "query example.com TXT", "query example.com A",
                    "stats"], timeout_ms=200, tries=2)
    elapsed = time.monotonic() - start
    assert [o.get("status") for o in out[:3]] == ["tempfail", "tempfail", "ok"]
    assert dns.count("example.com", "TXT") == 4, "2 tries each, nothing cached"
    assert out[3]["tempfail"] == 2
    assert elapsed < 20  # bounded by timeout_ms * tries, not hanging


@pytest.mark.parametrize("fault", ["servfail", "refused"])
def test_server_errors_are_tempfail(dns_server, fault):
    dns = dns_server(ZONE, **{fault: {"example.com"}})
    out = run(dns, ["query example.com A", "query example.com A"])
    assert [o["status"] for o in out] == ["tempfail", "tempfail"]


def test_tcp_fallback_on_truncation(dns_server):
    big = "x" * 3000
    dns = dns_server({"big.example.com": [("TXT", big)], "small.example.com": [("TXT", "hi")]},
                     force_tc={"small.example.com"})
    big_ans, small_ans = run(dns, ["query big.example.com TXT", "query small.example.com TXT"])
    assert txt(big_ans) == [big.encode()]
    assert txt(small_ans) == [b"hi"]
    for name in ("big.example.com", "small.example.com"):
        assert dns.count(name, "TXT", "udp") == 1
        assert dns.count(name, "TXT", "tcp") == 1


def test_edns_avoids_tcp_for_medium_answers(dns_server):
    medium = "y" * 900  # over 512, under the 1232 bytes the resolver advertises
    dns = dns_server({"medium.example.com": [("TXT", medium)]})
    (ans,) = run(dns, ["query medium.example.com TXT"])
    assert txt(ans) == [medium.encode()]
    assert dns.count("medium.example.com", "TXT", "tcp") == 0


def test_server_without_edns(dns_server):
    """FORMERR to an EDNS query: asked again without EDNS (RFC 6891 section 7)."""
    dns = dns_server(ZONE, no_edns=True)
    a, t = run(dns, ["query example.com A", "query example.com TXT"])
    assert sorted(a["records"]) == ["192.0.2.1", "192.0.2.2"]
    assert sorted(txt(t)) == [b"bin\x00ary\xff", b"v=spf1 -all"]
    assert dns.count("example.com", "A") == 2


def test_identical_queries_coalesce(dns_server):
    dns = dns_server(ZONE)
    out = run(dns, ["parallel 5 example.com AAAA", "stats"])
    assert [o["records"] for o in out[:5]] == [["2001:db8::1"]] * 5
    assert out[5]["coalesced"] == 4 and out[5]["sent"] == 1
    assert dns.count("example.com", "AAAA") == 1


def test_cancel(dns_server):
    dns = dns_server(ZONE)
    out = run(dns, ["cancel example.com A", "sleep 300", "query example.com A", "stats"])
    assert out[0]["handle"] is True
    # The cancelled query still completed and filled the cache; its callback never ran.
    assert out[1]["sync"] is True
    assert out[2]["cancelled_callbacks"] == 0
    assert dns.count("example.com", "A") == 1


def test_free_with_queries_in_flight(dns_server):
    dns = dns_server(ZONE, timeout={"example.com"})
    out = run(dns, ["cancel example.com A", "stats"], timeout_ms=5000)
    assert out[1]["cancelled_callbacks"] == 0  # then the driver frees the resolver


def test_lru_eviction(dns_server):
    dns = dns_server({f"h{i}.example.com": [("A", f"192.0.2.{i}")] for i in range(4)})
    out = run(dns, ["query h0.example.com A", "query h1.example.com A", "query h0.example.com A",
                    "query h2.example.com A", "query h0.example.com A", "query h1.example.com A",
                    "stats"], cache_size=2)
    # h0 was used last when h2 arrived, so h1 was the one evicted.
    assert [o["sync"] for o in out[:6]] == [False, False, True, False, True, False]
    assert out[6]["entries"] == 2 and out[6]["evictions"] == 2


def test_unqueryable_names_fail_without_a_query(dns_server):
    dns = dns_server(ZONE)
    long_label = "a" * 64 + ".example.com"
    out = run(dns, [f"query {long_label} A", "query a..example.com A", "stats"])
    assert [o["status"] for o in out[:2]] == ["permfail", "permfail"]
    assert out[0]["sync"] and out[2]["sent"] == 0
    assert len(dns.queries) == 0


def _ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback")
def test_ipv6_server(dns_server):
    dns = dns_server(ZONE, host="::1")
    (a,) = run(dns, ["query example.com AAAA"])
    assert a["records"] == ["2001:db8::1"]


def test_bad_server_address_is_refused():
    assert DRIVER.exists(), f"{DRIVER} is not built"
    proc = subprocess.run([str(DRIVER), "--dns", "not-an-address:x"], input="",
                          capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    assert proc.returncode == 2
    assert "sys=dns servers" in proc.stderr
