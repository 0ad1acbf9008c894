"""The example receivers (examples/receiver.py, examples/receiver.js) against
the real delivery code (the webhook-post driver): signatures accepted,
forged ones refused with the app's 550 5.7.1, --status and --smtp-* turned
into the SMTP reply."""
import base64
import pathlib
import shutil
import subprocess

import pytest

from gwdaemon import Process, clean_env, listening
from gwpaths import free_port

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
EML = pathlib.Path(__file__).resolve().parent / "data" / "simple.eml"
SECRET = "whsec_" + base64.b64encode(b"example receiver test secret, 32b").decode()
OTHER = "whsec_" + base64.b64encode(b"a different secret, also 32 bytes").decode()


def receivers():
    yield pytest.param(["/usr/bin/python3", str(ROOT / "examples" / "receiver.py")], id="py")
    node = shutil.which("node") or shutil.which("nodejs")
    marks = [] if node else [pytest.mark.skip(reason="no node")]
    yield pytest.param([node or "node", str(ROOT / "examples" / "receiver.js")], id="js",
                       marks=marks)


@pytest.fixture(params=list(receivers()))
def start(request, tmp_path):
    procs = []

    def run(*args, secret=SECRET):
        port = free_port()
        p = Process([*request.param, "--port", port, "--quiet", *args],
                    tmp_path / f"receiver{len(procs)}.log",
                    env=clean_env({"WEBHOOK_SECRET": secret}), port=port, ready=listening,
                    timeout=10)
        procs.append(p)
        return f"http://127.0.0.1:{port}/hook", p

    try:
        yield run
    finally:
        for p in procs:
            p.close(timeout=10)


def post(driver, url, *args):
    p = subprocess.run([str(driver), "--url", url, "--retry-budget-ms", "0", "--format", "raw",
                        *args, str(EML)], capture_output=True, text=True, timeout=60,
                       env=clean_env())
    assert p.returncode == 0, p.stderr
    code, status, text = p.stdout.strip().split(" ", 2)
    return int(code), status, text


def test_signed_delivery_accepted(driver, start):
    url, proc = start()
    code, status, text = post(driver, url, "--secret", SECRET)
    assert (code, status) == (250, "2.0.0")
    code, _, _ = post(driver, url, "--secret", OTHER, "--secret", SECRET)  # rotation
    assert code == 250


def test_forged_signature_refused(driver, start):
    url, proc = start()
    assert post(driver, url, "--secret", OTHER) == (550, "5.7.1",
                                                    "Webhook signature check failed")
    assert post(driver, url)[:2] == (550, "5.7.1")  # unsigned


def test_status_and_smtp_words(driver, start):
    url, _ = start("--status", "404", "--smtp-code", "550", "--smtp-status", "5.1.1",
                   "--smtp-message", "No such ticket")
    assert post(driver, url, "--secret", SECRET) == (550, "5.1.1", "No such ticket")
    url, _ = start("--status", "503")
    assert post(driver, url, "--secret", SECRET)[:2] == (451, "4.3.0")


def test_receiver_js_ed25519(driver, start, request):
    if "js" not in request.node.callspec.id:
        pytest.skip("the Python receiver checks only v1 (HMAC) signatures")
    ed = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.ed25519")
    from cryptography.hazmat.primitives import serialization
    key = ed.Ed25519PrivateKey.generate()
    seed = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                             serialization.NoEncryption())
    pub = key.public_key().public_bytes(serialization.Encoding.Raw,
                                        serialization.PublicFormat.Raw)
    url, _ = start("--public-key", "whpk_" + base64.b64encode(pub).decode())
    whsk = "whsk_" + base64.b64encode(seed).decode()
    assert post(driver, url, "--secret", whsk)[:2] == (250, "2.0.0")
    other = ed.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
        serialization.NoEncryption())
    assert post(driver, url, "--secret", "whsk_" + base64.b64encode(other).decode())[:2] == \
        (550, "5.7.1")
