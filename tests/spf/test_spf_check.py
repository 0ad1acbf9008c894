"""spf_check single-shot behaviour not expressible as suite data: the
built-in default explanation, cancellation of a check with a query in
flight, and the resolver cache shared by consecutive checks."""
import json
import subprocess

from gwpaths import BUILD
from dnsserver import dns_server  # noqa: F401 (fixture)

DRIVER = BUILD / "tests" / "spf" / "spf_check"
RUN_TIMEOUT_S = 60

ZONE = {
    "example.com": [("TXT", "v=spf1 a:slow.example.com -all")],
    "fast.example.com": [("TXT", "v=spf1 mx -all"), ("MX", (10, "mx.fast.example.com"))],
    "mx.fast.example.com": [("A", "192.0.2.25")],
    "helo.example.org": [("TXT", "v=spf1 ip4:192.0.2.25 -all")],
}


def run(args, stdin=None):
    assert DRIVER.exists(), f"{DRIVER} is not built"
    proc = subprocess.run([str(DRIVER), *args], input=stdin, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT_S)
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


def test_builtin_default_explanation(dns_server):
    dns = dns_server(ZONE)
    (out,) = run(["--dns", dns.address, "--ip", "192.0.2.9", "--helo", "h.example.org",
                  "--from", "x@fast.example.com"])
    assert out["result"] == "fail"
    assert out["explanation"] == "192.0.2.9 is not a permitted sender for fast.example.com"
    assert out["mechanism"] == "-all"


def test_cancel_with_query_in_flight(dns_server):
    # slow.example.com never answers; the driver's deadline cancels the check
    # while its A query is outstanding. The callback must not run afterwards
    # (the next check's outcome would be corrupted) and nothing may leak
    # (the ASan build checks that).
    dns = dns_server(ZONE, timeout={"slow.example.com"})
    lines = (json.dumps({"id": "1", "ip": "192.0.2.25", "mailfrom": "a@example.com"}) + "\n" +
             json.dumps({"id": "2", "ip": "192.0.2.25", "mailfrom": "a@fast.example.com"}) + "\n")
    out = run(["--dns", dns.address, "--timeout-ms", "3000", "--deadline-ms", "300"], lines)
    assert [(o["id"], o["result"]) for o in out] == [("1", "driver-timeout"), ("2", "pass")]


def test_consecutive_checks_share_the_cache(dns_server):
    dns = dns_server(ZONE)
    check = json.dumps({"ip": "192.0.2.25", "helo": "h.example.org",
                        "mailfrom": "a@fast.example.com"}) + "\n"
    out = run(["--dns", dns.address], check * 3)
    assert [o["result"] for o in out] == ["pass"] * 3
    assert dns.count("fast.example.com", "TXT") == 1
    assert dns.count("fast.example.com", "MX") == 1
    assert dns.count("mx.fast.example.com", "A") == 1


def test_helo_identity_check(dns_server):
    """spf_check_helo_start(): RFC 7208 section 2.3, whatever MAIL FROM says."""
    dns = dns_server(ZONE)
    (out,) = run(["--dns", dns.address, "--ip", "192.0.2.25", "--helo", "helo.example.org",
                  "--from", "x@fast.example.com", "--helo-check"])
    assert (out["result"], out["identity"], out["domain"]) == ("pass", "helo",
                                                                "helo.example.org")
    assert dns.count("fast.example.com", "TXT") == 0


def test_trace_goes_through_the_log(dns_server):
    """--trace is log_trace = ["spf"]: SPF's state changes are debug lines of the
    daemon's one log (sys=spf), and nothing is traced without it."""
    dns = dns_server(ZONE)
    args = ["--dns", dns.address, "--ip", "192.0.2.25", "--helo", "h.example.org",
            "--from", "x@fast.example.com"]
    for trace in (False, True):
        proc = subprocess.run([str(DRIVER), *args, *(["--trace"] if trace else [])],
                              capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["result"] == "pass"
        lines = [ln for ln in proc.stderr.splitlines() if " sys=spf " in ln]
        if not trace:
            assert lines == [], proc.stderr
            continue
        assert lines and all(": debug sys=spf " in ln and " -> " in ln for ln in lines), \
            proc.stderr
