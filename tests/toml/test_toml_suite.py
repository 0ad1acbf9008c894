"""The toml-test suite (TOML 1.0 subset) against build/tests/toml-decoder.

One pytest case per file named in tests/files-toml-1.0.0 (the suite's own
list; see ../shared/testdata/toml-test/SOURCE.md). Valid cases must
decode to a value semantically equal to the .json twin; invalid cases must
be rejected with exit status 1 and a "line:col: message" on stderr.
"""
import json
import math
import pathlib
import re
import subprocess

import pytest

from gwpaths import BUILD, TESTDATA

SUITE = TESTDATA / "toml-test" / "tests"
LIST = SUITE / "files-toml-1.0.0"
DECODER = BUILD / "tests" / "toml-decoder"
TIMEOUT = 10  # seconds per document; the largest is a few KB


def _cases(kind):
    names = [l.strip() for l in LIST.read_text().splitlines() if l.strip()]
    return sorted(n for n in names if n.startswith(kind + "/") and n.endswith(".toml"))


VALID = _cases("valid")
INVALID = _cases("invalid")


def decode(path):
    return decode_bytes(pathlib.Path(path).read_bytes())


def decode_bytes(doc):
    assert DECODER.exists(), f"{DECODER} is not built"
    return subprocess.run([str(DECODER)], input=doc, capture_output=True,
                          timeout=TIMEOUT, check=False)


def float_value(text):
    # toml-test writes "inf", "+inf", "-nan" ... as Python does not.
    t = text.replace("_", "")
    if t.lstrip("+-") in ("inf", "nan"):
        return float(t)
    return float(t)


DT_RE = re.compile(
    r"^(?:(\d{4})-(\d{2})-(\d{2}))?[Tt ]?"
    r"(?:(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?)?"
    r"([Zz]|[+-]\d{2}:\d{2})?$")


def datetime_key(text):
    """A comparable tuple: fields, fraction to the millisecond, offset."""
    m = DT_RE.match(text)
    assert m, f"not an RFC 3339 value: {text!r}"
    y, mo, d, h, mi, s, frac, off = m.groups()
    ms = int((frac or "0").ljust(3, "0")[:3])
    if off in ("Z", "z", "+00:00", "-00:00"):
        off = "Z"
    return (y, mo, d, h, mi, s, ms, off)


def same_scalar(got, want, where):
    assert got["type"] == want["type"], f"{where}: type {got['type']} != {want['type']}"
    g, w = got["value"], want["value"]
    kind = want["type"]
    if kind == "integer":
        assert int(g) == int(w), f"{where}: {g} != {w}"
    elif kind == "float":
        gf, wf = float_value(g), float_value(w)
        if math.isnan(wf):
            assert math.isnan(gf), f"{where}: {g} is not nan"
        else:
            assert gf == wf and math.copysign(1, gf) == math.copysign(1, wf), \
                f"{where}: {g} != {w}"
    elif kind in ("datetime", "datetime-local", "date-local", "time-local"):
        assert datetime_key(g) == datetime_key(w), f"{where}: {g} != {w}"
    else:
        assert g == w, f"{where}: {g!r} != {w!r}"


def is_scalar(node):
    return (isinstance(node, dict) and set(node) == {"type", "value"}
            and isinstance(node["value"], str) and isinstance(node["type"], str))


def same(got, want, where="$"):
    if is_scalar(want):
        assert is_scalar(got), f"{where}: got {got!r}, want a {want['type']}"
        same_scalar(got, want, where)
    elif isinstance(want, dict):
        assert isinstance(got, dict) and not is_scalar(got), f"{where}: got {got!r}, want a table"
        assert sorted(got) == sorted(want), f"{where}: keys {sorted(got)} != {sorted(want)}"
        for k in want:
            same(got[k], want[k], f"{where}.{k}")
    elif isinstance(want, list):
        assert isinstance(got, list), f"{where}: got {got!r}, want an array"
        assert len(got) == len(want), f"{where}: {len(got)} elements, want {len(want)}"
        for i, (g, w) in enumerate(zip(got, want)):
            same(g, w, f"{where}[{i}]")
    else:
        raise AssertionError(f"{where}: unexpected JSON {want!r} in the suite")


def test_counts():
    # The suite's README promises these; a changed list must be noticed.
    assert (len(VALID), len(INVALID)) == (210, 499)


@pytest.mark.parametrize("name", VALID)
def test_valid(name):
    r = decode(SUITE / name)
    assert r.returncode == 0, f"rejected: {r.stderr.decode(errors='replace')}"
    want = json.loads((SUITE / name).with_suffix(".json").read_text(encoding="utf-8"))
    same(json.loads(r.stdout), want)


@pytest.mark.parametrize("name", INVALID)
def test_invalid(name):
    r = decode(SUITE / name)
    assert r.returncode == 1, f"accepted (rc {r.returncode}): {r.stdout[:300]!r}"
    assert re.match(rb"^\d+:\d+: \S", r.stderr), r.stderr
