"""The external MIME suites (../shared/testdata/mime-*) as referee.

suites.py turns each suite's expectations into (file, field, expected, got)
comparisons of the facts both sides express. Every comparison must match,
except those listed in suite_differences.json, each with the convention (and
RFC section) that explains it. A new mismatch fails, and so does a listed
difference that has disappeared (the list must stay true)."""
import json
import pathlib

import pytest

import suites

KNOWN = json.loads((pathlib.Path(__file__).resolve().parent / "suite_differences.json").read_text())


@pytest.mark.parametrize("suite", sorted(suites.SUITES))
def test_suite(gateway_bin, suite):
    rows, bad = suites.report(suite)
    assert len(rows) >= 20
    got = {f"{f} | {field}": (want, mine) for f, field, want, mine in bad}
    known = KNOWN.get(suite, {})
    new = {k: v for k, v in got.items() if k not in known}
    gone = sorted(k for k in known if k not in got)
    print(f"{suite}: {len(rows) - len(bad)}/{len(rows)} match, {len(bad)} known differences")
    assert not new, "new mismatches:\n" + "\n".join(
        f"{k}: want {w!r:.200} got {g!r:.200}" for k, (w, g) in new.items())
    assert not gone, f"listed differences that now match (remove them): {gone}"
    assert all(isinstance(r, str) and r for r in known.values())
