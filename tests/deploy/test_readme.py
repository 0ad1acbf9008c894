"""README.md cannot rot: every command of its shell blocks is either run here
(the quick start through scripts/run and swaks, the smtp-gateway commands)
or named with the test or script that exercises it (COVERED below, checked
to be there); its payload example has the shape of the payload the quick
start really produces; its gateway.toml tour passes `check`; its signature
verifier accepts what the gateway signs."""
import base64
import json
import os
import re
import signal
import smtplib
import subprocess
import time

import pytest

from deploy_lib import BIN, Gateway, Receiver, message, wait_listening
from gwdaemon import gateway_config, toml_text
from gwpaths import ROOT, free_port

README = (ROOT / "README.md").read_text()

# Commands the tests below run themselves.
RUN_HERE = {
    "./scripts/run",
    "swaks --server 127.0.0.1:2525 --to hello@example.test --from alice@example.org "
    "--helo mail.example.org --header \"Subject: Hello\" --body \"Hi there\"",
    "build/gateway/smtp-gateway check -c gateway.toml",
    "build/gateway/smtp-gateway route -c gateway.toml hello@example.test nobody@elsewhere.test",
}
# Commands run elsewhere: (file, text it must contain to run them or their equivalent).
COVERED = {
    "./scripts/test": (".ci/run", "./scripts/test"),
    "SMTPGW_SANITIZE=1 ./scripts/test": (".ci/run", "SMTPGW_SANITIZE=1 exec ./scripts/test"),
    "scripts/deps": ("scripts/test", "scripts/deps"),
    "scripts/build": ("scripts/test", "scripts/build"),
    "SMTPGW_BUILD=$PWD/build /usr/bin/python3 -m pytest tests/smtp -q":
        ("scripts/test", "SMTPGW_BUILD=\"$PWD/$b\" /usr/bin/python3 -m pytest tests"),
    "meson setup build-release --prefix=/usr --sysconfdir=/etc -Dbuildtype=release":
        ("Dockerfile", "meson setup /build --prefix=/usr --sysconfdir=/etc -Dbuildtype=release"),
    "meson install -C build-release": ("tests/deploy/test_install.py", '"meson", "install", "-C"'),
    # No systemd as PID 1 on a test machine: the unit it enables is verified instead.
    "systemctl enable --now smtp-gateway":
        ("tests/deploy/test_install.py", '"systemd-analyze", "verify"'),
    "podman build --format docker -t smtp-gateway .":
        ("tests/deploy/test_container.py", "\"--format=docker\""),
    "podman run -d -p 25:2525 -e WEBHOOK_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw "
    "smtp-gateway": ("tests/deploy/test_container.py", 'podman("run", "-d"'),
    # No cluster on a test machine: the manifests it applies are checked.
    "kubectl apply -k deploy/kubernetes/": ("tests/deploy/test_kubernetes.py", "kustomization"),
}


def blocks(lang):
    return re.findall(rf"^```{lang}\n(.*?)^```", README, re.M | re.S)


def shell_commands():
    out = []
    for block in blocks("sh"):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s+#\s.*$", "", line).strip()
            if line:
                out.append(re.sub(r"\s+", " ", line))
    return out


def test_every_command_is_exercised():
    cmds = shell_commands()
    assert len(cmds) >= 10
    for cmd in cmds:
        assert cmd in RUN_HERE or cmd in COVERED, \
            f"README command not exercised by any test or script: {cmd!r} (add it to " \
            "RUN_HERE with a test, or to COVERED with the file that runs it)"
    for cmd, (path, text) in COVERED.items():
        assert cmd in cmds, f"COVERED lists {cmd!r}, which the README no longer has"
        assert text in (ROOT / path).read_text(), f"{path} no longer runs {cmd!r}"
    for tool in re.findall(r"^\| `(scripts/[a-z-]+)` \|", README, re.M):
        assert os.access(ROOT / tool, os.X_OK), tool


def test_gateway_commands(tmp_path):
    for cmd in RUN_HERE:
        if not cmd.startswith("build/gateway/smtp-gateway "):
            continue
        argv = [str(BIN), *cmd.split()[1:]]
        p = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, f"{cmd}: {p.stdout}{p.stderr}"
        if " route " in cmd:
            assert "example-receiver" in p.stdout and "550" in p.stdout, p.stdout


def shape(v):
    """The structure of a JSON value: keys and types, not values."""
    if isinstance(v, dict):
        return {k: shape(x) for k, x in v.items()}
    if isinstance(v, list):
        return [shape(v[0])] if v else []
    return "null" if v is None else type(v).__name__


