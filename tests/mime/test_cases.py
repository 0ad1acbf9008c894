"""The payload fixtures: tests/mime/cases/NAME.eml is parsed with
`smtp-gateway parse` and compared with NAME.json:

    {"options": ["--attachments=metadata", "--raw"],   optional, parse flags
     "warnings": ["code", ...],                        the exact set of warning codes
     "expect": {...}}                                  a subset of the payload

Every payload is also validated against docs/payload.schema.json. Adding a
case is adding two files."""
import json
import pathlib

import pytest

from mimecheck import parse, subset_errors, warning_codes

CASES = pathlib.Path(__file__).resolve().parent / "cases"
NAMES = sorted(p.stem for p in CASES.glob("*.eml"))


def test_every_case_has_its_expectation():
    assert len(NAMES) >= 40
    missing = [n for n in NAMES if not (CASES / f"{n}.json").exists()]
    assert not missing


@pytest.mark.parametrize("name", NAMES)
def test_case(gateway_bin, name):
    spec = json.loads((CASES / f"{name}.json").read_text())
    payload = parse(gateway_bin, CASES / f"{name}.eml", *spec.get("options", []))
    errs = subset_errors(spec["expect"], payload)
    assert not errs, "\n".join(errs)
    assert warning_codes(payload) == sorted(spec.get("warnings", [])), payload["warnings"]
