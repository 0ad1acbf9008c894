"""Runs the openspf YAML test suites (RFC 7208, RFC 4408, pyspf's extras).

Helpers for test_spf_suite.py: load a suite, serve one scenario's zonedata
from tests/dnsserver.py with the reference driver's semantics (pyspf
test/testspf.py, described in the suite's SOURCE.md), run build/tests/spf/
spf_check once per scenario over real UDP/TCP DNS on 127.0.0.1.
"""
import json
import subprocess

import yaml

from dnsserver import DNSServer

QTYPES = ("A", "AAAA", "MX", "TXT", "PTR", "CNAME", "SPF")
DRIVER_TIMEOUT_S = 300  # a whole scenario; the driver bounds each check itself


def load(path):
    """[(scenario_index, description, zonedata, {test_name: case})]"""
    with open(path, "rb") as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    return [(i, d.get("description", ""), d.get("zonedata") or {}, d["tests"])
            for i, d in enumerate(docs)]


def _entries(records):
    """pyspf's getrdata(): "TXT: NONE" only stops SPF->TXT copying; SPF is also TXT."""
    out, spf_as_txt, copy = [], [], True
    for rec in records:
        if rec in ("TIMEOUT", "SERVFAIL"):
            out.append(rec)
            continue
        (rtype, value), = rec.items()
        if rtype == "TXT":
            copy = False
        elif rtype == "SPF":
            spf_as_txt.append(("TXT", value))
        if value != "NONE":
            out.append((rtype, value))
    return out + (spf_as_txt if copy else [])


def zone(zonedata):
    """(records, timeouts) for DNSServer.

    A TIMEOUT entry makes every query type with no record listed before it
    time out; records after it are never served (pyspf's DNSLookup()).
    """
    records, timeouts, servfails = {}, set(), set()
    for name, recs in zonedata.items():
        served, seen_types, timed_out = [], set(), False
        for e in _entries(recs):
            if e == "SERVFAIL":  # our extension, for tests/spf/cases
                servfails.add(name)
                break
            if e == "TIMEOUT":
                timed_out = True
                break
            rtype, value = e
            if rtype == "MX":
                value = (value[0], value[1])
            served.append((rtype, value))
            seen_types.add(rtype)
        if timed_out:
            timeouts.update((name, t) for t in QTYPES if t not in seen_types)
        if served:
            records[name] = served
        elif not timed_out:
            records[name] = []
    return {n: r for n, r in records.items() if r}, timeouts, servfails


def run_scenario(driver, zonedata, tests, extra_args=()):
    """{test_name: outcome dict} for every test of one scenario."""
    records, timeouts, servfails = zone(zonedata)
    lines = "".join(json.dumps({"id": name, "ip": str(case["host"]),
                                "helo": str(case.get("helo", "")),
                                "mailfrom": str(case.get("mailfrom", ""))}) + "\n"
                    for name, case in tests.items())
    with DNSServer(records, timeout=timeouts, servfail=servfails) as dns:
        proc = subprocess.run(
            [str(driver), "--dns", dns.address, "--timeout-ms", "300", "--tries", "1",
             "--default-exp", "DEFAULT", "--hostname", "localhost", *extra_args],
            input=lines, capture_output=True, text=True, timeout=DRIVER_TIMEOUT_S)
    if proc.returncode != 0:
        raise RuntimeError(f"spf_check exited {proc.returncode}: {proc.stderr}")
    out = {}
    for line in proc.stdout.splitlines():
        o = json.loads(line)
        out[o["id"]] = o
    return out


def verdict(case, outcome):
    """None when outcome satisfies case, else a message."""
    want = case["result"]
    want = [w.lower() for w in (want if isinstance(want, list) else [want])]
    got = outcome.get("result")
    if got not in want:
        return f"result {got!r}, want one of {want} ({outcome.get('reason')})"
    if "explanation" in case and outcome.get("explanation") != case["explanation"]:
        return f"explanation {outcome.get('explanation')!r}, want {case['explanation']!r}"
    if outcome.get("result") != "fail" and outcome.get("explanation") is not None:
        return f"explanation {outcome.get('explanation')!r} on a {outcome.get('result')} result"
    for key in ("mechanism", "lookups", "voids", "identity", "domain"):
        if key in case and outcome.get(key) != case[key]:
            return f"{key} {outcome.get(key)!r}, want {case[key]!r}"
    return None