def test_quick_start(tmp_path):
    """scripts/run as the README says, on free ports (GATEWAY_CONFIG, RECEIVER_PORT), and
    the README's swaks command: the receiver prints a payload shaped like the README's."""
    smtp, rport = free_port(), free_port()
    cfg = tmp_path / "gateway.toml"
    cfg.write_text((ROOT / "gateway.toml").read_text()
                   .replace("127.0.0.1:2525", f"127.0.0.1:{smtp}")
                   .replace("127.0.0.1:8080", f"127.0.0.1:{rport}"))
    cfg.chmod(0o644)
    log = tmp_path / "run.log"
    env = dict(os.environ, GATEWAY_CONFIG=str(cfg), RECEIVER_PORT=str(rport))
    with open(log, "wb") as fh:
        run = subprocess.Popen(["./scripts/run"], cwd=ROOT, env=env, stdout=fh,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_listening(smtp, run, log, timeout=600)  # scripts/run may build first
        wait_listening(rport, run, log, timeout=60)
        swaks = next(c for c in RUN_HERE if c.startswith("swaks "))
        swaks = swaks.replace("127.0.0.1:2525", f"127.0.0.1:{smtp}")
        p = subprocess.run(["sh", "-c", swaks], capture_output=True, text=True, timeout=120)
        assert p.returncode == 0 and "<-  250 2.0.0 Delivered" in p.stdout, p.stdout + p.stderr
        deadline = time.monotonic() + 30
        while '"schema_version"' not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        os.killpg(run.pid, signal.SIGTERM)
        run.wait(timeout=60)
    text = log.read_text()
    start = text.index('{\n  "schema_version"')
    real = json.loads(text[start:text.index("\n}\n", start) + 2])
    (example,) = [b for b in blocks("json") if '"schema_version"' in b]
    example = json.loads(example)
    assert shape(example) == shape(real), "README's payload example differs from a real one"
    assert all(set(h) == {"name", "value"} for h in example["message"]["headers"])
    assert real["envelope"]["mail_from"] == example["envelope"]["mail_from"]
    assert real["message"]["subject"] == example["message"]["subject"] == "Hello"


def test_tour_config_checks(tmp_path):
    (tour,) = blocks("toml")
    key, cert = tmp_path / "mx.key", tmp_path / "mx.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(key), "-out", str(cert), "-subj", "/CN=mx.example.com", "-days", "2"],
                   capture_output=True, check=True, timeout=120)
    key.chmod(0o600)
    secret = tmp_path / "support.secret"
    secret.write_text("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n")
    secret.chmod(0o600)
    for path, real in (("/etc/smtp-gateway/mx.example.com.pem", cert),
                       ("/etc/smtp-gateway/mx.example.com.key", key),
                       ("/etc/smtp-gateway/support.secret", secret)):
        assert path in tour
        tour = tour.replace(path, str(real))
    cfg = tmp_path / "tour.toml"
    cfg.write_text(tour)
    p = subprocess.run([str(BIN), "check", "-c", str(cfg)], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0 and p.stderr == "", p.stdout + p.stderr


def test_signature_verifier(tmp_path):
    """The README's verify() on a request the gateway really signed."""
    (code,) = blocks("python")
    scope = {}
    exec(code, scope)  # noqa: S102 (the README's own snippet)
    verify = scope["verify"]
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    rx = Receiver()
    gw = Gateway(tmp_path, toml_text(gateway_config(
        "{port}", [{"match": "*@example.test", "url": rx.url(), "secret": secret}])))
    try:
        with smtplib.SMTP("127.0.0.1", gw.port, timeout=30) as s:
            s.sendmail("alice@sender.test", ["hello@example.test"], message(1))
        rx.wait_posts(1)
    finally:
        gw.stop()
        rx.close()
    ((headers, body),) = rx.raw
    headers = {k.lower(): v for k, v in headers.items()}
    assert verify(secret, headers, body)
    assert not verify(secret, headers, body + b" ")
    assert not verify("whsec_" + base64.b64encode(b"another key of 32 bytes, exactly").decode(),
                      headers, body)




@pytest.mark.parametrize("page", ["docs/deployment.md"])
def test_linked_documents_exist(page):
    for target in re.findall(r"\]\(((?:docs|examples|deploy)/[^)#]+)\)", README):
        assert (ROOT / target).exists(), target
    assert (ROOT / page).exists()
