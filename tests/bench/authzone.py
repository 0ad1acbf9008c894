"""The authentication benchmark's world: sender domains, their DNS, their mail.

Five sender domains, each with an SPF record that includes a shared
provider's record two levels deep (as `include:_spf.google.com` does), DMARC
p=reject, and its own 2048-bit RSA DKIM key under its own selector; one 5 KB
message per domain signed by dkimpy, two of them also ARC-sealed by a mailing
list (dkim.arc_sign). The zone is served by tests/dnsserver.py (dnslib, the
authoritative server the tests use), and the gateway asks Debian's unbound, a
caching resolver in front of it as a real MX has one: run as the invoking
user with its own configuration in the work folder, on 127.0.0.1, with a
stub zone for "test." pointing at the dnslib server. Without unbound the
gateway asks the dnslib server directly (it answers from memory too).

Queries are counted at both: `client_queries()` is what the gateway asked
(unbound's total.num.queries, or the dnslib server's count without unbound),
`upstream_queries()` what reached the authoritative server.

Loopback only; unbound has no route anywhere else (no root hints it can
reach: every name it is asked is under "test." or local).
"""
import pathlib
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from gwdaemon import Process, port_open  # noqa: E402
from gwpaths import free_port, rsa_dkim_key  # noqa: E402

UNBOUND = "/usr/sbin/unbound"
UNBOUND_CONTROL = "/usr/sbin/unbound-control"
DOMAINS = ["shop.test", "bank.test", "news.test", "travel.test", "social.test"]
ARC_DOMAINS = {"news.test", "social.test"}  # their messages came through lists.test
SEALER = "lists.test"
HELO = "client.test"  # loadgen's EHLO
LINE = b"The quarterly numbers are attached below, as discussed on Monday.\r\n"


def records(pubs):
    """The zone: pubs maps a domain to (selector, p= of its key)."""
    zone = {
        # A provider's SPF, two includes deep; the last one holds the client.
        "_spf.esp.test": [("TXT", "v=spf1 include:_netblocks.esp.test "
                                  "include:_netblocks2.esp.test ~all")],
        "_netblocks.esp.test": [("TXT", "v=spf1 ip4:198.51.100.0/24 ip4:203.0.113.0/24 ~all")],
        "_netblocks2.esp.test": [("TXT", "v=spf1 ip4:127.0.0.0/8 ip6:::1 ~all")],
        HELO: [("TXT", "v=spf1 ip4:127.0.0.1 -all"), ("A", "127.0.0.1")],
    }
    for d in DOMAINS:
        sel, p = pubs[d]
        zone[d] = [("TXT", "v=spf1 ip4:192.0.2.10 include:_spf.esp.test -all"),
                   ("MX", (10, f"mx.{d}"))]
        zone[f"_dmarc.{d}"] = [("TXT", f"v=DMARC1; p=reject; rua=mailto:dmarc@{d}")]
        zone[f"{sel}._domainkey.{d}"] = [("TXT", f"v=DKIM1; k=rsa; p={p}", 3600)]
    sel, p = pubs[SEALER]
    zone[f"{sel}._domainkey.{SEALER}"] = [("TXT", f"v=DKIM1; k=rsa; p={p}", 3600)]
    return zone


