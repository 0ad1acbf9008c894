"""Messages signed live by dkimpy (Debian python3-dkim) with freshly made
keys (RSA-2048, RSA-1024, RSA-512, Ed25519), verified by dkim_check: every
canonicalisation, l=, over-signed h=, rsa-sha1, key record variants, time
limits; alterations that must break a signature and those relaxed
canonicalisation must tolerate. A few go through the real c-ares resolver
against tests/dnsserver.py on loopback."""
import base64
import re
import time

import pytest

from dkimtest import check, write_zone
from dnsserver import dns_server  # noqa: F401 (fixture)

dkim = pytest.importorskip("dkim")
serialization = pytest.importorskip("cryptography.hazmat.primitives.serialization")
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa  # noqa: E402

DOMAIN = b"example.com"
MSG = (b"From: Alice Example <alice@example.com>\r\n"
       b"To: Bob <bob@example.net>\r\n"
       b"Subject: Quarterly   report\r\n"
       b"Date: Sun, 29 Nov 2026 12:00:00 +0000\r\n"
       b"Message-ID: <live-1@example.com>\r\n"
       b"\r\n"
       b"Hello Bob,\r\n"
       b"\r\n"
       b"Here  are the  figures.\t \r\n"
       b"-- \r\n"
       b"Alice\r\n")


class Key:
    def __init__(self, kind, bits=0):
        self.kind = kind
        if kind == "rsa":
            k = rsa.generate_private_key(public_exponent=65537, key_size=bits)
            self.private = k.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.TraditionalOpenSSL,
                                           serialization.NoEncryption())
            pub = k.public_key()
            self.spki = pub.public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
            self.pkcs1 = pub.public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.PKCS1)
        else:
            k = ed25519.Ed25519PrivateKey.generate()
            seed = k.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                   serialization.NoEncryption())
            self.private = base64.b64encode(seed)
            self.spki = k.public_key().public_bytes(serialization.Encoding.Raw,
                                                    serialization.PublicFormat.Raw)

    def record(self, extra="", der=None):
        p = base64.b64encode(der if der is not None else self.spki).decode()
        k = "rsa" if self.kind == "rsa" else "ed25519"
        return f"v=DKIM1; k={k};{extra} p={p}"

    @property
    def alg(self):
        return b"rsa-sha256" if self.kind == "rsa" else b"ed25519-sha256"


@pytest.fixture(scope="module")
def keys():
    return {"rsa2048": Key("rsa", 2048), "rsa1024": Key("rsa", 1024),
            "rsa512": Key("rsa", 512), "ed25519": Key("ed25519")}


def sign(msg, key, sel=b"sel", canon=(b"relaxed", b"relaxed"), headers=None, length=False,
         alg=None, identity=None):
    hdrs = headers or [b"from", b"to", b"subject", b"date", b"message-id"]
    sig = dkim.sign(msg, sel, DOMAIN, key.private, canonicalize=canon, include_headers=hdrs,
                    length=length, signature_algorithm=alg or key.alg, identity=identity)
    return sig + msg


def verify(tmp_path, msg, records, **kw):
    path = tmp_path / "m.eml"
    path.write_bytes(msg)
    zone = write_zone(tmp_path / "zone", records)
    return check(path, zone=zone, **kw)["signatures"]


def one(tmp_path, msg, key, sel="sel", extra="", **kw):
    got = verify(tmp_path, msg, {f"{sel}._domainkey.example.com": key.record(extra)}, **kw)
    assert len(got) == 1
    return got[0]


CANONS = [(b"simple", b"simple"), (b"relaxed", b"relaxed"), (b"simple", b"relaxed"),
          (b"relaxed", b"simple")]


@pytest.mark.parametrize("name", ["rsa2048", "rsa1024", "ed25519"])
@pytest.mark.parametrize("canon", CANONS, ids=lambda c: b"/".join(c).decode())
def test_pass(tmp_path, keys, name, canon):
    key = keys[name]
    r = one(tmp_path, sign(MSG, key, canon=canon), key)
    assert r["result"] == "pass", r["reason"]
    assert r["c"] == b"/".join(canon).decode()
    assert r["a"] == key.alg.decode() and r["d"] == "example.com" and r["s"] == "sel"
    assert r["key_bits"] == {"rsa2048": 2048, "rsa1024": 1024, "ed25519": 256}[name]
    assert r["weak"] is False and r["l"] is False


def test_rsa512_refused(tmp_path, keys):
    r = one(tmp_path, sign(MSG, keys["rsa512"]), keys["rsa512"])
    assert (r["result"], r["reason"], r["key_bits"]) == ("policy", "key too short", 512)


