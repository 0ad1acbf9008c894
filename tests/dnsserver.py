"""A real DNS server on loopback for the tests (UDP and TCP), built on dnslib.

Owned by the dns module; DKIM, DMARC, ARC and SPF tests all use it. It is
authoritative for whatever it is given and answers nothing else but NXDOMAIN.

Zone data
---------
``records`` maps an owner name (case-insensitive, trailing dot optional) to a
list of records. A record is a tuple ``(TYPE, value)`` or ``(TYPE, value, ttl)``:

    A      "192.0.2.1"
    AAAA   "2001:db8::1"
    MX     (10, "mx.example.com")      ("" or "." is the null MX, RFC 7505)
    TXT    "text"                      one character-string (split every 255 bytes)
    TXT    ["part1", "part2"]          several character-strings in one RR (may be [])
    TXT    b"\\x00raw bytes"            bytes are sent as they are; str is encoded
                                       Latin-1 when it can be, else UTF-8
    PTR    "host.example.com"
    CNAME  "target.example.com"        followed (up to 8 hops, loops stop) like a
                                       real server, the chain is in the answer
    SOA    ("ns.example.com", "hostmaster.example.com", minimum)
    SPF    same values as TXT, served as type 99

Negative answers (NXDOMAIN when the name has no record at all, NODATA when it
has records of other types) carry in their authority section the SOA of the
closest enclosing name that has one; when none does and ``negative_ttl`` is not
None, a synthetic SOA whose TTL and MINIMUM are ``negative_ttl`` (RFC 2308).
With ``negative_ttl=None`` and no SOA records, negative answers carry no SOA
(and so must not be cached by a resolver).

Faults
------
``timeout``: names, or (name, TYPE) pairs, that are never answered (the
resolver times out). ``servfail`` / ``refused``: the same, answered with
SERVFAIL / REFUSED. All three can be changed while running with
:meth:`DNSServer.set_fault`.

``no_edns=True`` answers FORMERR to queries carrying EDNS (an old server,
RFC 6891 section 7).

Transport
---------
UDP answers larger than 512 bytes (or than the EDNS payload size the query
advertises) are sent truncated (TC=1, no records); the same port serves TCP
(RFC 7766), so a resolver retries there. ``force_tc`` names always get TC over
UDP. ``server.queries`` lists every query received as (proto, name, TYPE)
with proto "udp" or "tcp"; :meth:`DNSServer.count` counts them.

Use
---
    from dnsserver import DNSServer
    with DNSServer({"example.com": [("TXT", "v=spf1 -all")]}) as dns:
        run_program("--dns", dns.address)       # "127.0.0.1:PORT"

or the pytest fixture (import it into a test module or a conftest.py)::

    from dnsserver import dns_server            # noqa: F401 (fixture)
    def test_x(dns_server):
        dns = dns_server({"example.com": [("A", "192.0.2.1")]}, timeout={"slow.example"})

Every server the fixture started is stopped at the end of the test. Servers
bind 127.0.0.1 (``host="::1"`` for IPv6) on a free port; ``port`` picks one.
"""
import select
import socket
import struct
import threading
import time

import pytest
from dnslib import (AAAA, CNAME, DNSLabel, DNSRecord, MX, PTR, QTYPE, RCODE, RR, SOA, TXT, A,
                    EDNS0)

__all__ = ["DNSServer", "dns_server", "norm"]

MAX_CNAME_HOPS = 8
POLL_S = 0.05          # how often the serving threads look at the stop flag
TCP_IDLE_S = 5.0        # a TCP connection idle this long is closed
MAX_TCP_QUERIES = 64    # queries served on one TCP connection
MAX_TCP_CONNS = 16      # TCP connections served at once


def norm(name):
    """Owner names compare lower-case, without the trailing dot."""
    if isinstance(name, DNSLabel):
        name = ".".join(l.decode("latin-1") for l in name.label)
    return name.rstrip(".").lower()


def _label(name):
    """A DNSLabel from a str without IDNA (names may hold ':' '%' or spaces)."""
    name = name.rstrip(".")
    if not name:
        return DNSLabel([])
    return DNSLabel([part.encode("latin-1", "replace") for part in name.split(".")])


def _bytes(s):
    if isinstance(s, (bytes, bytearray)):
        return bytes(s)
    try:
        return s.encode("latin-1")
    except UnicodeEncodeError:
        return s.encode("utf-8")


def _txt_strings(value):
    if isinstance(value, (list, tuple)):
        out = []
        for v in value:
            out.extend(_txt_strings(v) or [b""])
        return out
    data = _bytes(value)
    if not data:
        return [b""]
    return [data[i:i + 255] for i in range(0, len(data), 255)]


class _Rdata:
    """Raw rdata for types dnslib would mangle (SPF as type 99)."""

    def __init__(self, strings):
        self.strings = strings

    def pack(self, buffer):
        for s in self.strings:
            buffer.pack("!B", len(s))
            buffer.append(s)


