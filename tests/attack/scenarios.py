"""The attacks of issue 11, each at two sizes: full (scripts/attack, the
figures) and small (test_attack.py, functional outcomes). A scenario gives
its config overrides, its DNS zone when it needs one, the attack itself
(run against the daemon while the probe measures), the memory bound it is
held to and the replies the attacker must get.

Message bodies are made of lines without leading dots or white space, so
that no dot-stuffing is needed and simple and relaxed body canonicalization
are the same bytes (the DKIM/ARC body hashes below are real: the verifier
must do the work, not stop at a wrong bh=).
"""
import base64
import hashlib
import selectors
import socket
import ssl
import subprocess
import threading
import time

from attack_lib import HANG_S, client, ehlo, run_threads
from gwpaths import rsa_dkim_key
from gwrandom import rng

MB = 1024 * 1024
AUTH_ON = {"auth.spf": '"annotate"', "auth.dkim": '"annotate"', "auth.dmarc": '"annotate"',
           "auth.arc": '"annotate"', "dns.timeout": '"1s"', "dns.tries": "2"}
PROBE_ZONE = {"probe.test": [("TXT", "v=spf1 ip4:127.0.0.1 -all")],
              "attacker.test": [("TXT", "v=spf1 ip4:127.0.0.0/8 ~all")]}


def key(text):
    """'421 4.4.2' from a reply line (code and enhanced status), else the code."""
    parts = text.split()
    code = text[:3]
    if len(parts) > 1 and parts[1][:1].isdigit() and parts[1].count(".") == 2:
        return f"{code} {parts[1]}"
    return code


def junk(n, seed):
    rnd = rng(seed)
    alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    return "".join(rnd.choice(alpha) for _ in range(n))


