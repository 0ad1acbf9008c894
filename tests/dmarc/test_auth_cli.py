"""`smtp-gateway auth` end to end: a real DNS server on loopback
(tests/dnsserver.py) serves SPF, DKIM and DMARC records; the message is signed
live with python3-dkim; the JSON the command prints is checked field by field."""
import json
import subprocess

import dkim
import jsonschema
import pytest
import yaml

from dnsserver import dns_server  # noqa: F401 (fixture)
from gwdaemon import GATEWAY
from gwpaths import ROOT, TESTDATA

MESSAGE = (b"From: Alice <alice@example.com>\r\n"
           b"To: bob@ours.example\r\n"
           b"Subject: quarterly numbers\r\n"
           b"Message-ID: <1@example.com>\r\n"
           b"Authentication-Results: mx.test.example; dmarc=pass (forged)\r\n"
           b"\r\n"
           b"The numbers are in.\r\n")


def zone(pub, dmarc="v=DMARC1; p=reject"):
    return {
        "example.com": [("TXT", "v=spf1 ip4:192.0.2.0/24 -all")],
        "sel._domainkey.example.com": [("TXT", f"v=DKIM1; k=rsa; p={pub}")],
        "_dmarc.example.com": [("TXT", dmarc)],
    }


def sign(msg, priv):
    sig = dkim.sign(msg, b"sel", b"example.com", priv,
                    include_headers=[b"from", b"to", b"subject", b"message-id"])
    return sig + msg


def run_auth(tmp_path, dns, msg, ip, mail_from="alice@example.com", extra=(), extra_auth=""):
    cfg = tmp_path / "gateway.toml"
    cfg.write_text('[server]\nhostname = "mx.test.example"\n'
                   f'[dns]\nservers = ["{dns.address}"]\ntimeout = "2s"\ntries = 1\n'
                   f'[auth]\ndmarc = "enforce"\n{extra_auth}'
                   '[[route]]\nmatch = ["*@ours.example"]\nurl = "http://127.0.0.1:9/hook"\n')
    eml = tmp_path / "m.eml"
    eml.write_bytes(msg)
    gw = GATEWAY
    proc = subprocess.run([str(gw), "auth", "--ip", ip, "--helo", "mail.example.com",
                           "--from", mail_from, "-c", str(cfg), *extra, str(eml)],
                          capture_output=True, text=True, timeout=60)
    return proc


def test_all_pass(tmp_path, dns_server, rsa_key):
    priv, pub = rsa_key
    dns = dns_server(zone(pub))
    proc = run_auth(tmp_path, dns, sign(MESSAGE, priv), "192.0.2.10")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    schema = json.loads((ROOT / "docs" / "payload.schema.json").read_text())
    auth = {k: v for k, v in out.items() if k != "verdict"}
    jsonschema.validate(auth, dict(schema["$defs"]["auth"], **{"$defs": schema["$defs"]}))
    assert out["spf"]["result"] == "pass"
    assert out["spf"]["domain"] == "example.com"
    assert out["spf"]["helo"] == "mail.example.com"
    assert len(out["dkim"]) == 1
    sig = out["dkim"][0]
    assert (sig["result"], sig["domain"], sig["selector"], sig["algorithm"], sig["aligned"]) \
        == ("pass", "example.com", "sel", "rsa-sha256", True)
    assert out["dmarc"] == {**out["dmarc"], "result": "pass", "domain": "example.com",
                            "policy": "reject", "disposition": "none"}
    assert out["arc"]["result"] == "none"
    ar = out["authentication_results"]
    assert ar.startswith("mx.test.example; spf=pass")
    assert "dkim=pass" in ar and "header.d=example.com" in ar and "header.s=sel" in ar
    assert "dmarc=pass (p=reject dis=none) header.from=example.com" in ar
    assert out["verdict"]["action"] == "accept"
    # the resolver really asked our server
    asked = {(n.lower().rstrip("."), t) for _, n, t in dns.queries}
    assert ("sel._domainkey.example.com", "TXT") in asked
    assert ("_dmarc.example.com", "TXT") in asked


def test_spf_fail_dkim_rescues(tmp_path, dns_server, rsa_key):
    priv, pub = rsa_key
    dns = dns_server(zone(pub))
    out = json.loads(run_auth(tmp_path, dns, sign(MESSAGE, priv), "198.51.100.9").stdout)
    assert out["spf"]["result"] == "fail"
    assert out["dkim"][0]["result"] == "pass"
    assert out["dmarc"]["result"] == "pass"
    assert out["verdict"]["action"] == "accept"


def test_tampered_body_rejected(tmp_path, dns_server, rsa_key):
    priv, pub = rsa_key
    dns = dns_server(zone(pub))
    signed = sign(MESSAGE, priv).replace(b"The numbers are in.", b"The numbers are out.")
    proc = run_auth(tmp_path, dns, signed, "198.51.100.9")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["spf"]["result"] == "fail"
    assert out["dkim"][0]["result"] == "fail"
    assert out["dkim"][0]["aligned"] is False
    assert out["dmarc"]["result"] == "fail"
    assert out["dmarc"]["disposition"] == "reject"
    assert out["verdict"] == {**out["verdict"], "action": "reject", "code": 550,
                              "status": "5.7.1", "check": "dmarc"}
    assert "dmarc=fail (p=reject dis=reject)" in out["authentication_results"]