def _rdata(rtype, value):
    if rtype == "A":
        return QTYPE.A, A(value)
    if rtype == "AAAA":
        return QTYPE.AAAA, AAAA(value)
    if rtype == "MX":
        pref, host = value
        return QTYPE.MX, MX(_label(host), pref)
    if rtype == "TXT":
        return QTYPE.TXT, TXT(_txt_strings(value))
    if rtype == "SPF":
        return QTYPE.SPF, _Rdata(_txt_strings(value))
    if rtype == "PTR":
        return QTYPE.PTR, PTR(_label(value))
    if rtype == "CNAME":
        return QTYPE.CNAME, CNAME(_label(value))
    if rtype == "SOA":
        mname, rname, minimum = value
        return QTYPE.SOA, SOA(_label(mname), _label(rname), (1, 3600, 600, 86400, minimum))
    raise ValueError(f"unsupported record type {rtype!r}")


class DNSServer:
    """See the module docstring."""

    def __init__(self, records=None, *, host="127.0.0.1", port=0, ttl=300, negative_ttl=60,
                 timeout=(), servfail=(), refused=(), force_tc=(), udp_limit=512,
                 no_edns=False):
        self.host = host
        self.ttl = ttl
        self.negative_ttl = negative_ttl
        self.udp_limit = udp_limit
        self.no_edns = no_edns
        self.queries = []
        self._lock = threading.Lock()
        self._zone = {}
        self._faults = {"timeout": set(), "servfail": set(), "refused": set(),
                        "force_tc": set()}
        for kind, names in (("timeout", timeout), ("servfail", servfail),
                            ("refused", refused), ("force_tc", force_tc)):
            for n in names:
                self.set_fault(kind, n)
        for name, recs in (records or {}).items():
            self.set(name, recs)
        self._stop = threading.Event()
        self._threads = []
        self._conn_threads = []
        self._conn_slots = threading.BoundedSemaphore(MAX_TCP_CONNS)
        self._udp, self._tcp = self._bind(port)
        self.port = self._udp.getsockname()[1]

    # ---- configuration -------------------------------------------------
    @property
    def address(self):
        """"127.0.0.1:PORT" or "[::1]:PORT", as the gateway's dns.servers takes it."""
        if ":" in self.host:
            return f"[{self.host}]:{self.port}"
        return f"{self.host}:{self.port}"

    def set(self, name, records):
        """Replaces every record of name (an empty list removes the name)."""
        built = []
        for rec in records:
            rtype, value = rec[0], rec[1]
            rttl = rec[2] if len(rec) > 2 else self.ttl
            qtype, rdata = _rdata(rtype, value)
            built.append((qtype, rdata, rttl, rtype, value))
        with self._lock:
            if built:
                self._zone[norm(name)] = built
            else:
                self._zone.pop(norm(name), None)

    def set_fault(self, kind, target, on=True):
        """kind: "timeout", "servfail", "refused" or "force_tc"; target: name or (name, TYPE)."""
        key = (norm(target[0]), target[1].upper()) if isinstance(target, tuple) else norm(target)
        with self._lock:
            if on:
                self._faults[kind].add(key)
            else:
                self._faults[kind].discard(key)

    def count(self, name=None, qtype=None, proto=None):
        """How many queries arrived (optionally only for name, TYPE, proto)."""
        with self._lock:
            return sum(1 for p, n, t in self.queries
                       if (name is None or n == norm(name)) and (qtype is None or t == qtype)
                       and (proto is None or p == proto))

    # ---- life cycle ----------------------------------------------------
    def _bind(self, port):
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        for _ in range(50):
            udp = socket.socket(family, socket.SOCK_DGRAM)
            tcp = socket.socket(family, socket.SOCK_STREAM)
            try:
                udp.bind((self.host, port))
                tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                tcp.bind((self.host, udp.getsockname()[1]))
                tcp.listen(16)
                return udp, tcp
            except OSError:
                udp.close()
                tcp.close()
                if port:
                    raise
        raise OSError("no free port for the DNS server")

    def start(self):
        for target in (self._serve_udp, self._serve_tcp):
            t = threading.Thread(target=target, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self):
        self._stop.set()
        for t in self._threads + self._conn_threads:
            t.join(timeout=5)
        self._threads = []
        self._conn_threads = []
        self._udp.close()
        self._tcp.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---- answering -----------------------------------------------------
    def _fault(self, kind, name, qtype):
        f = self._faults[kind]
        return name in f or (name, qtype) in f

    def _soa_for(self, name):
        labels = name.split(".") if name else []
        for i in range(len(labels) + 1):
            owner = ".".join(labels[i:])
            for qt, rdata, rttl, rtype, value in self._zone.get(owner, ()):
                if rtype == "SOA":
                    return RR(_label(owner), QTYPE.SOA, rdata=rdata, ttl=min(rttl, value[2]))
        if self.negative_ttl is None:
            return None
        owner = labels[-1] if labels else ""
        return RR(_label(owner), QTYPE.SOA, ttl=self.negative_ttl,
                  rdata=SOA(_label("ns.invalid"), _label("hostmaster.invalid"),
                            (1, 3600, 600, 86400, self.negative_ttl)))

    def answer(self, request):
        """The reply to a parsed request, or None to stay silent (timeout)."""
        q = request.q
        name = norm(q.qname)
        qtype = QTYPE.get(q.qtype, str(q.qtype))
        reply = request.reply()
        if self.no_edns and any(rr.rtype == QTYPE.OPT for rr in request.ar):
            reply.header.rcode = RCODE.FORMERR
            return reply
        with self._lock:
            if self._fault("timeout", name, qtype):
                return None
            if self._fault("servfail", name, qtype):
                reply.header.rcode = RCODE.SERVFAIL
                return reply
            if self._fault("refused", name, qtype):
                reply.header.rcode = RCODE.REFUSED
                return reply
            self._fill(reply, q.qname, name, q.qtype)
        return reply

    def _fill(self, reply, qname, name, qtype):
        owner, seen = qname, set()
        for _ in range(MAX_CNAME_HOPS + 1):
            recs = self._zone.get(name)
            if recs is None:
                reply.header.rcode = RCODE.NXDOMAIN
                break
            cname = [r for r in recs if r[0] == QTYPE.CNAME]
            if cname and qtype != QTYPE.CNAME:
                qt, rdata, rttl, rtype, value = cname[0]
                reply.add_answer(RR(owner, QTYPE.CNAME, rdata=rdata, ttl=rttl))
                seen.add(name)
                name, owner = norm(value), _label(value)
                if name in seen:
                    return  # a loop: the chain so far, nothing more
                continue
            hits = [r for r in recs if r[0] == qtype]
            for qt, rdata, rttl, rtype, value in hits:
                reply.add_answer(RR(owner, qt, rdata=rdata, ttl=rttl))
            if hits:
                return
            break
        soa = self._soa_for(name)
        if soa is not None:
            reply.add_auth(soa)

    def _wire(self, data, proto):
        try:
            request = DNSRecord.parse(data)
        except Exception:  # garbage: a real server would drop it too
            return None, None
        with self._lock:
            self.queries.append((proto, norm(request.q.qname),
                                 QTYPE.get(request.q.qtype, str(request.q.qtype))))
        return request, self.answer(request)

    def _udp_payload(self, request):
        for rr in request.ar:
            if rr.rtype == QTYPE.OPT:
                return max(512, rr.rclass)
        return self.udp_limit

    def _serve_udp(self):
        while not self._stop.is_set():
            r, _, _ = select.select([self._udp], [], [], POLL_S)
            if not r:
                continue
            try:
                data, peer = self._udp.recvfrom(65535)
            except OSError:
                continue
            request, reply = self._wire(data, "udp")
            if reply is None:
                continue
            if any(rr.rtype == QTYPE.OPT for rr in request.ar) and not self.no_edns:
                reply.add_ar(EDNS0(udp_len=4096))
            out = reply.pack()
            limit = self._udp_payload(request)
            tc = self._fault("force_tc", norm(request.q.qname), QTYPE.get(request.q.qtype, ""))
            if len(out) > limit or tc:
                short = request.reply()
                short.header.tc = 1
                out = short.pack()
            try:
                self._udp.sendto(out, peer)
            except OSError:
                pass

    def _recv_exact(self, conn, n, deadline):
        buf = b""
        while len(buf) < n:
            if self._stop.is_set() or time.monotonic() > deadline:
                return None
            r, _, _ = select.select([conn], [], [], POLL_S)
            if not r:
                continue
            chunk = conn.recv(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return buf

    def _serve_tcp_conn(self, conn):
        # RFC 7766: several queries may come on one connection; an idle one is closed.
        with conn:
            try:
                for _ in range(MAX_TCP_QUERIES):
                    deadline = time.monotonic() + TCP_IDLE_S
                    head = self._recv_exact(conn, 2, deadline)
                    if head is None:
                        return
                    (length,) = struct.unpack("!H", head)
                    data = self._recv_exact(conn, length, deadline)
                    if data is None:
                        return
                    request, reply = self._wire(data, "tcp")
                    if reply is None:
                        continue
                    out = reply.pack()
                    conn.sendall(struct.pack("!H", len(out)) + out)
            except OSError:
                pass
            finally:
                self._conn_slots.release()

    def _serve_tcp(self):
        while not self._stop.is_set():
            r, _, _ = select.select([self._tcp], [], [], POLL_S)
            if not r:
                continue
            try:
                conn, _ = self._tcp.accept()
            except OSError:
                continue
            if not self._conn_slots.acquire(blocking=False):
                conn.close()
                continue
            t = threading.Thread(target=self._serve_tcp_conn, args=(conn,), daemon=True)
            t.start()
            self._conn_threads.append(t)


@pytest.fixture
def dns_server():
    """Starts DNSServer(records, **options) on demand; stops them all after the test."""
    started = []

    def start(records=None, **options):
        server = DNSServer(records, **options).start()
        started.append(server)
        return server

    try:
        yield start
    finally:
        for server in started:
            server.stop()
