"""A process under test, started and stopped in one place.

Every test and measuring tool that runs build/gateway/smtp-gateway (or
tests/smtp/smtp-gateway-double, an example receiver, a Rails or Anymail app)
starts it through Process or Gateway: the output goes to a log file (tail()
for assertion messages), start-up is awaited on a log line, a listening port
or a readiness line (bounded in time, and the child's early exit is reported
with its log), and stop() sends SIGTERM, waits for the drain and returns the
exit status. Gateway adds the config (written from a dict or given as text, on
a free loopback port) and check(): a sanitizer report in the daemon's log
(scripts/test with SMTPGW_SANITIZE=1 builds with ASan, LeakSanitizer and
UBSan) fails the test, and so does an exit status other than the expected one.

A module of its own beside gwpaths.py so that test files and the tools under
scripts/ import it whatever conftest.py files pytest has collected.
"""
import json
import os
import resource
import signal
import smtplib
import socket
import subprocess
import time

from gwpaths import BUILD, free_port

GATEWAY = BUILD / "gateway" / "smtp-gateway"
DOUBLE = BUILD / "tests" / "smtp" / "smtp-gateway-double"
# What ASan, LeakSanitizer and UBSan write when they find something.
SANITIZER_MARKS = ("Sanitizer", "runtime error:")
# Hermetic: sender authentication would ask the system's resolver (tests/smtp_auth/ runs it
# against tests/dnsserver.py).
AUTH_OFF = {"spf": "off", "dkim": "off", "dmarc": "off", "arc": "off"}
READY = "ready:"  # the daemon's info line once every listener and worker is up


def sanitizer_report(log):
    """True when a sanitizer has reported something in this log text."""
    return any(mark in log for mark in SANITIZER_MARKS)


