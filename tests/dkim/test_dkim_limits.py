"""Bounds of DKIM/ARC verification that must fail closed (issue 10):

- more than DKIM_MAX_HEADER_FIELDS (2,000) header fields: DKIM and ARC would
  see a cut header, so every signature is permerror and the chain fails;
- [auth] dkim_max_body_hashes (default 4) distinct body hashes per message:
  a signature that needs another is permerror "not evaluated", never pass,
  while signatures with an identical (canonicalisation, hash, l=) share
  one hash and still verify."""
import pytest

from dkimtest import check, rsa_key_record, write_zone

dkim = pytest.importorskip("dkim")
pytest.importorskip("cryptography.hazmat.primitives.serialization")

MSG = (b"From: Alice <alice@example.com>\r\n"
       b"To: Bob <bob@example.net>\r\n"
       b"Subject: limits\r\n"
       b"\r\n"
       b"Hello  Bob,\r\n"
       b"the body.\r\n")


@pytest.fixture(scope="module")
def key():
    return rsa_key_record()


def sign(msg, priv, canon=(b"relaxed", b"relaxed")):
    return dkim.sign(msg, b"sel", b"example.com", priv, canonicalize=canon,
                     include_headers=[b"from", b"to", b"subject"]) + msg


def decoy(canon, length):
    """A DKIM-Signature that needs a body hash of its own (its b= never verifies)."""
    l = f" l={length};" if length is not None else ""
    return (f"DKIM-Signature: v=1; a=rsa-sha256; c={canon}; d=decoy.example; s=s;{l}"
            f" h=from; bh=QUJD; b=QUJD\r\n").encode()


def run(tmp_path, msg, record, arc=False):
    path = tmp_path / "m.eml"
    path.write_bytes(msg)
    zone = write_zone(tmp_path / "zone", {"sel._domainkey.example.com": record})
    return check(path, zone=zone, arc=arc)


def test_valid_signature_beyond_the_body_hash_cap_is_not_evaluated(tmp_path, key):
    priv, record = key
    signed = sign(MSG, priv)  # relaxed/relaxed, whole body
    decoys = b"".join(decoy("simple/simple", n) for n in (1, 2, 3, 4))
    got = run(tmp_path, decoys + signed, record)["signatures"]
    assert len(got) == 5
    assert [s["result"] for s in got[:4]] == ["permerror"] * 4  # no key for decoy.example
    assert (got[4]["d"], got[4]["result"], got[4]["reason"]) == \
        ("example.com", "permerror", "not evaluated: body hash limit reached")


def test_signatures_sharing_a_body_hash_still_verify(tmp_path, key):
    priv, record = key
    signed = sign(MSG, priv)
    decoys = b"".join(decoy("relaxed/relaxed", None) for _ in range(6))
    got = run(tmp_path, decoys + signed, record)["signatures"]
    assert got[-1]["d"] == "example.com" and got[-1]["result"] == "pass", got[-1]


def pad(msg, n):
    """msg with n unsigned X-Pad fields added at the end of its header."""
    head, body = msg.split(b"\r\n\r\n", 1)
    return head + b"\r\n" + b"".join(b"X-Pad: %d\r\n" % i for i in range(n)) + b"\r\n" + body


def test_header_under_the_field_limit_verifies(tmp_path, key):
    priv, record = key
    got = run(tmp_path, pad(sign(MSG, priv), 1990), record)["signatures"]
    assert [s["result"] for s in got] == ["pass"]


def test_more_than_2000_header_fields_is_permerror(tmp_path, key):
    priv, record = key
    got = run(tmp_path, pad(sign(MSG, priv), 2001), record)["signatures"]
    assert [(s["result"], s["reason"]) for s in got] == \
        [("permerror", "more than 2000 header fields")]


def test_more_than_2000_header_fields_without_signature_is_permerror(tmp_path, key):
    _, record = key
    got = run(tmp_path, pad(MSG, 2001), record)["signatures"]
    assert [(s["result"], s["reason"]) for s in got] == \
        [("permerror", "more than 2000 header fields")]


def test_more_than_2000_header_fields_fails_arc(tmp_path, key):
    _, record = key
    got = run(tmp_path, pad(MSG, 2001), record, arc=True)
    assert (got["cv"], got["reason"]) == ("fail", "more than 2000 header fields")


def arc_sets(n):
    """n structurally valid ARC sets whose AMS each need a body hash of their own
    (distinct l=); no key is published, so nothing can pass."""
    out = b""
    for i in range(n, 0, -1):
        cv = "none" if i == 1 else "pass"
        out += (f"ARC-Seal: i={i}; a=rsa-sha256; cv={cv}; d=sealer{i}.example; s=s;"
                f" t=1700000000; b=QUJD\r\n"
                f"ARC-Message-Signature: i={i}; a=rsa-sha256; c=relaxed/relaxed;"
                f" d=sealer{i}.example; s=s; l={i}; h=from:to; bh=QUJD; b=QUJD\r\n"
                f"ARC-Authentication-Results: i={i}; mx{i}.example; spf=pass\r\n").encode()
    return out


def test_arc_hashes_the_newest_ams_first_and_stops_at_the_cap(tmp_path, key):
    """6 sets, 6 distinct AMS body hashes, cap 4: the newest AMS (the one the
    chain's validity needs) and the next 3 are hashed and looked up; the 2
    oldest are not evaluated, so their keys are not even asked for: 4 AMS
    + 6 AS = 10 key queries (12 without the bound)."""
    _, record = key
    got = run(tmp_path, arc_sets(6) + MSG, record, arc=True)
    assert got["cv"] == "fail" and got["reason"].startswith("i=6 AMS:"), got
    assert got["queries"] == 10, got
    assert [s["ams"] for s in got["sets"]] == ["permerror"] * 6
