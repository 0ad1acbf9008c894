"""The DKIM vectors of ../shared/testdata/dkim (vectors.yaml): pre-signed
messages verified with their DNS records, the result of each signature
compared top to bottom; the body-hash vectors; and the dkimpy key records
meant to make verification fail, published for a message dkimpy signs here."""
import json
import re
import subprocess

import pytest
import yaml

from dkimtest import TESTDATA, DKIM_CHECK, check, write_zone

DATA = TESTDATA / "dkim"
VECTORS = yaml.safe_load((DATA / "vectors.yaml").read_text())


def record_text(txt):
    m = re.fullmatch(r"\(contents of (.+)\)", txt.strip())
    return (DATA / m.group(1)).read_text().strip() if m else txt


@pytest.mark.parametrize("vec", VECTORS["messages"], ids=lambda v: v["file"])
def test_message(tmp_path, vec):
    zone = write_zone(tmp_path / "zone",
                      {k: record_text(v) for k, v in vec["dns"].items()})
    got = check(DATA / vec["file"], zone=zone, lf=True)["signatures"]
    assert len(got) == len(vec["expect"])
    for g, want in zip(got, vec["expect"]):
        assert g["result"] == want["result"], g["reason"]
        assert g["d"] == want["d"] and g["s"] == want["s"] and g["a"] == want["a"]
        if "c" in want:
            assert g["c"] == want["c"]
        if "i" in want:
            assert g["i"] == want["i"]
        if "reason" in want:
            assert want["reason"].startswith(g["reason"])
        if g["result"] == "pass":
            assert len(g["b"]) >= 8 and g["key_bits"] >= 256


def body_of(vec):
    if "body_bytes" in vec:
        return vec["body_bytes"].encode()
    raw = (DATA / vec["body_file"]).read_bytes().replace(b"\r\n", b"\n")
    raw = raw.replace(b"\n", b"\r\n")
    return raw.split(b"\r\n\r\n", 1)[1]


def bh_cases():
    for n, vec in enumerate(VECTORS["body_hashes"]):
        for canon in ("simple", "relaxed"):
            for alg, want in vec.get(canon, {}).items():
                if alg in ("sha1", "sha256"):
                    yield pytest.param(vec, canon, alg, want, id=f"{n}-{canon}-{alg}")


@pytest.mark.parametrize("vec,canon,alg,want", list(bh_cases()))
def test_body_hash(tmp_path, vec, canon, alg, want):
    body = tmp_path / "body"
    body.write_bytes(body_of(vec))
    spec = f"{canon}:{alg}"
    if "length_limit" in vec:
        spec += f":{vec['length_limit']}"
    p = subprocess.run([str(DKIM_CHECK), "--bh", spec, str(body)], capture_output=True,
                       timeout=30)
    assert p.returncode == 0
    assert json.loads(p.stdout)["bh"] == want


NEGATIVE = {
    "badversion.txt": ("permerror", "key record has a bad v="),
    "badk.txt": ("permerror", "unknown key type k="),
    "test_bad.txt": ("permerror", "key data invalid"),
    "test_tlsrpt.txt": ("permerror", "key not for email (s=)"),
    "test.txt": ("pass", ""),
}


@pytest.mark.parametrize("record", sorted(NEGATIVE))
def test_dkimpy_key_records(tmp_path, record):
    dkim = pytest.importorskip("dkim")
    msg = (DATA / "dkimpy" / "test.message").read_bytes().replace(b"\r\n", b"\n")
    msg = msg.replace(b"\n", b"\r\n")
    key = (DATA / "dkimpy" / "test.private").read_bytes()
    sig = dkim.sign(msg, b"test", b"example.com", key, include_headers=[b"from", b"subject"])
    (tmp_path / "m.eml").write_bytes(sig + msg)
    zone = write_zone(tmp_path / "zone", {
        "test._domainkey.example.com": (DATA / "dkimpy" / record).read_text().strip()})
    got = check(tmp_path / "m.eml", zone=zone)["signatures"]
    want_result, want_reason = NEGATIVE[record]
    assert [(g["result"], g["reason"]) for g in got] == [(want_result, want_reason)]