def test_rsa512_accepted_when_policy_allows(tmp_path, keys):
    r = one(tmp_path, sign(MSG, keys["rsa512"]), keys["rsa512"], min_bits=512)
    assert r["result"] == "pass"


def test_rsa_sha1_is_weak(tmp_path, keys):
    r = one(tmp_path, sign(MSG, keys["rsa2048"], alg=b"rsa-sha1"), keys["rsa2048"])
    assert (r["result"], r["a"], r["weak"]) == ("pass", "rsa-sha1", True)


def test_pkcs1_key(tmp_path, keys):
    key = keys["rsa2048"]
    rec = f"v=DKIM1; p={base64.b64encode(key.pkcs1).decode()}"
    got = verify(tmp_path, sign(MSG, key), {"sel._domainkey.example.com": rec})
    assert got[0]["result"] == "pass" and got[0]["key_bits"] == 2048


# ---- alterations that must fail -------------------------------------------

@pytest.mark.parametrize("canon", CANONS, ids=lambda c: b"/".join(c).decode())
def test_body_byte_changed(tmp_path, keys, canon):
    signed = sign(MSG, keys["rsa2048"], canon=canon).replace(b"figures", b"fignres")
    r = one(tmp_path, signed, keys["rsa2048"])
    assert (r["result"], r["reason"]) == ("fail", "body hash mismatch")


@pytest.mark.parametrize("name", ["rsa2048", "ed25519"])
def test_signed_header_changed(tmp_path, keys, name):
    signed = sign(MSG, keys[name]).replace(b"Quarterly", b"Quarter1y")
    r = one(tmp_path, signed, keys[name])
    assert (r["result"], r["reason"]) == ("fail", "signature verification failed")


def test_unsigned_header_added_passes(tmp_path, keys):
    signed = sign(MSG, keys["rsa2048"])
    signed = signed.replace(b"To: Bob", b"X-Mailer: whatever\r\nTo: Bob")
    assert one(tmp_path, signed, keys["rsa2048"])["result"] == "pass"


def test_oversigned_header_added_fails(tmp_path, keys):
    hdrs = [b"from", b"from", b"to", b"subject", b"subject", b"date", b"message-id"]
    signed = sign(MSG, keys["rsa2048"], headers=hdrs)
    assert one(tmp_path, signed, keys["rsa2048"])["result"] == "pass"
    for extra in (b"Subject: Buy now\r\n", b"From: mallory@evil.example\r\n"):
        tampered = signed + b""  # header added at the top, as a forwarder would
        tampered = extra + tampered
        r = one(tmp_path, tampered, keys["rsa2048"])
        assert (r["result"], r["reason"]) == ("fail", "signature verification failed")


def test_not_oversigned_header_added_at_top_passes(tmp_path, keys):
    """Without over-signing, a second Subject above is not covered (bottom-up, 5.4.2)."""
    signed = b"Subject: Buy now\r\n" + sign(MSG, keys["rsa2048"])
    assert one(tmp_path, signed, keys["rsa2048"])["result"] == "pass"


# ---- l= -------------------------------------------------------------------

@pytest.mark.parametrize("canon", CANONS, ids=lambda c: b"/".join(c).decode())
def test_length_limit(tmp_path, keys, canon):
    signed = sign(MSG, keys["rsa2048"], canon=canon, length=True)
    l = int(re.search(rb"l=(\d+)", signed).group(1))
    r = one(tmp_path, signed, keys["rsa2048"])
    assert (r["result"], r["l"], r["body_signed"], r["body_unsigned"]) == ("pass", True, l, 0)
    appended = signed + b"Click here: http://evil.example/\r\n"
    r = one(tmp_path, appended, keys["rsa2048"])
    assert (r["result"], r["l"], r["body_signed"]) == ("pass", True, l)
    assert r["body_unsigned"] == len(b"Click here: http://evil.example/\r\n")
    truncated = signed[:-len(b"Alice\r\n")]
    r = one(tmp_path, truncated, keys["rsa2048"])
    assert r["result"] == "fail"


# ---- what relaxed tolerates and simple does not -----------------------------

def refold_subject(m):
    return m.replace(b"Subject: Quarterly   report", b"Subject: Quarterly\r\n\t report")


TOLERATED = {
    "body whitespace": lambda m: m.replace(b"Here  are the  figures.", b"Here \t are the figures."),
    "body trailing whitespace": lambda m: m.replace(b"Alice\r\n", b"Alice   \r\n"),
    "trailing empty lines": lambda m: m + b"\r\n\r\n\r\n",
    "header name case": lambda m: m.replace(b"\r\nSubject:", b"\r\nSUBJECT:"),
    "header folding": refold_subject,
    "header whitespace": lambda m: m.replace(b"To: Bob <", b"To:   Bob   <"),
}


