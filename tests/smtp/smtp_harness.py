"""Shared code of the SMTP front-end tests (fixtures are re-exported by conftest.py):
generated gateway.toml, its log, the deliveries it recorded, test certificates."""
import json
import os
import pathlib
import resource
import signal
import socket
import subprocess
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
BUILD = pathlib.Path(os.environ.get("SMTPGW_BUILD", ROOT / "build"))
TESTDATA = ROOT.parent / "shared" / "testdata"
DOUBLE = BUILD / "tests" / "smtp" / "smtp-gateway-double"

BASE = {
    "server": {"hostname": '"mx.test"', "workers": "2", "log_level": '"debug"',
               "allow_root": "true"},  # the tests run as root
    "limits": {},
    # Hermetic: sender authentication would ask the system's resolver (tests/smtp_auth/
    # runs it against tests/dnsserver.py).
    "auth": {"spf": '"off"', "dkim": '"off"', "dmarc": '"off"', "arc": '"off"'},
    # Hermetic too: PROXY tests give clients addresses the system's resolver would be asked for.
    "dns": {"reverse_lookup": "false"},
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
    sections = {k: dict(v) for k, v in BASE.items()}
    listener = {"address": f'"127.0.0.1:{port}"'}
    for key, val in overrides.items():
        sec, name = key.split(".", 1)
        if sec == "listener":
            listener[name] = val
        else:
            sections.setdefault(sec, {})[name] = val
    out = []
    for sec, kv in sections.items():
        out.append(f"[{sec}]")
        out += [f"{k} = {v}" for k, v in kv.items()]
        out.append("")
    for lst in [listener, *extra_listeners]:
        out.append("[[listener]]")
        out += [f"{k} = {v}" for k, v in lst.items()]
        out.append("")
    for cert, key in certs or ():
        out += ["[[tls.certificate]]", f'cert = "{cert}"', f'key = "{key}"', ""]
    for name, hashed in users or ():
        out += ["[[user]]", f'name = "{name}"', f"password_hash = '{hashed}'", ""]
    for match, url in routes or ROUTES:
        out += ["[[route]]", f'match = "{match}"', f'url = "{url}"', ""]
    return "\n".join(out)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gateway:
    def __init__(self, tmp, overrides, certs=None, users=None, extra_listeners=(), env=None,
                 expect_fail=False, max_fds=None, binary=None, routes=None):
        self.tmp = pathlib.Path(tmp)
        self.port = free_port()
        self.overrides, self.extra_listeners = overrides, extra_listeners
        self.expect_fail = expect_fail
        self.records = self.tmp / "records"
        self.records.mkdir(exist_ok=True)
        self.config = self.tmp / "gateway.toml"
        self.config.write_text(toml_config(self.port, overrides, certs, users, extra_listeners,
                                           routes))
        self.logfile = self.tmp / "gateway.log"
        env = dict(os.environ, SMTPGW_DOUBLE_DIR=str(self.records), **(env or {}))
        self.log_fh = open(self.logfile, "wb")
        def limit_fds():
            if max_fds:
                resource.setrlimit(resource.RLIMIT_NOFILE, (max_fds, max_fds))

        self.proc = subprocess.Popen([str(binary or DOUBLE), "-c", str(self.config)],
                                     stdout=self.log_fh, stderr=self.log_fh, env=env,
                                     preexec_fn=limit_fds)
        if expect_fail:
            self.proc.wait(timeout=10)
        else:
            self.wait_ready()

    def wait_ready(self, timeout=10.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError("gateway exited: " + self.log())
            if "ready:" in self.log():
                return
            time.sleep(0.02)
        raise RuntimeError("gateway not ready: " + self.log())

    def rewrite(self, overrides=None, routes=None, text=None):
        """Replaces gateway.toml (for SIGHUP tests)."""
        if text is None:
            text = toml_config(self.port, overrides if overrides is not None else self.overrides,
                               extra_listeners=self.extra_listeners, routes=routes)
        self.config.write_text(text)

    def log(self):
        return self.logfile.read_text(errors="replace")

    def wait_log(self, needle, timeout=5.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if needle in self.log():
                return True
            time.sleep(0.02)
        return False

    def deliveries(self):
        """[(envelope dict, message bytes)] in submission order."""
        out = []
        for j in sorted(self.records.glob("*.json")):
            out.append((json.loads(j.read_text()), j.with_suffix(".eml").read_bytes()))
        return out

    def connect(self, timeout=5.0):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        return s

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self):
        """SIGTERM; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.log_fh.close()
        return self.proc.returncode


@pytest.fixture
def start_gateway(tmp_path):
    """start_gateway(overrides={}, certs=None, users=None) -> Gateway; stopped at the end."""
    assert DOUBLE.exists(), f"{DOUBLE} is not built"
    started = []

    def start(overrides=None, **kw):
        sub = tmp_path / f"gw{len(started)}"
        sub.mkdir()
        g = Gateway(sub, overrides or {}, **kw)
        started.append(g)
        return g

    try:
        yield start
    finally:
        codes = [g.stop() for g in started]
    for g, code in zip(started, codes):
        log = g.log()
        assert "Sanitizer" not in log and "runtime error:" not in log, log[-4000:]
        assert code == 0 or g.expect_fail, f"gateway exit status {code}: {log[-2000:]}"


@pytest.fixture
def gateway(start_gateway):
    return start_gateway()


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    """Two self-signed certificates: mx.test (default) and sni.test, keys mode 0600."""
    d = tmp_path_factory.mktemp("certs")
    out = []
    for name in ("mx.test", "sni.test"):
        cert, key = d / f"{name}.crt", d / f"{name}.key"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                        "-subj", f"/CN={name}", "-addext", f"subjectAltName=DNS:{name}",
                        "-keyout", str(key), "-out", str(cert)],
                       check=True, capture_output=True, timeout=30)
        os.chmod(key, 0o600)
        out.append((str(cert), str(key)))
    return out


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
