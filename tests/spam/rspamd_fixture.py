"""A real rspamd for the tests, on 127.0.0.1, with a configuration of its own.

Debian's rspamd (3.4) reads the packaged /etc/rspamd/rspamd.conf; every directory it
writes to ($DBDIR, $RUNDIR, $LOGDIR) and its local.d/override.d ($LOCAL_CONFDIR) are
moved into a temporary directory by --var, so it never touches the system's. What
the local configuration turns off, and why:

- every module that asks the network (RBLs, SURBL, fuzzy storage, SPF/DKIM/DMARC/ARC,
  ASN, MX checks, phishing feeds, url redirector, map updates): tests are hermetic;
  its resolver points at a dead loopback port so a forgotten lookup fails at once;
- Redis (none configured: Bayes, neural, greylisting, history stay off);
- the controller and the proxy worker: only the normal worker (/checkv2) is used,
  on a free port; so several test runs on one machine do not collide.

If rspamd is not installed or does not come up, the fixture skips with the reason.
"""
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

RSPAMD = shutil.which("rspamd") or "/usr/bin/rspamd"
RSPAMC = shutil.which("rspamc") or "/usr/bin/rspamc"

# Modules that would query DNS or the Internet, or need Redis.
OFF_MODULES = ["rbl", "surbl", "fuzzy_check", "spf", "dkim", "dmarc", "arc", "asn",
               "mx_check", "phishing", "url_redirector", "emails", "whitelist", "greylist",
               "neural", "ratelimit", "hfilter", "mid", "replies", "reputation", "history_redis", "dkim_signing",
               "rspamd_update", "multimap", "bimi", "dcc", "external_services", "antivirus",
               "metadata_exporter", "clickhouse", "elastic", "p0f", "maillist"]

# GTUBE: rspamd's own test pattern, which ends in the action reject.
GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Rspamd:
    """One rspamd master with one normal worker on 127.0.0.1:port."""

    def __init__(self, tmp: pathlib.Path, hs_cache: pathlib.Path = None):
        self.dir = tmp / "rspamd"
        # Hyperscan's compiled regexps take rspamd most of its start-up: a cache shared by
        # the instances of one test run makes the second start quick.
        self.hs_cache = hs_cache or (self.dir / "db")
        self.port = _free_port()
        self.proc = None
        for sub in ("local.d", "override.d", "db", "run", "log"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        self._write_config()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def logfile(self):
        return self.dir / "log" / "rspamd.log"

    def log(self):
        try:
            return self.logfile.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def _write_config(self):
        local, over = self.dir / "local.d", self.dir / "override.d"
        (over / "worker-normal.inc").write_text(
            f'bind_socket = "127.0.0.1:{self.port}";\ncount = 1;\ntask_timeout = 8s;\n')
        for w in ("worker-controller.inc", "worker-proxy.inc"):
            (over / w).write_text("enabled = false;\ncount = 0;\n"
                                  f'bind_socket = "127.0.0.1:{_free_port()}";\n')
        (over / "logging.inc").write_text(
            f'type = "file";\nfilename = "{self.logfile}";\nlevel = "info";\n')
        (local / "options.inc").write_text(
            'dns { nameserver = ["127.0.0.1:1"]; timeout = 100ms; retransmits = 1; }\n'
            'filters = "chartable,regexp";\n'
            f'control_socket = "{self.dir}/run/rspamd.sock mode=0600";\n'
            'map_watch_interval = 1d;\n'
            f'hs_cache_dir = "{self.hs_cache}/";\n')
        (local / "redis.conf").write_text("# no Redis in the tests\n")
        (local / "classifier-bayes.conf").write_text("enabled = false;\n")
        (local / "milter_headers.conf").write_text(
            'use = ["x-spamd-result", "x-rspamd-queue-id"];\n'
            'extended_spam_headers = false;\nskip_local = false;\nskip_authenticated = false;\n')
        for m in OFF_MODULES:
            (over / f"{m}.conf").write_text("enabled = false;\n")

    def start(self, timeout=60.0):
        if not os.path.exists(RSPAMD):
            pytest.skip("rspamd is not installed (scripts/packages.txt lists it)")
        d = self.dir
        args = [RSPAMD, "-f", "-i", "-c", "/etc/rspamd/rspamd.conf",
                "--var", f"LOCAL_CONFDIR={d}", "--var", f"DBDIR={d}/db",
                "--var", f"RUNDIR={d}/run", "--var", f"LOGDIR={d}/log"]
        self.out = open(d / "stdout.log", "wb")
        self.proc = subprocess.Popen(args, stdout=self.out, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                reason = (d / "stdout.log").read_text(errors="replace")[-2000:] + self.log()[-2000:]
                pytest.skip(f"rspamd exited at start ({self.proc.returncode}): {reason}")
            if self.ping():
                return self
            time.sleep(0.1)
        self.stop()
        pytest.skip(f"rspamd did not answer on {self.url} within {timeout}s: {self.log()[-2000:]}")

    def ping(self):
        try:
            with urllib.request.urlopen(self.url + "/ping", timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    def stop(self):
        """SIGTERM to the master's group (its workers), then wait; bounded."""
        if not self.proc or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
        self.out.close()


@pytest.fixture(scope="session")
def rspamd_hs_cache(tmp_path_factory):
    """Hyperscan's cache in the build tree (as the benchmark's): compiled once, then every
    run starts rspamd in about a second instead of half a minute. Only rspamd reads it."""
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
    from gwpaths import BUILD
    d = BUILD / "tests" / "spam" / "rspamd-hs"
    try:
        d.mkdir(parents=True, exist_ok=True)
        return d
    except OSError:
        return tmp_path_factory.mktemp("rspamd-hs")


@pytest.fixture
def rspamd(tmp_path, rspamd_hs_cache):
    r = Rspamd(tmp_path, rspamd_hs_cache).start()
    try:
        yield r
    finally:
        r.stop()


@pytest.fixture(scope="module")
def rspamd_module(tmp_path_factory, rspamd_hs_cache):
    r = Rspamd(tmp_path_factory.mktemp("rspamd"), rspamd_hs_cache).start()
    try:
        yield r
    finally:
        r.stop()
