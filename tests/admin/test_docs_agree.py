"""Doc/code mismatches found by issue 13, kept from coming back: what
`[auth] arc = "enforce"` does is read from the verdict table of
gateway/auth/auth_results.c, and docs/configuration.md (generated from the
key table) and docs/authentication.md must both say it."""
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent


def arc_rows():
    src = (ROOT / "gateway" / "auth" / "auth_results.c").read_text()
    rows = {}
    for name in ("V_ARC_FAIL", "V_ARC_TEMP"):
        m = re.search(r"\[" + name + r"\]\s*=\s*\{AUTH_\w+,\s*(\d+),\s*\"([\d.]+)\"", src)
        assert m, name
        rows[name] = (m.group(1), m.group(2))
    return rows


def test_arc_enforce_refuses_in_every_doc():
    rows = arc_rows()
    assert rows["V_ARC_FAIL"][0] == "550"  # enforce refuses; it does not act as annotate
    conf = (ROOT / "docs" / "configuration.md").read_text()
    arc_line = next(ln for ln in conf.splitlines() if ln.startswith("| `arc` |"))
    auth = (ROOT / "docs" / "authentication.md").read_text()
    for code, status in rows.values():
        assert f"{code} {status}" in arc_line, arc_line
        assert status in auth
    assert "acts as annotate" not in arc_line
