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


def test_examples_are_valid_payloads():
    import json as _json
    from mimecheck import ROOT, VALIDATOR
    examples = sorted((ROOT / "examples" / "payloads").glob("*.json"))
    assert len(examples) >= 4
    for f in examples:
        errors = list(VALIDATOR.iter_errors(_json.loads(f.read_text())))
        assert not errors, f"{f.name}: {errors[0].message}"


def test_parse_reads_stdin_and_pretty_prints(gateway_bin):
    path = CASES / "client-gmail.eml"
    from_file = parse(gateway_bin, path)
    from_stdin = parse(gateway_bin, "-", "--pretty", stdin=path.read_bytes())
    assert from_file == from_stdin


def test_parse_rejects_bad_usage(gateway_bin):
    import subprocess
    for args in ([], ["--attachments=sometimes", "x.eml"], ["--bogus", "x.eml"]):
        proc = subprocess.run([str(gateway_bin), "parse", *args], capture_output=True, timeout=30)
        assert proc.returncode == 2 and b"usage" in proc.stderr
    proc = subprocess.run([str(gateway_bin), "parse", "/nonexistent.eml"], capture_output=True,
                          timeout=30)
    assert proc.returncode == 1 and b"/nonexistent.eml" in proc.stderr