@pytest.mark.parametrize("change", sorted(TOLERATED))
@pytest.mark.parametrize("name", ["rsa2048", "ed25519"])
def test_relaxed_tolerates(tmp_path, keys, name, change):
    signed = TOLERATED[change](sign(MSG, keys[name], canon=(b"relaxed", b"relaxed")))
    r = one(tmp_path, signed, keys[name])
    assert r["result"] == "pass", r["reason"]


@pytest.mark.parametrize("change", sorted(set(TOLERATED) - {"trailing empty lines"}))
def test_simple_does_not_tolerate(tmp_path, keys, change):
    signed = TOLERATED[change](sign(MSG, keys["rsa2048"], canon=(b"simple", b"simple")))
    assert one(tmp_path, signed, keys["rsa2048"])["result"] == "fail"


def test_simple_ignores_trailing_empty_lines(tmp_path, keys):
    signed = sign(MSG, keys["rsa2048"], canon=(b"simple", b"simple")) + b"\r\n\r\n"
    assert one(tmp_path, signed, keys["rsa2048"])["result"] == "pass"


# ---- key records -------------------------------------------------------------

KEY_CASES = {
    "testing": (" t=y;", "pass", ""),
    "email service": (" s=email;", "pass", ""),
    "any service": (" s=*;", "pass", ""),
    "tlsrpt service": (" s=tlsrpt;", "permerror", "key not for email (s=)"),
    "sha256 allowed": (" h=sha256;", "pass", ""),
    "sha1 only": (" h=sha1;", "permerror", "hash not allowed by key h="),
    "strict, same domain": (" t=s;", "pass", ""),
}


@pytest.mark.parametrize("case", sorted(KEY_CASES))
def test_key_record(tmp_path, keys, case):
    extra, want, reason = KEY_CASES[case]
    r = one(tmp_path, sign(MSG, keys["rsa2048"]), keys["rsa2048"], extra=extra)
    assert (r["result"], r["reason"]) == (want, reason)
    assert r["testing"] == ("t=y" in extra)


def test_strict_key_refuses_subdomain_identity(tmp_path, keys):
    signed = sign(MSG, keys["rsa2048"], identity=b"alice@mail.example.com")
    r = one(tmp_path, signed, keys["rsa2048"], extra=" t=s;")
    assert (r["result"], r["i"]) == ("permerror", "alice@mail.example.com")
    r = one(tmp_path, signed, keys["rsa2048"])
    assert r["result"] == "pass"


def test_revoked_key(tmp_path, keys):
    got = verify(tmp_path, sign(MSG, keys["rsa2048"]),
                 {"sel._domainkey.example.com": "v=DKIM1; k=rsa; p="})
    assert (got[0]["result"], got[0]["reason"]) == ("permerror", "key revoked")


def test_key_type_mismatch(tmp_path, keys):
    got = verify(tmp_path, sign(MSG, keys["rsa2048"]),
                 {"sel._domainkey.example.com": keys["ed25519"].record()})
    assert (got[0]["result"], got[0]["reason"]) == ("permerror", "key type does not match a=")


def test_several_txt_records(tmp_path, keys):
    """The first record that is a key is used; junk beside it is ignored (RFC 6376 3.6.2.2)."""
    rec = keys["rsa2048"].record()
    got = verify(tmp_path, sign(MSG, keys["rsa2048"]),
                 {"sel._domainkey.example.com": ["google-site-verification=abc", rec]})
    assert got[0]["result"] == "pass"
    got = verify(tmp_path, sign(MSG, keys["rsa2048"]),
                 {"sel._domainkey.example.com": ["v=DKIM1; p=", "v=spf1 -all"]})
    assert (got[0]["result"], got[0]["reason"]) == ("permerror", "key revoked")


def test_wrong_key(tmp_path, keys):
    got = verify(tmp_path, sign(MSG, keys["rsa2048"]),
                 {"sel._domainkey.example.com": keys["rsa1024"].record()})
    assert (got[0]["result"], got[0]["reason"]) == ("fail", "signature verification failed")


def test_no_key(tmp_path, keys):
    got = verify(tmp_path, sign(MSG, keys["rsa2048"]), {"other._domainkey.example.com": "v=DKIM1; p="})
    assert (got[0]["result"], got[0]["reason"]) == ("permerror", "no key for signature")


def test_key_tempfail(tmp_path, keys):
    got = verify(tmp_path, sign(MSG, keys["rsa2048"]), {"sel._domainkey.example.com": "!TEMPFAIL"})
    assert (got[0]["result"], got[0]["reason"]) == ("temperror", "key query failed")


