"""Our own TOML cases, as data, beside the toml-test suite.

tests/toml/cases/valid/NAME.toml must decode to NAME.json (tagged JSON,
compared like the suite does); tests/toml/cases/invalid/NAME.toml must be
rejected with exactly the first line of NAME.err on stderr
("line:col: message"). Adding a case is adding two files.
"""
import json
import pathlib

import pytest

from test_toml_suite import decode, same

CASES = pathlib.Path(__file__).resolve().parent / "cases"
VALID = sorted(p.stem for p in (CASES / "valid").glob("*.toml"))
INVALID = sorted(p.stem for p in (CASES / "invalid").glob("*.toml"))


def test_cases_present():
    assert VALID and INVALID
    for name in VALID:
        assert (CASES / "valid" / f"{name}.json").exists(), name
    for name in INVALID:
        assert (CASES / "invalid" / f"{name}.err").exists(), name


@pytest.mark.parametrize("name", VALID)
def test_valid_case(name):
    r = decode(CASES / "valid" / f"{name}.toml")
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    want = json.loads((CASES / "valid" / f"{name}.json").read_text(encoding="utf-8"))
    same(json.loads(r.stdout), want)


@pytest.mark.parametrize("name", INVALID)
def test_invalid_case(name):
    r = decode(CASES / "invalid" / f"{name}.toml")
    want = (CASES / "invalid" / f"{name}.err").read_text(encoding="utf-8").splitlines()[0]
    assert r.returncode == 1
    assert r.stderr.decode(errors="replace").splitlines()[0] == want
