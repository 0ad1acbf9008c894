"""Helpers of the admin-listener tests: the real daemon with an [admin] address,
a webhook sink that answers by path, certificates, a scrape parser.

Everything listens on 127.0.0.1; every wait is bounded.
"""
import json
import os
import pathlib
import re
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import gwdaemon  # noqa: E402
import webhook_sink  # noqa: E402
from gwpaths import BUILD, free_port  # noqa: E402
from webhook_sink import Action  # noqa: E402

BINARY = BUILD / "gateway" / "smtp-gateway"
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def by_path(path):
    """The answer a path asks for: /503 (any status), /delay/SECONDS (200 then, at most
    10 s), else the default (200)."""
    if path.startswith("/delay/"):
        return Action(200, body={"ok": True}, headers={"Content-Type": "application/json"},
                      delay=min(float(path.split("/")[2]), 10))
    if path.strip("/").isdigit():
        return Action(int(path.strip("/")), body={"ok": True},
                      headers={"Content-Type": "application/json"})
    return None


def Sink():  # noqa: N802 (it was a class; the tests make one the same way)
    """The application: webhook_sink.Sink answering each POST by its path (by_path),
    after reading the whole body; keeps each request."""
    sink = webhook_sink.Sink()
    sink.answer = by_path
    sink.default = Action(200, body={"ok": True}, headers={"Content-Type": "application/json"})
    return sink


def make_cert(directory):
    cert, key = directory / "mx.crt", directory / "mx.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                    "/CN=mx.test", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=30)
    os.chmod(key, 0o600)
    return cert, key


def password_hash(password):
    return subprocess.run(["openssl", "passwd", "-6", "-salt", "saltsalt", password],
                          check=True, capture_output=True, text=True, timeout=30).stdout.strip()


class Daemon(gwdaemon.Gateway):
    """smtp-gateway with the given TOML text (@ADMIN@, @SMTP@, @SUB@ are
    replaced by free ports), ready once the admin listener's /readyz says 200; its
    standard error goes to gateway.err."""

    def __init__(self, tmp, text):
        self.admin_port, self.sub_port, port = free_port(), free_port(), free_port()
        text = (text.replace("@ADMIN@", str(self.admin_port)).replace("@SUB@", str(self.sub_port))
                .replace("@SMTP@", str(port)))
        super().__init__(pathlib.Path(tmp), text, port=port, log_name="gateway.err",
                         ready=Daemon.ready_now)

    def ready_now(self):
        try:
            return self.get("/readyz")[0] == 200
        except OSError:
            return False

    def get(self, path, timeout=5):
        """(status, body) of GET path on the admin listener."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.admin_port}{path}",
                                        timeout=timeout) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def scrape(self):
        status, text = self.get("/metrics")
        assert status == 200
        return parse(text)

    def stop(self, timeout=30.0):
        """SIGTERM; the log is closed and must hold no sanitizer report."""
        code = self.close(timeout)
        self.check(status=None)
        return code


def parse(text):
    """The exposition as {(name, frozenset(labels.items())): value}, plus the
    names of every # TYPE line under None."""
    out, types = {}, set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            types.add(line.split()[2])
            continue
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        labels = frozenset(LABEL.findall(m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    out[None] = types
    return out


def value(scrape, name, **labels):
    return scrape.get((name, frozenset(labels.items())), 0.0)


def total(scrape, name, **match):
    """Sum of every series of name whose labels include match."""
    return sum(v for k, v in scrape.items()
               if k and k[0] == name and set(match.items()) <= set(k[1]))


def client_tls():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def wait_for(pred, seconds=10):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


def json_lines(text):
    return [json.loads(ln) for ln in text.splitlines() if ln.strip()]
