"""Differential test: our decoder against Python's tomllib (TOML 1.0).

Seeded, deterministic mutations of the toml-test valid documents (bytes
deleted, TOML tokens inserted, runs duplicated) must be accepted or refused
by both parsers alike, and when accepted decode to the same values. The
only differences allowed are the ones TOML 1.0 asks of us and tomllib does
not do: integers outside int64 and floats that overflow to infinity are
errors here ("must be thrown" / binary64), and a byte order mark at the
start is allowed here (toml-test valid/utf8-bom-*) while tomllib.loads()
refuses it.
"""
import datetime
import json
import math
import tomllib

import pytest

from test_toml_suite import SUITE, decode_bytes, same
import gwrandom

SEED = 20261129
CASES = 1200  # about 4 seconds; raise locally for a longer hunt
BATCH = 100

TOKENS = [b"[", b"]", b"{", b"}", b"=", b",", b".", b'"', b"'", b'"""', b"'''", b"\n",
          b"\r\n", b" ", b"\\", b"#", b"1", b"-", b"+", b"_", b"e", b"T", b"Z", b":",
          b"0x", b"inf", b"nan", b"a", b"1979-05-27", b"07:32:00", b"[[", b"]]"]


def seeds():
    paths = sorted((SUITE / "valid").rglob("*.toml"))
    return [p.read_bytes() for p in paths if not p.read_bytes().startswith(b"\xef\xbb\xbf")]


def mutate(rnd, doc):
    s = bytearray(doc)
    for _ in range(rnd.randint(1, 3)):
        p = rnd.randint(0, len(s))
        op = rnd.randint(0, 2)
        if op == 0 and s:
            del s[p:p + rnd.randint(1, 4)]
        elif op == 1:
            s[p:p] = rnd.choice(TOKENS)
        elif s:
            q = rnd.randint(0, len(s))
            s[p:p + rnd.randint(1, 4)] = s[q:q + rnd.randint(1, 8)]
    return bytes(s)


def tagged(v):
    """tomllib's value in toml-test's tagged JSON."""
    if isinstance(v, dict):
        return {k: tagged(x) for k, x in v.items()}
    if isinstance(v, list):
        return [tagged(x) for x in v]
    if isinstance(v, bool):
        return {"type": "bool", "value": "true" if v else "false"}
    if isinstance(v, int):
        return {"type": "integer", "value": str(v)}
    if isinstance(v, float):
        return {"type": "float", "value": repr(v)}
    if isinstance(v, str):
        return {"type": "string", "value": v}
    if isinstance(v, datetime.datetime):
        kind = "datetime-local" if v.tzinfo is None else "datetime"
        return {"type": kind, "value": v.isoformat()}
    if isinstance(v, datetime.date):
        return {"type": "date-local", "value": v.isoformat()}
    if isinstance(v, datetime.time):
        return {"type": "time-local", "value": v.isoformat()}
    raise TypeError(type(v))


def beyond_binary64_or_int64(v):
    if isinstance(v, dict):
        return any(beyond_binary64_or_int64(x) for x in v.values())
    if isinstance(v, list):
        return any(beyond_binary64_or_int64(x) for x in v)
    if isinstance(v, bool):
        return False
    if isinstance(v, int):
        return not -2**63 <= v < 2**63
    return isinstance(v, float) and math.isinf(v)


def reference(doc):
    try:
        return True, tomllib.loads(doc.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False, None


def documents(batch):
    rnd = gwrandom.rng(SEED + batch)
    base = seeds()
    return [mutate(rnd, rnd.choice(base)) for _ in range(BATCH)]


@pytest.mark.parametrize("batch", range(CASES // BATCH))
def test_agrees_with_tomllib(batch):
    for i, doc in enumerate(documents(batch)):
        ok, ref = reference(doc)
        r = decode_bytes(doc)
        where = f"batch {batch} case {i}: {doc[:200]!r}"
        if ok and r.returncode == 1 and b"out of range" in r.stderr:
            assert beyond_binary64_or_int64(ref), where
            continue
        assert r.returncode == (0 if ok else 1), f"{where}: ours {r.stderr!r}"
        if ok:
            same(json.loads(r.stdout), tagged(ref))
