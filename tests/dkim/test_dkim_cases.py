"""DKIM cases as data (tests/dkim/cases/README.md): NAME.eml verified with
NAME.zone at the time in NAME.json, each signature compared with the fields
NAME.json lists."""
import json
import pathlib

import pytest

from dkimtest import check

CASES = pathlib.Path(__file__).resolve().parent / "cases"


@pytest.mark.parametrize("eml", sorted(CASES.glob("*.eml")), ids=lambda p: p.stem)
def test_case(eml):
    want = json.loads(eml.with_suffix(".json").read_text())
    got = check(eml, zone=eml.with_suffix(".zone"), lf=True, now=want["now"])["signatures"]
    assert len(got) == len(want["signatures"])
    for g, w in zip(got, want["signatures"]):
        assert {k: g[k] for k in w} == w
