"""The sender-authentication cases of auth_cases.yaml through auth.c
(build/tests/dmarc/auth-case) over an in-memory DNS zone: SPF at MAIL, DKIM,
ARC and DMARC at the end of data, the auth object, the Authentication-Results
field, the removal of forged ones, and the verdict under each policy. Each
case runs with DNS answered at once (a cache) and deferred (a resolver)."""
import json
import pathlib
import subprocess

import jsonschema
import pytest
import yaml

from gwpaths import BUILD, ROOT

HERE = pathlib.Path(__file__).resolve().parent
DATA = yaml.safe_load((HERE / "auth_cases.yaml").read_text())
MISSING = object()
SCHEMA = json.loads((ROOT / "docs" / "payload.schema.json").read_text())
AUTH_SCHEMA = dict(SCHEMA["$defs"]["auth"], **{"$defs": SCHEMA["$defs"]})


def runs():
    for case in DATA["cases"]:
        for deferred in (False, True):
            if case.get("deferred_only") and not deferred:
                continue
            yield pytest.param(case, deferred, id=f"{case['id']}{'-async' if deferred else ''}")


def lookup(obj, path):
    for part in path.split("."):
        if not isinstance(obj, dict) or part not in obj:
            return MISSING
        obj = obj[part]
    return obj


@pytest.mark.parametrize("case,deferred", list(runs()))
def test_auth_case(case, deferred):
    req = dict(DATA["defaults"])
    req.update({k: v for k, v in case.items() if k not in ("expect", "contains", "absent")})
    req["deferred"] = deferred
    if "psl_file" in req:
        req["psl_file"] = str(HERE / req["psl_file"])
    proc = subprocess.run([str(BUILD / "tests" / "dmarc" / "auth-case")], input=json.dumps(req),
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    if got.get("result") is not None:  # the auth object is what the payload schema describes
        jsonschema.validate(got["result"]["auth"], AUTH_SCHEMA)
    for path, want in case.get("expect", {}).items():
        assert lookup(got, path) == want, (path, want, got)
    for path, subs in case.get("contains", {}).items():
        text = lookup(got, path)
        assert isinstance(text, str), (path, got)
        for s in subs:
            assert s in text, (path, s, text)
    for path, subs in case.get("absent", {}).items():
        text = lookup(got, path)
        assert isinstance(text, str), (path, got)
        for s in subs:
            assert s not in text, (path, s, text)