def clean_env(extra=None):
    """The environment without proxy settings (libcurl and the receivers would send
    127.0.0.1 through them), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update(extra or {})
    return env


class Toml(str):
    """TOML text written out as it is (a value, or whole lines inside a section)."""


def toml_value(v):
    if isinstance(v, Toml):
        return str(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)  # JSON's string escapes are TOML basic-string escapes
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"no TOML for {v!r}")


def _table_lines(kv):
    out = []
    for key, val in kv.items():
        out.append(str(val) if key.startswith("+") else f"{key} = {toml_value(val)}")
    return out


def toml_text(doc):
    """gateway.toml from {section: {key: value}} ([section]) and {section: [{...}, ...]}
    ([[section]] each). Values are Python values (str, int, bool, list, dict) or Toml text;
    a key starting with "+" puts its Toml value in as whole lines (a test's extra settings)."""
    out = []
    for section, body in doc.items():
        tables = body if isinstance(body, list) else [body]
        for kv in tables:
            out.append(f"[[{section}]]" if isinstance(body, list) else f"[{section}]")
            out += _table_lines(kv)
            out.append("")
    return "\n".join(out)


def write_toml(path, doc):
    """Writes toml_text(doc) (or the text doc) to path, mode 0600 as the daemon and the
    drivers want a file that holds secrets; returns path."""
    path.write_text(doc if isinstance(doc, str) else toml_text(doc))
    path.chmod(0o600)
    return path


def gateway_config(port, routes, hostname="mx.example.test", workers=1, **sections):
    """The usual gateway.toml dict: one SMTP listener on 127.0.0.1:port, sender
    authentication off, the given [[route]] tables; other sections as keyword arguments.
    allow_root: the tests run as root."""
    doc = {"server": {"hostname": hostname, "workers": workers, "allow_root": True},
           "listener": [{"address": f"127.0.0.1:{port}"}], "auth": dict(AUTH_OFF)}
    for name, body in sections.items():
        if isinstance(body, dict):
            doc.setdefault(name, {}).update(body)
        else:
            doc[name] = body
    doc["route"] = list(routes)
    return doc


class Process:
    """One child process whose stdout and stderr go to a log file.

    ready: None (started is enough), a string to find in the log, or a callable
    (process) -> bool polled until true; both within `timeout` seconds."""

    def __init__(self, argv, log_path, env=None, ready=None, timeout=15.0, max_fds=None,
                 cwd=None, append=False, port=None):
        self.argv = [str(a) for a in argv]
        self.port = port  # where it listens, when it does (for listening())
        self.log_path = log_path
        self.env = clean_env() if env is None else env
        self.max_fds, self.cwd = max_fds, cwd
        self.ready, self.timeout = ready, timeout
        self.log_fh = open(log_path, "ab" if append else "wb")
        self.proc = None
        self.start()

    def start(self):
        """Starts (or, once stopped, restarts: the log goes on in the same file) and waits
        until ready; a string is looked for in what this run has logged."""
        def limit_fds():
            if self.max_fds:
                resource.setrlimit(resource.RLIMIT_NOFILE, (self.max_fds, self.max_fds))

        self.log_fh.flush()
        self.run_from = self.log_path.stat().st_size
        self.proc = subprocess.Popen(self.argv, stdout=self.log_fh, stderr=self.log_fh,
                                     env=self.env, cwd=self.cwd, preexec_fn=limit_fds)
        if self.ready is None:
            return
        try:
            self.wait_ready(self.ready, self.timeout)
        except AssertionError:
            self.proc.kill()  # not left behind by a test that failed at its start
            self.proc.wait(timeout=5)
            raise

    def wait_ready(self, ready, timeout=15.0):
        """Polls `ready` (see the class) until true; fails on the child's exit or after
        `timeout` s, with the log's tail."""
        if isinstance(ready, str):
            def check(p):
                return ready in p.log_path.read_bytes()[p.run_from:].decode(errors="replace")
        else:
            check = ready
        end = time.monotonic() + timeout
        while not check(self):
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.argv[0]} exited {self.proc.returncode}: "
                                     + self.tail())
            if time.monotonic() > end:
                raise AssertionError(f"{self.argv[0]} not ready in {timeout} s: " + self.tail())
            time.sleep(0.02)

    @property
    def pid(self):
        return self.proc.pid

    def log(self):
        return self.log_path.read_text(errors="replace")

    def tail(self, n=4000):
        return self.log()[-n:]

    def wait_log(self, needle, timeout=5.0):
        """True once `needle` is in the log, False after `timeout` seconds."""
        end = time.monotonic() + timeout
        while needle not in self.log():
            if time.monotonic() > end:
                return False
            time.sleep(0.02)
        return True

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout=20.0):
        return self.proc.wait(timeout=timeout)

    def drain(self, timeout=30.0):
        """SIGTERM, then waits for the exit: (exit status, seconds the drain took), for a
        measuring tool's report (never asserted against a clock)."""
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=timeout)
        return code, time.monotonic() - t0

    def stop(self, timeout=30.0):
        """SIGTERM (the drain), then SIGKILL after `timeout` s; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        return self.proc.returncode

    def close(self, timeout=30.0):
        """stop(), then the log file is closed."""
        code = Process.stop(self, timeout)  # not a subclass's stop(), which may call close()
        self.log_fh.close()
        return code

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def port_open(port):
    """True when something accepts connections on 127.0.0.1:port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def listening(proc):
    """A readiness check: the process accepts connections on its port."""
    return port_open(proc.port)


def log_line(text):
    """A readiness check: a line of the log is exactly `text` (an app's "listening")."""
    return lambda proc: text in proc.log().splitlines()