# ---- time -----------------------------------------------------------------------

class ExpiringDKIM(dkim.DKIM):
    """dkimpy has no x= option: put one in front of b= (b= must stay last to fold)."""
    expire = 0

    def gen_header(self, fields, *args, **kwargs):
        fields = fields[:-1] + [(b"x", str(self.expire).encode())] + fields[-1:]
        return super().gen_header(fields, *args, **kwargs)


def sign_expiring(key, expire):
    d = ExpiringDKIM(MSG)
    d.expire = expire
    sig = d.sign(b"sel", DOMAIN, key.private, canonicalize=(b"relaxed", b"relaxed"),
                 include_headers=[b"from", b"subject"])
    return sig + MSG


def test_expiration(tmp_path, keys):
    now = int(time.time())
    signed = sign_expiring(keys["rsa2048"], now + 3600)
    assert one(tmp_path, signed, keys["rsa2048"])["result"] == "pass"
    r = one(tmp_path, signed, keys["rsa2048"], now=now + 7200)
    assert (r["result"], r["reason"]) == ("policy", "signature expired")


def test_timestamp_in_future(tmp_path, keys):
    signed = sign(MSG, keys["ed25519"])
    r = one(tmp_path, signed, keys["ed25519"], now=int(time.time()) - 3600)
    assert (r["result"], r["reason"]) == ("policy", "signature timestamp in the future")


# ---- several signatures, bounded --------------------------------------------------

def test_every_signature_reported(tmp_path, keys):
    m = sign(MSG, keys["rsa2048"], sel=b"a")
    m = sign(m, keys["ed25519"], sel=b"b")
    m = sign(m, keys["rsa1024"], sel=b"c", canon=(b"simple", b"simple"))
    got = verify(tmp_path, m, {"a._domainkey.example.com": keys["rsa2048"].record(),
                               "b._domainkey.example.com": keys["ed25519"].record(),
                               "c._domainkey.example.com": "v=DKIM1; p="})
    assert [(g["s"], g["result"]) for g in got] == [("c", "permerror"), ("b", "pass"),
                                                    ("a", "pass")]


@pytest.mark.parametrize("name", ["rsa2048", "ed25519"])
def test_same_key_pass_fail_pass(tmp_path, keys, name):
    """One cached key (and its reused verify context) through pass, fail, pass."""
    m = sign(MSG, keys[name], sel=b"a", headers=[b"from", b"to"])
    m = sign(m, keys[name], sel=b"a", headers=[b"from", b"subject"])
    m = sign(m, keys[name], sel=b"a", headers=[b"from", b"date"])
    m = m.replace(b"Quarterly", b"Yearly")
    got = verify(tmp_path, m, {"a._domainkey.example.com": keys[name].record()})
    assert [g["result"] for g in got] == ["pass", "fail", "pass"]


def test_signature_count_bounded(tmp_path, keys):
    m = MSG
    for _ in range(12):
        m = sign(m, keys["ed25519"])
    path = tmp_path / "m.eml"
    path.write_bytes(m)
    out = check(path, zone=write_zone(tmp_path / "zone",
                                      {"sel._domainkey.example.com": keys["ed25519"].record()}))
    assert len(out["signatures"]) == 10 and out["ignored"] == 2
    assert all(g["result"] == "pass" for g in out["signatures"])


# ---- through the real resolver ----------------------------------------------------

def test_over_real_dns(tmp_path, keys, dns_server):
    key = keys["rsa2048"]
    rec = key.record()
    # a 2048-bit key does not fit one character-string: split like real zones do
    dns = dns_server({"sel._domainkey.example.com": [("TXT", [rec[:200], rec[200:]])],
                      "ed._domainkey.example.com": [("TXT", keys["ed25519"].record())]})
    m = sign(sign(MSG, key), keys["ed25519"], sel=b"ed")
    path = tmp_path / "m.eml"
    path.write_bytes(m)
    got = check(path, dns=dns.address)["signatures"]
    assert [(g["s"], g["result"]) for g in got] == [("ed", "pass"), ("sel", "pass")]


def test_over_real_dns_failures(tmp_path, keys, dns_server):
    dns = dns_server({}, servfail={"sel._domainkey.example.com"})
    path = tmp_path / "m.eml"
    path.write_bytes(sign(MSG, keys["rsa2048"]))
    assert check(path, dns=dns.address)["signatures"][0]["result"] == "temperror"
    dns2 = dns_server({})
    assert check(path, dns=dns2.address)["signatures"][0]["result"] == "permerror"