def message(domain, n):
    """A 5 KB text message from user@domain."""
    head = (f"From: User {n} <user{n}@{domain}>\r\nTo: bench@example.test\r\n"
            f"Subject: auth bench {n}\r\nDate: Sun, 06 Dec 2026 07:00:00 +0000\r\n"
            f"Message-ID: <bench-{n}@{domain}>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=us-ascii\r\n\r\n").encode()
    return head + LINE * (5120 // len(LINE))


def signed(dkim, domain, n, keys):
    sel, key = keys[domain]
    msg = message(domain, n)
    msg = dkim.sign(msg, sel.encode(), domain.encode(), key,
                    canonicalize=(b"relaxed", b"relaxed"),
                    include_headers=[b"from", b"to", b"subject", b"date", b"message-id",
                                     b"mime-version", b"content-type"]) + msg
    if domain not in ARC_DOMAINS:
        return msg
    # The list checked it, then sealed it (ARC i=1, cv=none) before passing it on.
    msg = (f"Authentication-Results: mx.{SEALER}; spf=pass smtp.mailfrom={domain}; "
           f"dkim=pass header.d={domain}; dmarc=pass header.from={domain}\r\n").encode() + msg
    ssel, skey = keys[SEALER]
    hdrs = dkim.arc_sign(msg, ssel.encode(), SEALER.encode(), skey, f"mx.{SEALER}".encode(),
                         include_headers=[b"from", b"to", b"subject", b"date", b"message-id"])
    if not hdrs:
        raise RuntimeError("dkimpy refused to seal")
    return b"".join(hdrs) + msg


class AuthZone:
    """Keys, signed message files, the dnslib server and unbound. A context manager."""

    def __init__(self, workdir, use_unbound=True):
        self.dir = pathlib.Path(workdir) / "authzone"
        self.use_unbound = use_unbound and shutil.which(UNBOUND) is not None
        self.dns = self.unbound = None
        self.files, self.senders = [], []

    def _keys(self):
        keys, pubs = {}, {}
        for i, d in enumerate(DOMAINS + [SEALER]):
            kd = self.dir / d
            kd.mkdir(parents=True, exist_ok=True)
            key, pub = rsa_dkim_key(kd)
            sel = "arc" if d == SEALER else f"s{2024 + i}"
            keys[d], pubs[d] = (sel, key), (sel, pub)
        return keys, pubs

    def __enter__(self):
        import dkim
        from dnsserver import DNSServer
        shutil.rmtree(self.dir, ignore_errors=True)
        keys, pubs = self._keys()
        for n, d in enumerate(DOMAINS):
            f = self.dir / f"{d}.eml"
            f.write_bytes(signed(dkim, d, n, keys))
            self.files.append(f)
            self.senders.append(f"bounces+{n}@{d}")
        self.dns = DNSServer(records(pubs))
        self.dns.start()
        try:
            if self.use_unbound:
                self._start_unbound()
        except BaseException:
            self.dns.stop()
            raise
        return self

    def _start_unbound(self):
        self.port, self.control_port = free_port(), free_port()
        conf = self.dir / "unbound.conf"
        conf.write_text(f"""server:
    interface: 127.0.0.1
    port: {self.port}
    do-ip6: no
    username: ""
    chroot: ""
    directory: "{self.dir}"
    pidfile: "{self.dir}/unbound.pid"
    logfile: ""
    use-syslog: no
    verbosity: 0
    num-threads: 1
    access-control: 127.0.0.0/8 allow
    # No DNSSEC (the test zone is unsigned, and no trust anchor is reachable).
    module-config: "iterator"
    # The authoritative server is on loopback.
    do-not-query-localhost: no
    # dnslib answers NXDOMAIN for empty non-terminals (_domainkey.shop.test):
    # minimised queries would stop there.
    qname-minimisation: no
    # .test is a special-use name unbound answers NXDOMAIN for by default.
    local-zone: "test." nodefault
remote-control:
    control-enable: yes
    control-interface: 127.0.0.1
    control-port: {self.control_port}
    control-use-cert: no
stub-zone:
    name: "test."
    stub-addr: 127.0.0.1@{self.dns.port}
""")
        self.conf = conf
        self.unbound = Process([UNBOUND, "-d", "-c", conf], self.dir / "unbound.out",
                               ready=lambda p: port_open(self.port))

    @property
    def address(self):
        """What the gateway's [dns] servers takes."""
        return f"127.0.0.1:{self.port}" if self.unbound else self.dns.address

    def dns_toml(self, cache=True):
        """Lines for the end of [auth]: the [dns] section, and with cache=False, the gateway's
        caches at their smallest (no DNS answer cached, one parsed DKIM key)."""
        t = "" if cache else "dkim_key_cache_size = 1\n"  # [auth]: its smallest
        t += f'[dns]\nservers = ["{self.address}"]\ntimeout = "2s"\n'
        if not cache:
            t += "cache_size = 0\n"
        return t

    def stats(self):
        """unbound's counters (stats_noreset), as a dict of ints."""
        r = subprocess.run([UNBOUND_CONTROL, "-c", str(self.conf), "stats_noreset"],
                           capture_output=True, text=True, timeout=30)
        out = {}
        for line in r.stdout.splitlines():
            k, _, v = line.partition("=")
            try:
                out[k] = int(float(v))
            except ValueError:
                pass
        return out

    def client_queries(self):
        """Queries the gateway has sent to its resolver so far."""
        if self.unbound:
            return self.stats().get("total.num.queries", 0)
        return len(self.dns.queries)

    def upstream_queries(self):
        """Queries that reached the authoritative (dnslib) server so far."""
        return len(self.dns.queries)

    def loadgen_args(self):
        args = []
        for f, s in zip(self.files, self.senders):
            args += ["-F", f, "-f", s]
        return args

    def __exit__(self, *exc):
        if self.unbound:
            self.unbound.close(timeout=10)
        if self.dns:
            self.dns.stop()


def check_payload(p, domain):
    """What the webhook body of one message from domain must say; [] when it does."""
    auth, problems = p.get("auth") or {}, []
    spf, dmarc, arc = auth.get("spf") or {}, auth.get("dmarc") or {}, auth.get("arc") or {}
    if (spf.get("result"), spf.get("domain")) != ("pass", domain):
        problems.append(f"spf {spf}")
    if not any(s.get("result") == "pass" and s.get("domain") == domain
               for s in auth.get("dkim") or []):
        problems.append(f"dkim {auth.get('dkim')}")
    if (dmarc.get("result"), dmarc.get("policy")) != ("pass", "reject"):
        problems.append(f"dmarc {dmarc}")
    want_arc = "pass" if domain in ARC_DOMAINS else "none"
    if arc.get("result") != want_arc:
        problems.append(f"arc {arc} (want {want_arc})")
    return [f"{domain}: {x}" for x in problems]
