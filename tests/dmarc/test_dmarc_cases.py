"""Every case of testdata/dmarc/cases.yaml (and of our cases_local.yaml), in the mode its `spec` names
(`both`: in RFC 9989 tree-walk mode and in RFC 7489 PSL mode), through the C
evaluator (build/tests/dmarc/dmarc-case) over an in-memory DNS zone. Each case
also runs with deferred DNS answers, so both the cache-hit and the
asynchronous paths are exercised.

Cases where we believe the expectation contradicts the RFC are listed in
disputed.yaml, each with the section that says so and what the RFC requires;
for those the RFC's answer is asserted instead, and the test says so."""
import json
import pathlib
import subprocess

import pytest
import yaml

from gwpaths import BUILD, TESTDATA

HERE = pathlib.Path(__file__).resolve().parent
CASES = yaml.safe_load((TESTDATA / "dmarc" / "cases.yaml").read_text())["cases"]
LOCAL = yaml.safe_load((HERE / "cases_local.yaml").read_text())["cases"]
DISPUTED = {d["id"]: d for d in yaml.safe_load((HERE / "disputed.yaml").read_text())["disputed"]}
PSL_FILE = TESTDATA / "dmarc" / "psl" / "public_suffix_list.dat"


def runs():
    for case in CASES + LOCAL:
        modes = ["rfc9989", "rfc7489"] if case["spec"] == "both" else [case["spec"]]
        for mode in modes:
            for deferred in (False, True):
                yield pytest.param(case, mode, deferred,
                                   id=f"{case['id']}-{mode}{'-async' if deferred else ''}")


def evaluate(case, mode, deferred):
    req = dict(case, mode=mode, deferred=deferred, psl_file=str(PSL_FILE))
    req.pop("expect", None)
    proc = subprocess.run([str(BUILD / "tests" / "dmarc" / "dmarc-case")],
                          input=json.dumps(req), capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize("case,mode,deferred", list(runs()))
def test_case(case, mode, deferred):
    got = evaluate(case, mode, deferred)
    expect = case["expect"]
    disputed = DISPUTED.get(case["id"])
    if disputed and mode in disputed["modes"]:
        expect = disputed["rfc_expect"]
    for key, want in expect.items():
        if key == "rr_contains":
            assert want in (got["rr"] or ""), (key, got)
        else:
            assert got[key] == want, (key, want, got)


def test_disputed_cases_exist():
    """Every disputed id names a real case and gives its reason."""
    ids = {c["id"] for c in CASES}
    for d in DISPUTED.values():
        assert d["id"] in ids
        assert d["rfc"] and d["why"]