def body_lines(size):
    """size bytes of 78-letter lines with CRLF (no dot, no white space)."""
    line = b"Lorem" + b"x" * 71 + b"\r\n"
    return line * max(1, size // len(line))


def head(sender="a@attacker.test", rcpt="victim@ours.test", subject="attack", extra=b""):
    return (f"From: <{sender}>\r\nTo: <{rcpt}>\r\nSubject: {subject}\r\n"
            f"Message-ID: <{time.monotonic_ns()}@attacker.test>\r\nMIME-Version: 1.0\r\n"
            ).encode() + extra


# ---- the transaction as an attacker runs it ----------------------------
def send_message(ctx, c, sender, rcpts, data):
    """One transaction; every reply is tallied; returns the last reply's key."""
    last = None
    c.send(f"MAIL FROM:<{sender}>\r\n".encode())
    last = key(c.reply(HANG_S)[1])
    if not last.startswith("250"):
        ctx.tally.add("MAIL " + last)
        return last
    ok = 0
    for r in rcpts:
        c.send(f"RCPT TO:<{r}>\r\n".encode())
        last = key(c.reply(HANG_S)[1])
        ok += last.startswith("250")
    if not ok:
        ctx.tally.add("RCPT " + last)
        return last
    c.send(b"DATA\r\n")
    last = key(c.reply(HANG_S)[1])
    if not last.startswith("354"):
        ctx.tally.add("DATA " + last)
        return last
    c.send(data)
    c.send(b".\r\n")
    last = key(c.reply(HANG_S * (4 if ctx.full else 1))[1])  # 25 MB through the checks
    ctx.tally.add(last)
    return last


def messages(ctx, conns, per_conn, make, sender=lambda i, k: "a@attacker.test",
             rcpt="victim@ours.test"):
    """conns connections at once, each sending per_conn messages make(i, k)."""
    def one(i):
        c = None
        for k in range(per_conn):
            if ctx.left() <= 0:
                ctx.tally.add("not-sent")
                continue
            try:
                if c is None:
                    c = client(ctx.port)
                    code = ehlo(c)
                    if code != 250:
                        ctx.tally.add(f"greeting/EHLO {code}")
                        c.close()
                        c = None
                        continue
                send_message(ctx, c, sender(i, k), [rcpt], make(i, k))
            except (OSError, EOFError, ValueError) as e:
                ctx.tally.add(type(e).__name__)
                if c is not None:
                    c.close()
                c = None
        if c is not None:
            c.close()
    return run_threads(conns, one, ctx.deadline + HANG_S)


class Scenario:
    name = ""
    tls = False
    submission = False
    zone = None
    prepare = None
    bound_text = "baseline + 48 MB + 20x the attack's bytes in flight"
    xfail = None  # reason, when a fix is on another branch

    def config(self, full):
        return {}

    def seconds(self, full):
        return 120 if full else 20

    def fds(self, full):
        return 1024

    def memory_bound_kb(self, ctx):
        return 48 * 1024 + 20 * ctx.inflight_bytes // 1024

    def expected(self, counts, full):
        """Problems with what the attacker got (empty: as expected)."""
        return []

    def attack(self, ctx):
        raise NotImplementedError


def only(counts, allowed, at_least=()):
    bad = [f"unexpected {k} x{v}" for k, v in counts.items() if k not in allowed]
    bad += [f"no {k}" for k in at_least if not counts.get(k)]
    return bad


# ---- MIME and header shapes ---------------------------------------------
class BigMessage(Scenario):
    """One shape of message, sent by `conns` connections `per_conn` times each."""
    conns, per_conn = 2, 2
    allowed = ("250 2.0.0",)

    def build(self, full):
        raise NotImplementedError

    def config(self, full):
        return {"limits.max_message_size": '"30MB"'}

    def attack(self, ctx):
        data = self.build(ctx.full)
        ctx.inflight_bytes = len(data) * self.conns
        messages(ctx, self.conns, self.per_conn if ctx.full else 1, lambda i, k: data)

    def expected(self, counts, full):
        return only(counts, self.allowed, at_least=self.allowed[:1])


class MimeEmptyParts(BigMessage):
    name = "mime_700k_empty"

    def build(self, full):
        n = 700000 if full else 70000
        return (head(extra=b"Content-Type: multipart/mixed; boundary=b\r\n\r\n")
                + b"--b\r\n\r\n" * n + b"--b--\r\n")


class FoldedHeader(BigMessage):
    name = "folded_14mb"
    # A header section over max_header_section_size may be refused (552/554) once h/mime is in.
    allowed = ("250 2.0.0", "552 5.3.4", "554 5.6.0", "550 5.6.0")

    def build(self, full):
        size = 14 * MB if full else 1 * MB
        return head(extra=b"X-Folded: start\r\n" + b" fold\r\n" * (size // 7)) + b"\r\nbody\r\n"

    def expected(self, counts, full):
        return only(counts, self.allowed) or ([] if counts else ["no reply"])


class BigHeader(FoldedHeader):
    name = "header_10mb"

    def build(self, full):
        size = 10 * MB if full else 1 * MB
        field = b"X-Attack-Field: abcdefghijklmnopqrstuvwxyz\r\n"
        return head(extra=field * (size // len(field))) + b"\r\nbody\r\n"


class MimeNested(BigMessage):
    name = "mime_nested_1000"
    conns, per_conn = 2, 10

    def build(self, full):
        depth = 1000
        out = [head()]
        for d in range(depth):
            out.append(f"Content-Type: multipart/mixed; boundary=\"n{d}\"\r\n\r\n--n{d}\r\n".encode())
        out.append(b"Content-Type: text/plain\r\n\r\ndeep\r\n")
        out += [f"--n{d}--\r\n".encode() for d in reversed(range(depth))]
        return b"".join(out)


class MimeParts(BigMessage):
    name = "mime_10k_parts"
    conns, per_conn = 2, 5

    def build(self, full):
        n = 10000 if full else 2000
        parts = b"".join(b"--p\r\nContent-Type: text/plain\r\n\r\npart %d\r\n" % i
                         for i in range(n))
        return head(extra=b"Content-Type: multipart/mixed; boundary=p\r\n\r\n") + parts + b"--p--\r\n"


def charset_labels():
    out = subprocess.run(["iconv", "-l"], capture_output=True, text=True, timeout=30,
                         check=True).stdout
    return sorted({n.strip().rstrip("/") for n in out.replace(",", "\n").split()} - {""})


def charset_message(label):
    """The message tests/mime/charset_sweep.c builds for `label` (the same xorshift
    bytes: with them TSCII hung a worker), its bare LFs made CRLF: an RFC 2047
    Subject and a text/plain body in `label`, made of pseudo-random high bytes."""
    state = [(2463534242 + len(label)) & 0xFFFFFFFF]

    def nxt():
        x = state[0]
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        state[0] = x
        return (0x80 | x) & 0xFF

    hdr = bytes(nxt() for _ in range(48))
    body = bytes(10 if i % 64 == 63 else nxt() for i in range(512)).replace(b"\n", b"\r\n")
    # Byte for byte as the driver's (the From alone changes whether TSCII hangs).
    return (f"From: a@example.com\r\nSubject: =?{label}?B?{base64.b64encode(hdr).decode()}?=\r\n"
            f"Content-Type: text/plain; charset=\"{label}\"\r\n"
            f"Content-Transfer-Encoding: 8bit\r\n\r\n").encode() + body


def tscii_message():
    """The TSCII message: byte 0x82 is four Tamil code points (12 bytes of UTF-8) in
    glibc's TSCII, past the 3x-the-message ceiling of the text buffer; on main the
    conversion loop then retries iconv's E2BIG for ever and the worker hangs."""
    return (b"From: <a@attacker.test>\r\nTo: <victim@ours.test>\r\nSubject: tscii\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=TSCII\r\n"
            b"Content-Transfer-Encoding: 8bit\r\n\r\n" + (b"\x82" * 76 + b"\r\n") * 12)


class Charsets(Scenario):
    """The TSCII message first, then every `iconv -l` name as the label of the
    message tests/mime/charset_sweep.c builds (small: a sample)."""
    name = "charset_sweep"

    def config(self, full):
        return {"limits.max_transactions": "1000"}

    def seconds(self, full):
        return 300 if full else 40

    def attack(self, ctx):
        labels = charset_labels()
        if not ctx.full:
            labels = labels[::40]
        labels = ["TSCII"] + [x for x in labels if x != "TSCII"]
        conns = 4 if ctx.full else 2
        ctx.inflight_bytes = 1000 * conns

        def make(i, k):
            j = k * conns + i
            if j >= len(labels):
                return None
            return tscii_message() if j == 0 else charset_message(labels[j])

        def one(i):
            c = None
            for k in range(len(labels) // conns + 1):
                data = make(i, k)
                if data is None or ctx.left() <= 0:
                    break
                try:
                    if c is None:
                        c = client(ctx.port)
                        ehlo(c)
                    send_message(ctx, c, "a@attacker.test", ["victim@ours.test"], data)
                except (OSError, EOFError, ValueError) as e:
                    ctx.tally.add(f"{type(e).__name__} ({labels[k * conns + i]})")
                    if c is not None:
                        c.close()
                    c = None
            if c is not None:
                c.close()
        run_threads(conns, one, ctx.deadline + HANG_S)

    def expected(self, counts, full):
        return only(counts, ("250 2.0.0",), at_least=("250 2.0.0",))


# ---- connections and commands -------------------------------------------
class IdleConns(Scenario):
    name = "idle_10k"
    bound_text = "baseline + 48 MB + 24 kB per idle connection"

    def n(self, full):
        return 10000 if full else 300

    def fds(self, full):
        return self.n(full) + 200

    def config(self, full):
        n = self.n(full) + 100
        return {"limits.max_connections": str(n), "limits.max_connections_per_ip": str(n)}

    def memory_bound_kb(self, ctx):
        return 48 * 1024 + 24 * self.n(ctx.full)

    def attack(self, ctx):
        socks = []
        try:
            for _ in range(self.n(ctx.full)):
                if ctx.left() <= 0:
                    break
                try:
                    c = client(ctx.port)
                    ctx.tally.add("EHLO " + str(ehlo(c)))
                    socks.append(c)
                except (OSError, EOFError) as e:
                    ctx.tally.add(type(e).__name__)
            hold = time.monotonic() + (10 if ctx.full else 2)
            while time.monotonic() < hold:
                time.sleep(0.2)
            for c in socks[:: max(1, len(socks) // 50)]:  # still served
                try:
                    c.send(b"NOOP\r\n")
                    ctx.tally.add("NOOP " + key(c.reply(HANG_S)[1]))
                except (OSError, EOFError) as e:
                    ctx.tally.add(type(e).__name__)
        finally:
            for c in socks:
                c.close()

    def expected(self, counts, full):
        return only(counts, ("EHLO 250", "NOOP 250 2.0.0"), at_least=("EHLO 250", "NOOP 250 2.0.0"))


def trickle(ctx, conns, interval, until):
    """Sends one byte to every connection each interval, never a CRLF; tallies the
    reply each gets and how it ends. Returns when all are closed or at `until`."""
    sel = selectors.DefaultSelector()
    bufs = {}
    for c in conns:
        c.sock.setblocking(False)
        sel.register(c.sock, selectors.EVENT_READ, c)
        bufs[c] = c.buf
    nxt = time.monotonic()
    while bufs and time.monotonic() < until:
        if time.monotonic() >= nxt:
            for c in list(bufs):
                try:
                    c.sock.send(b"X")
                except BlockingIOError:
                    pass
                except OSError:
                    pass  # the close is seen by the read side
            nxt += interval
        for sk, _ in sel.select(max(0.0, min(nxt, until) - time.monotonic())):
            c = sk.data
            try:
                chunk = c.sock.recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                chunk = b""
            if chunk:
                bufs[c] += chunk
                continue
            text = bufs.pop(c).decode(errors="replace").strip()
            ctx.tally.add(key(text.splitlines()[-1]) + " then closed" if text else "closed")
            sel.unregister(c.sock)
            c.sock.close()
    for c in bufs:
        ctx.tally.add("still open")
        sel.unregister(c.sock)
        c.sock.close()


class SlowlorisCommand(Scenario):
    name = "slowloris_cmd"
    bound_text = "baseline + 48 MB + 24 kB per connection"

    def n(self, full):
        return 1000 if full else 40

    def fds(self, full):
        return self.n(full) + 200

    def config(self, full):
        n = self.n(full) + 100
        return {"limits.max_connections": str(n), "limits.max_connections_per_ip": str(n),
                "limits.command_timeout": '"10s"' if full else '"2s"'}

    def memory_bound_kb(self, ctx):
        return 48 * 1024 + 24 * self.n(ctx.full)

    def open(self, ctx):
        conns = []
        for _ in range(self.n(ctx.full)):
            try:
                c = client(ctx.port)
                ehlo(c)
                conns.append(c)
            except (OSError, EOFError) as e:
                ctx.tally.add(type(e).__name__)
        return conns

    def attack(self, ctx):
        conns = self.open(ctx)
        trickle(ctx, conns, 1.0 if ctx.full else 0.3, ctx.deadline)

    def seconds(self, full):
        return 60 if full else 15

    def expected(self, counts, full):
        return only(counts, ("421 4.4.2 then closed",), at_least=("421 4.4.2 then closed",))


class SlowlorisData(SlowlorisCommand):
    name = "slowloris_data"

    def config(self, full):
        c = super().config(full)
        del c["limits.command_timeout"]
        c["limits.data_deadline"] = '"10s"' if full else '"2s"'
        return c

    def open(self, ctx):
        conns = super().open(ctx)
        for c in conns:
            c.send(b"MAIL FROM:<a@attacker.test>\r\nRCPT TO:<victim@ours.test>\r\nDATA\r\n")
        for c in conns:
            try:
                codes = [c.reply(HANG_S)[0] for _ in range(3)]
                if codes != [250, 250, 354]:
                    ctx.tally.add(f"envelope {codes}")
            except (OSError, EOFError) as e:
                ctx.tally.add(type(e).__name__)
        return conns


class LongCommand(Scenario):
    name = "long_cmd_1mb"
    conns = 20

    def attack(self, ctx):
        n, lines = (self.conns, 12) if ctx.full else (3, 3)
        ctx.inflight_bytes = n * MB
        line = b"NOOP " + b"x" * MB + b"\r\n"

        def one(i):
            try:
                c = client(ctx.port)
                ehlo(c)
                for _ in range(lines):
                    c.send(line)
                    ctx.tally.add(key(c.reply(HANG_S)[1]))
                c.close()
            except (OSError, EOFError) as e:
                ctx.tally.add(type(e).__name__)
        run_threads(n, one, ctx.deadline)

    def expected(self, counts, full):
        return only(counts, ("500 5.5.6", "421 4.7.0", "ConnectionResetError",
                             "BrokenPipeError", "EOFError"), at_least=("500 5.5.6",))


class Recipients(Scenario):
    name = "rcpt_100k"
    bound_text = "baseline + 64 MB"

    def limit(self, full):
        return 100000 if full else 1000

    def config(self, full):
        return {"limits.max_recipients": str(self.limit(full))}

    def memory_bound_kb(self, ctx):
        return 64 * 1024

    def attack(self, ctx):
        limit, extra = self.limit(ctx.full), 100
        total = limit + extra
        c = client(ctx.port)
        ehlo(c)
        c.send(b"MAIL FROM:<a@attacker.test>\r\n")
        ctx.tally.add("MAIL " + key(c.reply(HANG_S)[1]))

        def writer():
            try:
                for s in range(0, total, 1000):
                    c.send(b"".join(b"RCPT TO:<r%d@ours.test>\r\n" % i
                                    for i in range(s, min(total, s + 1000))))
            except OSError:
                pass
        t = threading.Thread(target=writer, daemon=True)
        t.start()
        got, buf = 0, c.buf
        c.sock.settimeout(HANG_S)
        while got < total:
            chunk = c.sock.recv(1 << 16)
            if not chunk:
                raise EOFError("closed after %d RCPT replies" % got)
            buf += chunk
            lines = buf.split(b"\r\n")
            buf = lines.pop()
            for ln in lines:
                ctx.tally.add("RCPT " + key(ln.decode(errors="replace")))
                got += 1
        c.buf = buf
        t.join(HANG_S)
        c.send(b"DATA\r\n")
        ctx.tally.add("DATA " + key(c.reply(HANG_S)[1]))
        c.send(head() + b"\r\nmany recipients\r\n.\r\n")
        ctx.tally.add("END " + key(c.reply(HANG_S * 4)[1]))
        c.close()

    def expected(self, counts, full):
        want = {"MAIL 250 2.1.0": 1, "RCPT 250 2.1.5": self.limit(full), "RCPT 452 4.5.3": 100,
                "DATA 354": 1}
        # The end: delivered, or refused as a payload over max_payload_size (552 5.3.4).
        end = ("END 250 2.0.0", "END 552 5.3.4")
        return [f"{k}: got {counts.get(k, 0)}, want {v}" for k, v in want.items()
                if counts.get(k, 0) != v] + only(counts, (*want, *end)) + \
            ([] if sum(counts.get(k, 0) for k in end) == 1 else ["no end-of-data reply"])


class DataNeverEnds(Scenario):
    name = "data_never_ends"
    bound_text = "baseline + 48 MB + 20x (memory_threshold per connection)"

    def config(self, full):
        return {"limits.data_deadline": '"20s"' if full else '"2s"',
                "limits.max_message_size": '"25MB"' if full else '"1MB"'}

    def seconds(self, full):
        return 60 if full else 20

    def attack(self, ctx):
        n = 2 if ctx.full else 1
        ctx.inflight_bytes = n * MB  # memory_threshold: the rest spills to a file
        chunk = body_lines(256 * 1024)

        def one(i):
            try:
                c = client(ctx.port)
                ehlo(c)
                c.send(b"MAIL FROM:<a@attacker.test>\r\nRCPT TO:<victim@ours.test>\r\nDATA\r\n")
                codes = [c.reply(HANG_S)[0] for _ in range(3)]
                if codes != [250, 250, 354]:
                    ctx.tally.add(f"envelope {codes}")
                    return
                stop = threading.Event()
                sent = [0]

                def writer():  # as fast as the daemon reads, until its reply or the deadline
                    try:
                        while not stop.is_set() and ctx.left() > 0:
                            c.sock.sendall(chunk)
                            sent[0] += len(chunk)
                    except OSError:
                        pass
                t0 = time.monotonic()
                c.sock.settimeout(ctx.left() + HANG_S)  # one timeout: the reply's
                t = threading.Thread(target=writer, daemon=True)
                t.start()
                try:
                    ctx.tally.add(key(c.reply(ctx.left() + HANG_S)[1]))
                except (OSError, EOFError) as e:
                    ctx.tally.add(f"no reply: {type(e).__name__}")
                stop.set()
                ctx.tally.add(f"s to the reply, #{i}", int(time.monotonic() - t0))
                c.sock.close()
                t.join(HANG_S)
                ctx.tally.add(f"MB sent by #{i}", sent[0] // MB)
                c.close()
            except (OSError, EOFError) as e:
                ctx.tally.add(type(e).__name__)
        run_threads(n, one, ctx.deadline + HANG_S)

    def expected(self, counts, full):
        return [k for k in counts if not k.startswith(("421 4.4.2", "552 5.3.4", "MB sent", "s to"))] + \
            ([] if any(k.startswith(("421", "552")) for k in counts) else ["no 421/552"])


# ---- sender authentication ----------------------------------------------
def dkim_key(tmp, full):
    priv, pub = rsa_dkim_key(tmp, bits=4096 if full else 2048)
    return {"pub": pub}


class ArcSets(BigMessage):
    """50 ARC sets whose AMS body hashes are real (distinct l= values), over 25 MB."""
    name = "arc_50_sets"
    conns, per_conn = 2, 2
    prepare = staticmethod(lambda tmp, full: dkim_key(tmp, False))

    def zone(self, extra, full):
        z = dict(PROBE_ZONE)
        z["arc._domainkey.forwarder.test"] = [("TXT", f"v=DKIM1; k=rsa; p={extra['pub']}")]
        return z, ()

    def config(self, full):
        return dict(AUTH_ON, **{"limits.max_message_size": '"30MB"'})

    def build(self, full):
        body = body_lines(25 * MB if full else 1 * MB)
        hs = []
        for i in range(50, 0, -1):
            ln = len(body) - i * 997
            bh = base64.b64encode(hashlib.sha256(body[:ln]).digest()).decode()
            c = "relaxed/simple" if i % 2 else "relaxed/relaxed"
            hs.append(f"ARC-Seal: i={i}; a=rsa-sha256; cv={'none' if i == 1 else 'pass'}; "
                      f"d=forwarder.test; s=arc; t=1700000000; b={junk(344, i)}\r\n")
            hs.append(f"ARC-Message-Signature: i={i}; a=rsa-sha256; c={c}; d=forwarder.test; "
                      f"s=arc; t=1700000000; h=from:to:subject; l={ln}; bh={bh}; "
                      f"b={junk(344, 1000 + i)}\r\n")
            hs.append(f"ARC-Authentication-Results: i={i}; mx{i}.forwarder.test; spf=pass\r\n")
        return head(extra="".join(hs).encode()) + b"\r\n" + body


class DkimCaps(ArcSets):
    """20 DKIM-Signature fields (dkim_max_signatures is 10) with real body hashes for
    distinct l= and canonicalizations, long h= lists, 4096-bit keys (full), over 25 MB."""
    name = "dkim_caps"
    prepare = staticmethod(dkim_key)

    def zone(self, extra, full):
        z = dict(PROBE_ZONE)
        for s in range(20):
            z[f"s{s}._domainkey.attacker.test"] = [("TXT", f"v=DKIM1; k=rsa; p={extra['pub']}")]
        return z, ()

    def build(self, full):
        body = body_lines(25 * MB if full else 1 * MB)
        hs = []
        cs = ["simple/simple", "relaxed/relaxed", "simple/relaxed", "relaxed/simple"]
        h = ":".join(["from", "to", "subject", "message-id"] * 25)
        for s in range(20):
            ln = len(body) - s * 1009
            bh = base64.b64encode(hashlib.sha256(body[:ln]).digest()).decode()
            hs.append(f"DKIM-Signature: v=1; a=rsa-sha256; c={cs[s % 4]}; d=attacker.test; "
                      f"s=s{s}; t=1700000000; l={ln}; h={h};\r\n bh={bh};\r\n"
                      f" b={junk(684, s)}\r\n")
        return head(extra="".join(hs).encode()) + b"\r\n" + body


class SpfChains(Scenario):
    """Every sender domain is new (no cache help): an include chain of 10 lookups, a
    redirect chain of 10, or mx with 10 hosts and 2 void lookups -- each at its limit."""
    name = "spf_chains"
    bound_text = "baseline + 48 MB"

    def n(self, full):
        return 300 if full else 24

    def config(self, full):
        return dict(AUTH_ON, **{"limits.max_transactions": "1000"})

    def zone(self, extra, full):
        z = dict(PROBE_ZONE)
        for n in range(self.n(full)):
            d = f"c{n}.spf.test"
            kind = n % 3
            if kind == 0:
                z[d] = [("TXT", f"v=spf1 include:l1.{d} -all")]
                for j in range(1, 9):
                    z[f"l{j}.{d}"] = [("TXT", f"v=spf1 include:l{j + 1}.{d} -all")]
                z[f"l9.{d}"] = [("TXT", "v=spf1 a -all"), ("A", "127.0.0.2")]
            elif kind == 1:
                z[d] = [("TXT", f"v=spf1 redirect=r1.{d}")]
                for j in range(1, 9):
                    z[f"r{j}.{d}"] = [("TXT", f"v=spf1 redirect=r{j + 1}.{d}")]
                z[f"r9.{d}"] = [("TXT", "v=spf1 a -all"), ("A", "127.0.0.2")]
            else:
                z[d] = [("TXT", f"v=spf1 a:v1.{d} a:v2.{d} mx -all")]
                z[d] += [("MX", (k, f"m{k}.{d}")) for k in range(10)]
                for k in range(10):
                    z[f"m{k}.{d}"] = [("A", f"192.0.2.{k + 1}")] + ([("A", "127.0.0.2")] if k == 9 else [])
        return z, ()

    def attack(self, ctx):
        conns = 6 if ctx.full else 3
        per = self.n(ctx.full) // conns
        messages(ctx, conns, per, lambda i, k: head(sender=f"x@c{i * per + k}.spf.test") + b"\r\nspf\r\n",
                 sender=lambda i, k: f"x@c{i * per + k}.spf.test")

    def expected(self, counts, full):
        return only(counts, ("250 2.0.0",), at_least=("250 2.0.0",))


class DnsBlackhole(Scenario):
    """The attacker's domains are served by a DNS server that never answers (SPF,
    DKIM key, DMARC records all time out); the probe's domain answers."""
    name = "dns_blackhole"
    bound_text = "baseline + 48 MB"

    def n(self, full):
        return 100 if full else 6

    def config(self, full):
        return dict(AUTH_ON, **{"dns.timeout": '"2s"' if full else '"300ms"',
                                "dns.tries": "2" if full else "1",
                                "limits.max_connections_per_ip": str(self.n(full) + 20)})

    def zone(self, extra, full):
        faults = ["blackhole.example", "_dmarc.blackhole.example", "_dmarc.example"]
        for n in range(self.n(full)):
            d = f"bh{n}.blackhole.example"
            faults += [d, f"_dmarc.{d}", f"s._domainkey.{d}"]
        return dict(PROBE_ZONE), faults

    def attack(self, ctx):
        def make(i, k):
            d = f"bh{i}.blackhole.example"
            sig = (f"DKIM-Signature: v=1; a=rsa-sha256; d={d}; s=s; h=from; "
                   f"bh={junk(44, i)}; b={junk(344, i)}\r\n")
            return head(sender=f"x@{d}", extra=sig.encode()) + b"\r\nblackhole\r\n"
        messages(ctx, self.n(ctx.full), 2 if ctx.full else 1, make,
                 sender=lambda i, k: f"x@bh{i}.blackhole.example")

    def expected(self, counts, full):
        return only(counts, ("250 2.0.0",), at_least=("250 2.0.0",))


# ---- AUTH and TLS ---------------------------------------------------------
def tls_client_ctx():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def starttls(c):
    c.send(b"STARTTLS\r\n")
    code = c.reply(HANG_S)[0]
    if code != 220:
        raise ValueError(f"STARTTLS {code}")
    c.sock = tls_client_ctx().wrap_socket(c.sock, server_hostname="mx.test")
    c.send(b"EHLO attacker.test\r\n")
    c.reply(HANG_S)


class AuthBrute(Scenario):
    name = "auth_brute"
    tls = True
    submission = True
    bound_text = "baseline + 48 MB"

    def config(self, full):
        if full:
            return {"limits.max_connections_per_ip": "200"}
        return {"limits.auth_failure_delay": '"100ms"', "limits.max_auth_failures_per_ip": "5",
                "limits.max_connections_per_ip": "200"}

    def seconds(self, full):
        return 60 if full else 15

    def attack(self, ctx):
        threads, per = (16, 50) if ctx.full else (2, 4)

        def one(i):
            for k in range(per):
                if ctx.left() <= 0:
                    return
                try:
                    c = client(ctx.sub_port)
                    ehlo(c)
                    starttls(c)
                    for t in range(10):
                        cred = base64.b64encode(f"\0alice\0guess{i}-{k}-{t}".encode())
                        c.send(b"AUTH PLAIN " + cred + b"\r\n")
                        r = key(c.reply(HANG_S)[1])
                        ctx.tally.add(r)
                        if r.startswith("421"):
                            break
                    c.sock.close()
                except (OSError, EOFError, ValueError) as e:
                    ctx.tally.add(type(e).__name__)
        run_threads(threads, one, ctx.deadline + HANG_S)

    def expected(self, counts, full):
        return only(counts, ("535 5.7.8", "454 4.7.0", "421 4.7.0", "EOFError"),
                    at_least=("535 5.7.8", "454 4.7.0"))


class TlsFlood(Scenario):
    """Full STARTTLS handshakes back to back from several threads, plus connections
    that start a handshake and stall (tls_handshake_timeout)."""
    name = "tls_flood"
    tls = True

    def stalled(self, full):
        return 500 if full else 20

    def fds(self, full):
        return self.stalled(full) + 300

    def config(self, full):
        n = self.stalled(full) + 200
        return {"limits.max_connections": str(n), "limits.max_connections_per_ip": str(n),
                "limits.tls_handshake_timeout": '"10s"' if full else '"1s"'}

    def seconds(self, full):
        return 30 if full else 8

    def attack(self, ctx):
        threads = 4 if ctx.full else 2
        stop_at = ctx.deadline - (15 if ctx.full else 3)
        stalled = []
        for _ in range(self.stalled(ctx.full)):
            try:
                c = client(ctx.port)
                ehlo(c)
                c.send(b"STARTTLS\r\n")
                c.reply(HANG_S)
                c.send(b"\x16\x03\x01\x02\x00\x01")  # a ClientHello that never comes
                stalled.append(c)
            except (OSError, EOFError) as e:
                ctx.tally.add(type(e).__name__)

        def one(i):
            while time.monotonic() < stop_at:
                try:
                    c = client(ctx.port)
                    ehlo(c)
                    starttls(c)
                    ctx.tally.add("handshake")
                    c.sock.close()
                except (OSError, EOFError, ValueError) as e:
                    ctx.tally.add(type(e).__name__)
        run_threads(threads, one, stop_at + HANG_S)
        sel_end = ctx.deadline
        for c in stalled:
            c.sock.settimeout(max(0.1, sel_end - time.monotonic()))
            try:
                ctx.tally.add("stalled: closed" if c.sock.recv(4096) == b"" else "stalled: data")
            except socket.timeout:
                ctx.tally.add("stalled: still open")
            except OSError:
                ctx.tally.add("stalled: closed")
            c.sock.close()

    def expected(self, counts, full):
        return only(counts, ("handshake", "stalled: closed"),
                    at_least=("handshake", "stalled: closed"))


ALL = [Charsets(), MimeEmptyParts(), FoldedHeader(), IdleConns(), SlowlorisCommand(),
       SlowlorisData(), LongCommand(), Recipients(), DataNeverEnds(), BigHeader(), MimeNested(),
       MimeParts(), ArcSets(), DkimCaps(), SpfChains(), DnsBlackhole(), AuthBrute(), TlsFlood()]
BY_NAME = {s.name: s for s in ALL}