def test_quarantine_policy(tmp_path, dns_server, rsa_key):
    _, pub = rsa_key
    dns = dns_server(zone(pub, "v=DMARC1; p=quarantine"))
    out = json.loads(run_auth(tmp_path, dns, MESSAGE, "198.51.100.9").stdout)
    assert out["dkim"] == []
    assert out["dmarc"]["disposition"] == "quarantine"
    assert out["verdict"]["action"] == "quarantine"


def test_dns_timeout_is_temperror(tmp_path, dns_server, rsa_key):
    priv, pub = rsa_key
    dns = dns_server(zone(pub), timeout={"_dmarc.example.com"})
    out = json.loads(run_auth(tmp_path, dns, MESSAGE, "192.0.2.10").stdout)
    assert out["spf"]["result"] == "pass"
    assert out["dmarc"]["result"] == "temperror"
    assert out["verdict"]["code"] == 451


def test_usage_errors(tmp_path):
    gw = GATEWAY
    proc = subprocess.run([str(gw), "auth", "--ip", "192.0.2.1"], capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 2
    assert "usage" in proc.stderr
    cfg = tmp_path / "g.toml"
    cfg.write_text('[server]\nhostname = "mx.test.example"\n')
    eml = tmp_path / "m.eml"
    eml.write_bytes(MESSAGE)
    proc = subprocess.run([str(gw), "auth", "--ip", "not-an-ip", "--helo", "h.example",
                           "--from", "a@example.com", "-c", str(cfg), str(eml)],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert "not an IP address" in proc.stderr


def test_testing_key_does_not_count_for_dmarc(tmp_path, dns_server, rsa_key):
    """RFC 6376 3.6.1 t=y: the signature verifies, but DMARC must not rely on it."""
    priv, pub = rsa_key
    records = zone(pub)
    records["sel._domainkey.example.com"] = [("TXT", f"v=DKIM1; k=rsa; t=y; p={pub}")]
    dns = dns_server(records)
    out = json.loads(run_auth(tmp_path, dns, sign(MESSAGE, priv), "198.51.100.9").stdout)
    assert out["dkim"][0]["result"] == "pass"
    assert out["dkim"][0]["aligned"] is False
    assert out["dmarc"]["result"] == "fail"


def test_rsa_sha1_does_not_count_for_dmarc(tmp_path, dns_server, rsa_key):
    """RFC 8301: rsa-sha1 signatures are not valid for DMARC."""
    priv, pub = rsa_key
    dns = dns_server(zone(pub))
    signed = dkim.sign(MESSAGE, b"sel", b"example.com", priv, signature_algorithm=b"rsa-sha1",
                       include_headers=[b"from", b"to", b"subject"]) + MESSAGE
    out = json.loads(run_auth(tmp_path, dns, signed, "198.51.100.9").stdout)
    assert out["dkim"][0]["algorithm"] == "rsa-sha1"
    assert out["dkim"][0]["aligned"] is False
    assert out["dmarc"]["result"] == "fail"


def arc_case():
    """A sealed message (cv=pass, i=1) and its key, from the ValiMail ARC suite."""
    docs = yaml.safe_load_all((TESTDATA / "arc-test-suite" /
                               "arc-draft-validation-tests.yml").read_text())
    scenario = next(docs)
    case = scenario["tests"]["cv_pass_i1_1"]
    msg = case["message"].replace("\r\n", "\n").replace("\n", "\r\n").encode()
    return msg, scenario["txt-records"]


@pytest.mark.parametrize("trust,sealers,override", [
    (False, None, False),
    (True, None, False),                    # no trusted sealer: nobody is believed
    (True, ["other.example"], False),       # a chain sealed by someone else
    (True, ["Example.ORG"], True),          # the newest seal's d=, any case
    (False, ["example.org"], False),        # listed, but trust_arc is off
])
def test_trust_arc_overrides_dmarc_failure(tmp_path, dns_server, trust, sealers, override):
    """d1.example.org publishes p=reject; nothing aligns; the ARC chain of
    lists.example.org passes: with trust_arc, and example.org (its sealer) among the
    trusted_arc_sealers, the failure is not acted on; any other chain (one an
    attacker sealed himself validates just as well) is not believed."""
    msg, txt = arc_case()
    records = {name: [("TXT", value)] for name, value in txt.items()}
    records["_dmarc.d1.example.org"] = [("TXT", "v=DMARC1; p=reject")]
    dns = dns_server(records)
    extra_cfg = "trust_arc = true\n" if trust else ""
    if sealers is not None:
        extra_cfg += "trusted_arc_sealers = [%s]\n" % ", ".join(f'"{s}"' for s in sealers)
    trust = override
    cfg = tmp_path / "gateway.toml"
    cfg.write_text('[server]\nhostname = "mx.test.example"\n'
                   f'[dns]\nservers = ["{dns.address}"]\ntimeout = "2s"\ntries = 1\n'
                   f'[auth]\ndmarc = "enforce"\n{extra_cfg}'
                   '[[route]]\nmatch = ["*@ours.example"]\nurl = "http://127.0.0.1:9/hook"\n')
    eml = tmp_path / "m.eml"
    eml.write_bytes(msg)
    proc = subprocess.run([str(GATEWAY), "auth", "--ip",
                           "198.51.100.9", "--helo", "lists.example.org", "--from",
                           "jqd@d1.example.org", "-c", str(cfg), str(eml)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["arc"]["result"] == "pass", out["arc"]
    assert out["arc"]["instance"] == 1
    assert out["dmarc"]["result"] == "fail"
    assert out["dmarc"]["arc_override"] is trust
    assert out["verdict"]["action"] == ("accept" if trust else "reject")
    assert ("arc-override" in out["authentication_results"]) is trust
    assert out["arc"]["sealer"] == "example.org"
    assert out["arc"]["trusted_sealer"] == ("example.org" if trust else None)
    if trust:
        assert "arc-override by example.org" in out["authentication_results"]


@pytest.mark.parametrize("allow", [False, True])
def test_dkim_l_leaving_body_unsigned_does_not_align(tmp_path, dns_server, rsa_key, allow):
    """A signature with l= passes, but bytes appended after the signed length
    (anyone may add them) are reported, and the signature only counts for
    DMARC alignment when [auth] dkim_partial_body_aligns allows it."""
    priv, pub = rsa_key
    dns = dns_server(zone(pub))
    signed = dkim.sign(MESSAGE, b"sel", b"example.com", priv, length=True,
                       include_headers=[b"from", b"to", b"subject", b"message-id"]) + MESSAGE
    appended = signed + b"Click https://evil.example/ now.\r\n"
    extra = "dkim_partial_body_aligns = true\n" if allow else ""
    proc = run_auth(tmp_path, dns, appended, "203.0.113.5", extra_auth=extra)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    sig = out["dkim"][0]
    assert (sig["result"], sig["body_unsigned"]) == ("pass", 34)
    assert "(34 body bytes unsigned)" in out["authentication_results"]
    assert sig["aligned"] is allow
    assert out["dmarc"]["result"] == ("pass" if allow else "fail")
    assert out["verdict"]["code"] == (250 if allow else 550)


def test_dkim_whole_body_reports_nothing_unsigned(tmp_path, dns_server, rsa_key):
    priv, pub = rsa_key
    dns = dns_server(zone(pub))
    signed = dkim.sign(MESSAGE, b"sel", b"example.com", priv, length=True,
                       include_headers=[b"from", b"to", b"subject", b"message-id"]) + MESSAGE
    out = json.loads(run_auth(tmp_path, dns, signed, "203.0.113.5").stdout)
    assert (out["dkim"][0]["result"], out["dkim"][0]["body_unsigned"]) == ("pass", 0)
    assert out["dkim"][0]["aligned"] is True and out["dmarc"]["result"] == "pass"


def test_body_hash_bound_is_per_message(tmp_path, dns_server, rsa_key):
    """[auth] dkim_max_body_hashes bounds the passes over the body for the whole
    message: DKIM and ARC share them. 4 DKIM signatures with their own l= take
    the 4 (their keys are then not found); a fifth DKIM signature and the ARC
    chain's AMS, each needing another, are "not evaluated" and never pass."""
    _, pub = rsa_key
    dns = dns_server(zone(pub))
    sigs = b"".join(
        (f"DKIM-Signature: v=1; a=rsa-sha256; c=simple/simple; d=d{n}.example; s=s; l={n};"
         f" h=from; bh=QUJD; b=QUJD\r\n").encode() for n in range(1, 6))
    arc = (b"ARC-Seal: i=1; a=rsa-sha256; cv=none; d=sealer.example; s=s; t=1700000000; b=QUJD\r\n"
           b"ARC-Message-Signature: i=1; a=rsa-sha256; c=relaxed/simple; d=sealer.example;"
           b" s=s; h=from:to; bh=QUJD; b=QUJD\r\n"
           b"ARC-Authentication-Results: i=1; mx.sealer.example; spf=pass\r\n")
    out = json.loads(run_auth(tmp_path, dns, arc + sigs + MESSAGE, "192.0.2.10").stdout)
    reasons = [s["reason"] for s in out["dkim"]]
    assert reasons[:4] == ["no key for signature"] * 4, reasons
    assert reasons[4] == "not evaluated: body hash limit reached"
    assert [s["result"] for s in out["dkim"]] == ["permerror"] * 5
    assert out["arc"]["result"] == "fail"
    assert out["arc"]["reason"] == "i=1 AMS: not evaluated: body hash limit reached"