class Gateway(Process):
    """The daemon (or the SMTP double) on 127.0.0.1:port, its config in tmp/NAME.toml and
    its log in tmp/NAME.log (name: "gateway").

    config: a dict for toml_text(), TOML text, or a callable (port) -> either, for
    configs that name their own listener port. ready defaults to the daemon's "ready:"
    info line; a log level above info needs ready=listening."""

    def __init__(self, tmp, config, binary=GATEWAY, port=None, ready=READY, timeout=15.0,
                 expect_fail=False, name="gateway", log_name=None, **kw):
        self.tmp = tmp
        self.port = port or free_port()
        self.expect_fail = expect_fail
        self.config = tmp / f"{name}.toml"
        self.write_config(config)
        super().__init__([binary, "-c", self.config], tmp / (log_name or f"{name}.log"),
                         port=self.port,
                         ready=None if expect_fail else ready, timeout=timeout, **kw)
        if expect_fail:
            self.proc.wait(timeout=timeout)

    def write_config(self, config):
        """(Re)writes gateway.toml, mode 0600 as the daemon wants for secrets (SIGHUP tests)."""
        write_toml(self.config, config(self.port) if callable(config) else config)

    def connect(self, timeout=5.0):
        return socket.create_connection(("127.0.0.1", self.port), timeout=timeout)

    def smtp(self, local_hostname="client.sender.test", timeout=30):
        return smtplib.SMTP("127.0.0.1", self.port, local_hostname=local_hostname,
                            timeout=timeout)

    def send_no_wait(self, msg, rcpt="hello@example.test", sender="alice@sender.test"):
        """Sends one message (smtplib) and returns the connection without reading the
        final reply: the test decides when to read it, or closes first."""
        c = self.smtp()
        c.ehlo()
        assert c.mail(sender)[0] == 250
        assert c.rcpt(rcpt)[0] == 250
        c.putcmd("data")
        assert c.getreply()[0] == 354
        c.send(msg + b".\r\n")
        return c

    def check(self, status=0):
        """Fails on a sanitizer report in the log, and on an exit status other than
        `status` (None: any) once stopped."""
        log = self.log()
        assert not sanitizer_report(log), log[-4000:]
        code = self.proc.returncode
        assert status is None or self.expect_fail or code == status, \
            f"gateway exit status {code}: {log[-2000:]}"

    def __exit__(self, exc_type, *exc):
        self.close()
        if exc_type is None:
            self.check()


class Gateways:
    """Every Gateway a test starts, each in a directory of its own under tmp; finish()
    stops them all, then checks each (sanitizer reports, exit status)."""

    def __init__(self, tmp, status=0):
        self.tmp, self.status = tmp, status
        self.started = []
        self.cleanups = []

    def add_cleanup(self, fn):
        """fn() runs once every daemon is stopped (e.g. closing their webhook sink)."""
        self.cleanups.append(fn)

    def start(self, config, daemon=None, **kw):
        """A new `daemon` (default Gateway) in tmp/gwN, with these arguments."""
        sub = self.tmp / f"gw{len(self.started)}"
        sub.mkdir()
        g = (daemon or Gateway)(sub, config, **kw)
        self.started.append(g)
        return g

    def finish(self):
        for g in self.started:
            g.close()
        for fn in self.cleanups:
            fn()
        for g in self.started:
            g.check(self.status)


class SmtpLines:
    """A raw SMTP client read a reply at a time (the last line of a multi-line one), for
    tests that stage BDAT chunks across sessions."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=120)
        self.buf = b""

    def reply(self):
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(4096)
                assert chunk, self.buf
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            if line[3:4] != b"-":
                return line.decode()

    def cmd(self, line):
        self.sock.sendall(line)
        return self.reply()

    def send(self, sender, msg, last=True, rcpt=b"hello@example.test"):
        """One transaction in one BDAT chunk; its reply (with last), else the chunk's."""
        for line in (b"MAIL FROM:<%s>\r\n" % sender, b"RCPT TO:<%s>\r\n" % rcpt):
            assert self.cmd(line).startswith("250"), line
        return self.cmd(b"BDAT %d%s\r\n" % (len(msg), b" LAST" if last else b"") + msg)
