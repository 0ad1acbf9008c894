"""Helpers of the admin-listener tests: the real daemon with an [admin] address,
a webhook sink that answers by path, certificates, a scrape parser.

Everything listens on 127.0.0.1; every wait is bounded.
"""
import http.server
import json
import os
import pathlib
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from gwpaths import BUILD, free_port  # noqa: E402

BINARY = BUILD / "gateway" / "smtp-gateway"
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


class Sink:
    """The application: answers each POST by its path (/200, /503, /delay/SECONDS),
    after reading the whole body; keeps each body."""

    def __init__(self):
        self.bodies = []
        self.lock = threading.Lock()
        self.got = threading.Event()
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with sink.lock:
                    sink.bodies.append((self.path, body))
                sink.got.set()
                status = 200
                if self.path.startswith("/delay/"):
                    time.sleep(min(float(self.path.split("/")[2]), 10))
                elif self.path.strip("/").isdigit():
                    status = int(self.path.strip("/"))
                out = b'{"ok":true}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


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


class Daemon:
    """smtp-gateway with the given TOML text (@ADMIN@, @SMTP@, @SUB@ are
    replaced by free ports); its standard error goes to a file."""

    def __init__(self, tmp, text):
        self.tmp = pathlib.Path(tmp)
        self.admin_port, self.port, self.sub_port = free_port(), free_port(), free_port()
        text = (text.replace("@ADMIN@", str(self.admin_port)).replace("@SUB@", str(self.sub_port))
                .replace("@SMTP@", str(self.port)))
        self.config = self.tmp / "gateway.toml"
        self.config.write_text(text)
        self.logfile = self.tmp / "gateway.err"
        self.log_fh = open(self.logfile, "wb")
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        self.proc = subprocess.Popen([str(BINARY), "-c", str(self.config)], stdout=self.log_fh,
                                     stderr=self.log_fh, env=env)
        end = time.monotonic() + 15
        while time.monotonic() < end:
            assert self.proc.poll() is None, self.log()
            try:
                if self.get("/readyz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError("not ready: " + self.log())

    def log(self):
        return self.logfile.read_text(errors="replace")

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

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.log_fh.close()


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
