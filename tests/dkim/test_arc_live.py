"""ARC chains sealed live by dkimpy (dkim.arc_sign; Debian python3-dkim and
python3-authres) with fresh RSA keys, validated by dkim_check --arc: chains
of 1 to 3 hops, a body changed by an intermediary before the next hop
(oldest_pass), changes after the last seal, broken sets, and DNS failures,
including one chain through the real c-ares resolver on loopback."""
import pytest

from dkimtest import check, rsa_key_record, write_zone
from dnsserver import dns_server  # noqa: F401 (fixture)

dkim = pytest.importorskip("dkim")
pytest.importorskip("authres")
pytest.importorskip("cryptography.hazmat.primitives.serialization")

MSG = (b"From: Alice <alice@origin.example>\r\n"
       b"To: list@lists.example\r\n"
       b"Subject: ARC test\r\n"
       b"Date: Sun, 29 Nov 2026 12:00:00 +0000\r\n"
       b"Message-ID: <arc-1@origin.example>\r\n"
       b"\r\n"
       b"Hello list.\r\n")

HOPS = [(b"lists.example", b"mx.lists.example"), (b"fwd.example", b"mx.fwd.example"),
        (b"relay.example", b"mx.relay.example")]


@pytest.fixture(scope="module")
def keys():
    return {domain: rsa_key_record() for domain, _ in HOPS}


def records(keys):
    return {f"arc._domainkey.{d.decode()}": rec for d, (_, rec) in keys.items()}


def seal(msg, keys, hop, cv):
    domain, srv = HOPS[hop]
    ar = b"Authentication-Results: " + srv + b"; spf=pass smtp.mailfrom=origin.example"
    if cv:
        ar += b"; arc=" + cv
    msg = ar + b"\r\n" + msg
    hdrs = dkim.arc_sign(msg, b"arc", domain, keys[domain][0], srv,
                         include_headers=[b"from", b"to", b"subject", b"date", b"message-id"])
    assert hdrs, "dkimpy refused to seal"
    return b"".join(hdrs) + msg


def chain(keys, n, between=None):
    m = MSG
    for hop in range(n):
        if between and hop in between:
            m = between[hop](m)
        m = seal(m, keys, hop, None if hop == 0 else b"pass")
    return m


def arc(tmp_path, msg, recs, **kw):
    path = tmp_path / "m.eml"
    path.write_bytes(msg)
    return check(path, zone=write_zone(tmp_path / "zone", recs), arc=True, **kw)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_chain_passes(tmp_path, keys, n):
    got = arc(tmp_path, chain(keys, n), records(keys))
    assert (got["cv"], got["n"], got["oldest_pass"]) == ("pass", n, 0), got["reason"]
    assert [s["ams_d"] for s in got["sets"]] == [d.decode() for d, _ in HOPS[:n]]
    assert [s["authserv_id"] for s in got["sets"]] == [s.decode() for _, s in HOPS[:n]]
    assert all(s["ams"] == "pass" and s["as"] == "pass" for s in got["sets"])


def test_no_arc_is_none(tmp_path, keys):
    got = arc(tmp_path, MSG, records(keys))
    assert (got["cv"], got["n"]) == ("none", 0)


def test_footer_added_before_hop2_sets_oldest_pass(tmp_path, keys):
    footer = {1: lambda m: m + b"-- \r\nlist footer\r\n"}
    got = arc(tmp_path, chain(keys, 3, between=footer), records(keys))
    assert (got["cv"], got["oldest_pass"]) == ("pass", 2), got["reason"]
    assert [s["ams"] for s in got["sets"]] == ["fail", "pass", "pass"]


def test_body_changed_after_last_seal(tmp_path, keys):
    m = chain(keys, 2) + b"appended\r\n"
    got = arc(tmp_path, m, records(keys))
    assert (got["cv"], got["reason"]) == ("fail", "i=2 AMS: body hash mismatch")


def test_signed_header_changed_after_last_seal(tmp_path, keys):
    m = chain(keys, 2).replace(b"Subject: ARC test", b"Subject: ARC t3st")
    got = arc(tmp_path, m, records(keys))
    assert (got["cv"], got["reason"]) == ("fail", "i=2 AMS: signature verification failed")


def test_older_aar_changed_breaks_seals(tmp_path, keys):
    m = chain(keys, 2).replace(b"i=1; mx.lists.example; spf=pass",
                               b"i=1; mx.lists.example; spf=fail")
    got = arc(tmp_path, m, records(keys))
    assert got["cv"] == "fail" and got["reason"].startswith("i=2 AS:"), got["reason"]


def test_missing_set_member(tmp_path, keys):
    lines = chain(keys, 2).split(b"\r\n")
    start = next(i for i, l in enumerate(lines) if l.startswith(b"ARC-Authentication-Results: i=1"))
    end = start + 1
    while lines[end][:1] in (b" ", b"\t"):
        end += 1
    m = b"\r\n".join(lines[:start] + lines[end:])
    got = arc(tmp_path, m, records(keys))
    assert (got["cv"], got["reason"]) == ("fail", "i=1: incomplete ARC set")


def test_key_tempfail_is_temporary(tmp_path, keys):
    recs = records(keys)
    recs["arc._domainkey.lists.example"] = "!TEMPFAIL"
    got = arc(tmp_path, chain(keys, 2), recs)
    assert (got["cv"], got["temporary"]) == ("fail", True)
    assert got["reason"] == "i=1 AS: key query failed"


def test_short_key_fails_chain(tmp_path, keys):
    got = arc(tmp_path, chain(keys, 1), records(keys), min_bits=4096)
    assert (got["cv"], got["reason"]) == ("fail", "i=1 AMS: key too short")


def test_over_real_dns(tmp_path, keys, dns_server):
    recs = {name: [("TXT", [rec[:200], rec[200:]])] for name, rec in records(keys).items()}
    dns = dns_server(recs)
    path = tmp_path / "m.eml"
    path.write_bytes(chain(keys, 3))
    got = check(path, dns=dns.address, arc=True)
    assert (got["cv"], got["n"]) == ("pass", 3), got["reason"]
