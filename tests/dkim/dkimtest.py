"""Helpers shared by the DKIM/ARC pytest files: run the dkim_check driver.

BUILD and TESTDATA are computed here the way tests/conftest.py does, not
imported from "conftest": with several conftest.py files in the tree that
module name is ambiguous."""
import json
import os
import pathlib
import subprocess

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
BUILD = pathlib.Path(os.environ.get("SMTPGW_BUILD", ROOT / "build"))
TESTDATA = ROOT.parent / "shared" / "testdata"

DKIM_CHECK = BUILD / "tests" / "dkim" / "dkim_check"


def write_zone(path, records):
    """records: {name: txt | [txt, ...]}; a zone file for dkim_check --zone."""
    lines = []
    for name, txt in records.items():
        for t in (txt if isinstance(txt, list) else [txt]):
            t = " ".join(str(t).split("\n")).strip()
            lines.append(f"{name} {t}")
    path.write_text("\n".join(lines) + "\n")
    return path


def check(msg_path, zone=None, dns=None, arc=False, lf=False, now=None, min_bits=None):
    """Runs dkim_check and returns its JSON answer."""
    assert DKIM_CHECK.exists(), f"{DKIM_CHECK} is not built"
    cmd = [str(DKIM_CHECK)]
    if arc:
        cmd.append("--arc")
    if lf:
        cmd.append("--lf")
    if now is not None:
        cmd += ["--now", str(now)]
    if min_bits is not None:
        cmd += ["--min-rsa-bits", str(min_bits)]
    if zone is not None:
        cmd += ["--zone", str(zone)]
    if dns is not None:
        cmd += ["--dns", dns]
    cmd.append(str(msg_path))
    p = subprocess.run(cmd, capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    return json.loads(p.stdout)


def rsa_key_record(bits=2048):
    """A fresh RSA key (python3-cryptography): (private key PEM, its DKIM key record)."""
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    k = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pem = k.private_bytes(serialization.Encoding.PEM,
                          serialization.PrivateFormat.TraditionalOpenSSL,
                          serialization.NoEncryption())
    der = k.public_key().public_bytes(serialization.Encoding.DER,
                                      serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem, f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"
