"""Shared code of the SMTP front-end tests (fixtures are re-exported by conftest.py):
generated gateway.toml, its log, the deliveries it recorded, test certificates. The
process itself is tests/gwdaemon.py's Gateway, here on the SMTP double by default."""
import json
import pathlib
import shutil
import socket
import subprocess
import time

import pytest

from gwdaemon import AUTH_OFF, DOUBLE, Gateways, Toml, clean_env, toml_text
from gwdaemon import Gateway as Daemon
from gwpaths import BUILD, ROOT, TESTDATA, free_port, self_signed_cert  # noqa: F401

BASE = {
    "server": {"hostname": "mx.test", "workers": 2, "log_level": "debug",
               "allow_root": True},  # the tests run as root
    "limits": {},
    "auth": AUTH_OFF,
    # Hermetic too: PROXY tests give clients addresses the system's resolver would be asked for.
    "dns": {"reverse_lookup": False},
}

ROUTES = [
    ("*@example.com", "http://double/250"),
    ("known@users.test", "http://double/250"),
    ("*@other.test", "http://double/451?delay=50"),
    ("*@slow.test", "http://double/250?delay=400"),
    ("*@hang.test", "http://double/hang"),
    ("*@broken.test", "http://double/fail"),
    ("*@breaker.test", "http://double/250?breaker=open"),
    ("*@reject.test", "http://double/550"),
    ("*@xn--cole-9oa.test", "http://double/250"),
    ("postmaster@mx.test", "http://double/250"),
]


def toml_config(port, overrides, certs=None, users=None, extra_listeners=(), routes=None):
    """gateway.toml text: BASE, then overrides {"section.key": "toml value"}."""
    doc = {k: dict(v) for k, v in BASE.items()}
    listener = {"address": f"127.0.0.1:{port}"}
    for key, val in overrides.items():
        sec, name = key.split(".", 1)
        (listener if sec == "listener" else doc.setdefault(sec, {}))[name] = Toml(val)
    doc["listener"] = [listener] + [{k: Toml(v) for k, v in lst.items()}
                                    for lst in extra_listeners]
    if certs:
        doc["tls.certificate"] = [{"cert": cert, "key": key} for cert, key in certs]
    if users:
        doc["user"] = [{"name": name, "password_hash": hashed} for name, hashed in users]
    doc["route"] = [{"match": match, "url": url} for match, url in routes or ROUTES]
    return toml_text(doc)


class Gateway(Daemon):
    """The SMTP double (or binary=) on a config made by toml_config(); the double
    records each submission in tmp/records (deliveries())."""

    def __init__(self, tmp, overrides, certs=None, users=None, extra_listeners=(), env=None,
                 expect_fail=False, max_fds=None, binary=None, routes=None):
        self.records = tmp / "records"
        self.records.mkdir(exist_ok=True)
        self.overrides, self.extra_listeners = overrides, extra_listeners
        super().__init__(tmp, lambda port: toml_config(port, overrides, certs, users,
                                                       extra_listeners, routes),
                         binary=binary or DOUBLE, expect_fail=expect_fail, max_fds=max_fds,
                         timeout=10.0,
                         env=clean_env({"SMTPGW_DOUBLE_DIR": str(self.records), **(env or {})}))

    def rewrite(self, overrides=None, routes=None, text=None):
        """Replaces gateway.toml (for SIGHUP tests)."""
        if text is None:
            text = toml_config(self.port, overrides if overrides is not None else self.overrides,
                               extra_listeners=self.extra_listeners, routes=routes)
        self.write_config(text)

    def deliveries(self):
        """[(envelope dict, message bytes)] in submission order."""
        out = []
        for j in sorted(self.records.glob("*.json")):
            out.append((json.loads(j.read_text()), j.with_suffix(".eml").read_bytes()))
        return out


@pytest.fixture
def start_gateway(tmp_path):
    """start_gateway(overrides={}, certs=None, users=None) -> Gateway; stopped at the end,
    then checked: exit status 0 (unless expect_fail) and no sanitizer report."""
    assert DOUBLE.exists(), f"{DOUBLE} is not built"
    started = Gateways(tmp_path)

    def start(overrides=None, **kw):
        return started.start(overrides or {}, daemon=Gateway, **kw)

    try:
        yield start
    finally:
        started.finish()


@pytest.fixture
def gateway(start_gateway):
    return start_gateway()


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    """Two self-signed certificates: mx.test (default) and sni.test, keys mode 0600."""
    d = tmp_path_factory.mktemp("certs")
    return [self_signed_cert(d, name) for name in ("mx.test", "sni.test")]


STRACE = shutil.which("strace")


def traced(pid):
    """True once every thread of pid has a tracer."""
    try:
        tasks = list(pathlib.Path(f"/proc/{pid}/task").iterdir())
        return tasks and all("TracerPid:\t0\n" not in (t / "status").read_text()
                             for t in tasks)
    except OSError:
        return False


def strace_attach(pid, out, calls):
    """strace on every thread of pid, the system calls `calls` to `out`; skips the test
    where strace cannot attach. Counts, not timings: the caller terminates it."""
    st = subprocess.Popen([STRACE, "-f", "-qq", "-e", "trace=" + calls, "-o", str(out),
                           "-p", str(pid)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    for _ in range(200):  # bounded: 10 s
        if traced(pid) or st.poll() is not None:
            break
        time.sleep(0.05)
    if st.poll() is not None or not traced(pid):
        st.kill()
        pytest.skip("strace cannot attach here: " + st.stderr.read().decode()[:200])
    return st


class Client:
    """A raw SMTP client: send bytes, read whole replies (multi-line aware)."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def line(self, timeout=5.0):
        self.sock.settimeout(timeout)
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def reply(self, timeout=5.0):
        """(code, last line text) of one reply."""
        lines = []
        while True:
            ln = self.line(timeout)
            lines.append(ln)
            if len(ln) < 4 or ln[3] != "-":
                return int(ln[:3]), ln, lines

    def closed(self, timeout=5.0):
        """True when the server closes (after any pending bytes)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False

    def close(self):
        self.sock.close()


@pytest.fixture
def client_of():
    made = []

    def make(gw):
        c = Client(gw.connect())
        made.append(c)
        return c

    try:
        yield make
    finally:
        for c in made:
            c.close()
