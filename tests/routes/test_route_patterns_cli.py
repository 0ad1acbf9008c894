"""Routing-table diagnostics through the real loader: `smtp-gateway check`.

route_table_build() reports a malformed pattern as an error and a pattern
that can never match as a warning, each at the pattern's own line:column in
gateway.toml (the opening quote of the string, in a list or alone). These
tests write a gateway.toml, run check, and hold every message's position
against the one computed here from the text.
"""
import subprocess

import pytest

HEAD = """[[listener]]
address = "127.0.0.1:2525"
"""


def route(name, *patterns):
    if len(patterns) == 1:
        match = f'"{patterns[0]}"'
    else:
        match = "[" + ", ".join(f'"{p}"' for p in patterns) + "]"
    return f'\n[[route]]\nname = "{name}"\nmatch = {match}\nurl = "http://127.0.0.1:9/{name}"\n'


def position(text, pattern):
    """line:col of "pattern" (its opening quote) in text; columns count bytes,
    as include/toml.h says positions do."""
    data, needle = text.encode(), f'"{pattern}"'.encode()
    offset = data.index(needle)
    line = data.count(b"\n", 0, offset) + 1
    col = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
    return f"{line}:{col}"


def check(gateway_bin, tmp_path, text):
    path = tmp_path / "gateway.toml"
    path.write_text(text)
    r = subprocess.run([str(gateway_bin), "check", "-c", str(path)], capture_output=True,
                       text=True, timeout=30)
    prefix = f"{path}:"
    lines = [l[len(prefix):] for l in r.stderr.splitlines() if l.startswith(prefix)]
    return r.returncode, lines


def test_shadowed_patterns_warn_at_their_position(gateway_bin, tmp_path):
    text = (HEAD
            + route("first", "support@example.com", "billing-*@example.com", "*@example.org",
                    "*@*.example.net")
            + route("second", "SUPPORT@Example.COM", "ok@example.com")
            + route("third", "billing-**@example.com", "*@EXAMPLE.ORG", "*@*.Example.NET")
            + route("idn", "a@bücher.example", "a@xn--bcher-kva.example"))
    rc, lines = check(gateway_bin, tmp_path, text)
    assert rc == 0, lines
    want = sorted([
        position(text, "SUPPORT@Example.COM"),
        position(text, "billing-**@example.com"),
        position(text, "*@EXAMPLE.ORG"),
        position(text, "*@*.Example.NET"),
        position(text, "a@xn--bcher-kva.example"),
    ])
    got = sorted(l.split(": ", 1)[0] for l in lines if "can never match" in l)
    assert got == want, lines
    assert all(": warning: " in l for l in lines if "can never match" in l)


BAD = [
    ("example.com", "no '@'"),
    ("@example.com", "empty local part"),
    ("a@*.example.com", "needs '*' as the local part"),
    ("*@*", "'*' in a domain"),
    ("a@[192.0.2.1]", "address literal"),
    ("a@exa_mple.com", "invalid domain"),
    ("a,b@example.com", "character not allowed"),
]


def test_malformed_patterns_are_errors_at_their_position(gateway_bin, tmp_path):
    text = HEAD + route("good", "ok@example.com") + route("bad", *[p for p, _ in BAD])
    rc, lines = check(gateway_bin, tmp_path, text)
    assert rc != 0
    for pattern, why in BAD:
        pos = position(text, pattern)
        hits = [l for l in lines if l.startswith(f"{pos}: invalid match pattern")]
        assert len(hits) == 1, (pattern, lines)
        assert why in hits[0], hits[0]


@pytest.mark.parametrize("pattern", [p for p, _ in BAD])
def test_one_malformed_pattern_alone_fails_the_load(gateway_bin, tmp_path, pattern):
    text = HEAD + route("bad", pattern)
    rc, lines = check(gateway_bin, tmp_path, text)
    assert rc != 0
    assert any(l.startswith(position(text, pattern) + ": invalid match pattern")
               for l in lines), lines
