"""Helpers of the payload tests: run `smtp-gateway parse`, validate against
docs/payload.schema.json, compare with an expected subset."""
import json
import pathlib
import subprocess

import jsonschema

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
SCHEMA = json.loads((ROOT / "docs" / "payload.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
PARSE_TIMEOUT = 120  # seconds; the largest input (a 50 MB message) needs a few


def parse(gateway_bin, path, *flags, stdin=None):
    """The payload of one message file (or stdin with path '-'), validated."""
    proc = subprocess.run([str(gateway_bin), "parse", *flags, str(path)], input=stdin,
                          capture_output=True, timeout=PARSE_TIMEOUT)
    assert proc.returncode == 0, f"parse {path} exited {proc.returncode}: {proc.stderr[-2000:]!r}"
    payload = json.loads(proc.stdout)
    errors = sorted(VALIDATOR.iter_errors(payload), key=lambda e: list(e.path))
    assert not errors, f"{path}: schema: " + "; ".join(
        f"{'/'.join(map(str, e.path))}: {e.message[:200]}" for e in errors[:5])
    return payload


def subset_errors(want, got, path="$"):
    """Where got differs from want: dicts are compared on want's keys, lists
    element by element and in full length, scalars exactly."""
    if isinstance(want, dict):
        if not isinstance(got, dict):
            return [f"{path}: want an object, got {got!r:.80}"]
        errs = []
        for k, v in want.items():
            if k not in got:
                errs.append(f"{path}.{k}: missing")
            else:
                errs += subset_errors(v, got[k], f"{path}.{k}")
        return errs
    if isinstance(want, list):
        if not isinstance(got, list) or len(got) != len(want):
            return [f"{path}: want {len(want)} items, got {got!r:.300}"]
        errs = []
        for i, (w, g) in enumerate(zip(want, got)):
            errs += subset_errors(w, g, f"{path}[{i}]")
        return errs
    if want != got or type(want) is not type(got):
        return [f"{path}: want {want!r:.200}, got {got!r:.200}"]
    return []


def warning_codes(payload):
    return sorted({w["code"] for w in payload["warnings"]})
