"""The Dockerfile, built and run with podman (Debian's container engine): a
message sent to the container's listener reaches a webhook receiver on the
host, the gateway runs as uid 10025, the image holds no compiler, and
SIGTERM (podman stop) drains and exits 0. Skipped, saying why, where podman
is missing, cannot run containers, or cannot get the debian:12-slim base
image (no registry: scripts/container-base builds it from Debian's mirror)."""
import http.server
import resource
import shutil
import smtplib
import socket
import subprocess
import threading
import time

import pytest

from deploy_lib import BIN, Receiver, message, wait_listening
from gwpaths import ROOT, free_port

BASE = "docker.io/library/debian:12-slim"
MINBASE = "localhost/debian:12-minbase"  # scripts/container-base: Debian 12 from the apt mirror
IMAGE = "localhost/smtp-gateway:test"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
HEALTH_PORT = 9025  # the Dockerfile's HEALTHCHECK and deploy/container/gateway.toml


ENGINE = []  # podman's global options, when the defaults cannot run a container here
LIMITS = []  # --ulimit options for build and run, likewise


def podman(*args, timeout=120, check=True):
    cmd = ["podman", *ENGINE, *args]
    if args[0] in ("run", "build"):
        cmd[len(ENGINE) + 2:len(ENGINE) + 2] = LIMITS
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check:
        assert p.returncode == 0, f"{' '.join(cmd)}: {p.stdout}{p.stderr}"
    return p


def runnable(base):
    """Finds options under which podman runs a container: the defaults, else runc
    on cgroupfs with our own resource limits (crun refuses hybrid cgroup
    hierarchies, and a root without CAP_SYS_RESOURCE cannot raise the limits
    podman asks for by default). Returns the reason when nothing works."""
    if podman("run", "--rm", "--network=host", base, "true", check=False).returncode == 0:
        return None
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)
    nproc = resource.getrlimit(resource.RLIMIT_NPROC)
    ENGINE[:] = ["--runtime", "runc", "--cgroup-manager=cgroupfs"]
    LIMITS[:] = [f"--ulimit=nofile={nofile[0]}:{nofile[1]}",
                 f"--ulimit=nproc={min(nproc[0], 4096)}:{min(nproc[1], 4096)}"]
    p = podman("run", "--rm", "--network=host", base, "true", check=False)
    if p.returncode == 0:
        return None
    return p.stderr.strip()[-300:]


@pytest.fixture(scope="module")
def image():
    if not shutil.which("podman"):
        pytest.skip("podman is not installed (apt-get install podman): the image is not built")
    base = BASE
    if podman("image", "exists", BASE, check=False).returncode != 0:
        pulled = podman("pull", BASE, timeout=300, check=False)
        if pulled.returncode != 0:
            if podman("image", "exists", MINBASE, check=False).returncode != 0:
                pytest.skip(f"no {BASE} image here and the registry is unreachable "
                            f"({pulled.stderr.strip().splitlines()[-1]}); run "
                            f"scripts/container-base to build {MINBASE} from Debian's mirror")
            base = MINBASE
    why = runnable(base)
    if why:
        pytest.skip(f"podman cannot run a container on this machine: {why}")
    # Docker's image format: the OCI one has no HEALTHCHECK, podman would drop it.
    built = podman("build", "--format=docker", "--pull=never", "--network=host", "--build-arg",
                   f"BASE={base}",
                   "-t", IMAGE, "-f", str(ROOT / "Dockerfile"), str(ROOT), timeout=1800,
                   check=False)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    return IMAGE


def admin_supported(tmp_path):
    probe = tmp_path / "probe.toml"
    probe.write_text('[admin]\naddress = "127.0.0.1:1"\n[[listener]]\naddress = "127.0.0.1:1"\n')
    return subprocess.run([str(BIN), "check", "-c", str(probe)], capture_output=True,
                          timeout=60).returncode == 0


def test_image_is_runtime_only(image):
    user = podman("image", "inspect", "--format", "{{.Config.User}}", image).stdout.strip()
    assert user == "10025:10025"
    p = podman("run", "--rm", "--entrypoint", "bash", image, "-c",
               "command -v gcc cc meson ninja pkg-config; ls /usr/include 2>/dev/null | head -1",
               check=False)
    assert p.stdout.strip() == "", f"build tools in the image: {p.stdout}"
    v = podman("run", "--rm", image, "--version").stdout
    assert v.startswith("smtp-gateway ")


def port_free(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


class HealthStub:
    """/healthz on 127.0.0.1:9025 answering 200, for builds without the [admin]
    listener: the image's HEALTHCHECK command itself is what is tested then."""

    def __init__(self):
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                self.send_response(200 if self.path == "/healthz" else 404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", HEALTH_PORT), Handler)
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def healthcheck_passes(name, timeout=60):
    deadline = time.monotonic() + timeout
    while podman("healthcheck", "run", name, check=False).returncode != 0:
        if time.monotonic() > deadline:
            return False
        time.sleep(1)
    return True


def test_message_through_the_container(image, tmp_path):
    rx = Receiver()
    port = free_port()
    text = (ROOT / "deploy" / "container" / "gateway.toml").read_text()
    text = text.replace('"0.0.0.0:2525"', f'"127.0.0.1:{port}"')
    text = text.replace("http://127.0.0.1:8080/inbound", rx.url("/inbound"))
    with_admin = admin_supported(tmp_path)
    if not with_admin:
        text = text.replace(f'[admin]\naddress = "127.0.0.1:{HEALTH_PORT}"\n', "")
    # The container shares the host's network (loopback only, as every test), so the
    # HEALTHCHECK's fixed port 9025 is the host's: checked only when it is free.
    health = port_free(HEALTH_PORT)
    cfg = tmp_path / "gateway.toml"
    cfg.write_text(text)
    cfg.chmod(0o644)
    name = f"smtpgw-test-{port}"
    stub = HealthStub() if health and not with_admin else None
    podman("run", "-d", "--name", name, "--network=host", "-e", f"WEBHOOK_SECRET={SECRET}",
           "-v", f"{cfg}:/etc/smtp-gateway/gateway.toml:ro,Z", image)
    try:
        wait_listening(port, timeout=60)
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
            s.sendmail("alice@sender.test", ["hello@example.test"], message(1))
        (path, body), = rx.wait_posts(1)
        assert path == "/inbound" and body["envelope"]["rcpt_to"] == ["hello@example.test"]
        uid = podman("top", name, "user", "huser").stdout.split()
        assert "10025" in uid or "smtpgw" in uid, uid
        if health:
            assert healthcheck_passes(name), "the HEALTHCHECK never passed"
        if stub:
            stub.close()
            stub = None
            assert podman("healthcheck", "run", name, check=False).returncode != 0, \
                "the HEALTHCHECK passes with nothing answering /healthz"
        podman("stop", "-t", "40", name, timeout=90)
        code = podman("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip()
        assert code == "0", podman("logs", name).stderr
    finally:
        if stub:
            stub.close()
        podman("rm", "-f", name, check=False)
        rx.close()
