"""Where things are, for every test: the build, the sources, the shared test data.

A module of its own (not conftest) so that test files can import it whatever
other conftest.py files pytest has collected.
"""
import os
import pathlib
import socket

ROOT = pathlib.Path(__file__).resolve().parent.parent
BUILD = pathlib.Path(os.environ.get("SMTPGW_BUILD", ROOT / "build"))
TESTDATA = ROOT.parent / "shared" / "testdata"


def free_port(family=socket.AF_INET, host="127.0.0.1"):
    """A TCP port nobody listens on right now (bound and released)."""
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def rsa_dkim_key(directory, bits=2048):
    """A fresh RSA key made with the openssl CLI: (private PEM bytes, p= value
    of its DKIM key record, i.e. the base64 of the public key's DER)."""
    import base64
    import subprocess

    priv = pathlib.Path(directory) / f"dkim-rsa{bits}.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                    f"rsa_keygen_bits:{bits}", "-out", str(priv)], check=True,
                   capture_output=True, timeout=60)
    der = subprocess.run(["openssl", "pkey", "-in", str(priv), "-pubout", "-outform", "DER"],
                         check=True, capture_output=True, timeout=60).stdout
    return priv.read_bytes(), base64.b64encode(der).decode()


def _sanitized():
    import json
    try:
        opts = json.loads((BUILD / "meson-info" / "intro-buildoptions.json").read_text())
    except (OSError, ValueError):
        return False
    return any(o.get("name") == "b_sanitize" and o.get("value") not in ("none", "", None)
               for o in opts)


# True when BUILD is an ASan/UBSan build (scripts/test with SMTPGW_SANITIZE=1). There,
# RSS measures the sanitizer's shadow memory and quarantine, not ours: memory bounds
# are checked in the normal build, which CI runs first.
SANITIZED = _sanitized()


def self_signed_cert(directory, name="mx.test"):
    """A self-signed EC certificate for `name` (also its subjectAltName) made with the
    openssl CLI: (certificate path, key path) as strings, the key mode 0600 as the daemon
    requires."""
    import os
    import subprocess

    cert, key = pathlib.Path(directory) / f"{name}.crt", pathlib.Path(directory) / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj", f"/CN={name}",
                    "-addext", f"subjectAltName=DNS:{name}", "-keyout", str(key), "-out",
                    str(cert)], check=True, capture_output=True, timeout=60)
    os.chmod(key, 0o600)
    return str(cert), str(key)
