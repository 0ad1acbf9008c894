"""The attack probe (issue 11 "Prove it"): one well-behaved SMTP session sends
small messages through the real daemon, back to back, while an attack runs
on other connections, and records its latency.

Used by scripts/attack (full size, figures printed as a table; a measuring
tool) and by test_attack.py (scaled down, functional outcomes only: the
daemon lives and answers, the probe's messages all get 250 within a hang
bound, the attacker gets precise replies, SIGTERM still drains).

Parts: the daemon is build/gateway/smtp-gateway started by the SMTP
harness's Gateway (real webhook delivery, 2 workers), the webhook is
tests/webhook_sink.py's Sink answering 200 with a Content-Length (as
examples/receiver.py), DNS is tests/dnsserver.py where a scenario needs it.
The probe runs in a process of its own so that the attacker's Python
threads (and the GIL) do not colour its figures. Attackers connect from
127.0.0.2 (loopback) so that the per-address limits they meet are not the
probe's; every socket goes to 127.0.0.1. Every loop is bounded in count and
in time.
"""
import collections
import multiprocessing
import pathlib
import resource
import socket
import subprocess
import sys
import threading
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "smtp"))
from dnsserver import DNSServer  # noqa: E402
from gwdaemon import sanitizer_report  # noqa: E402
from gwpaths import free_port, self_signed_cert  # noqa: E402
from smtp_harness import Client, Gateway  # noqa: E402
from webhook_sink import Action, Sink  # noqa: E402

ATTACKER_IP = "127.0.0.2"
PROBE_RCPT = "probe@ours.test"
PROBE_FROM = "probe@probe.test"
HANG_S = 30.0  # a reply slower than this is a hang, not a slow answer
PROBE_PER_CONN = 90  # the probe reconnects before max_transactions (100) would close it


# ---- the webhook ----------------------------------------------------------
def receiver():
    """The webhook: 200 with a JSON body and a Content-Length for every POST (as
    examples/receiver.py answers), counting POSTs and bytes, keeping no bodies."""
    rx = Sink(idle_timeout=60, keep_bodies=False)
    rx.default = Action(200, body={"ok": True}, headers={"Content-Type": "application/json"})
    return rx


# ---- helpers ------------------------------------------------------------
def sha512_hash(password):
    return subprocess.run(["openssl", "passwd", "-6", "-salt", "attacksalt", password],
                          capture_output=True, text=True, check=True, timeout=30).stdout.strip()


def proc_kb(pid, field):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def attacker_socket(port, timeout=HANG_S):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                 source_address=(ATTACKER_IP, 0))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def client(port, timeout=HANG_S):
    return Client(attacker_socket(port, timeout))


def ehlo(c, name="attacker.test"):
    code = c.reply(HANG_S)[0]
    if code != 220:
        return code
    c.send(f"EHLO {name}\r\n".encode())
    return c.reply(HANG_S)[0]


def small_message(n, sender=PROBE_FROM, rcpt=PROBE_RCPT):
    return (f"From: <{sender}>\r\nTo: <{rcpt}>\r\nSubject: probe {n}\r\n"
            f"Message-ID: <probe{n}@probe.test>\r\n\r\nhello {n}\r\n").encode()


def transaction(c, sender, rcpts, data, timeout=HANG_S):
    """MAIL, RCPT..., DATA, the message (no line may start with '.'), '.': the list of
    reply codes; stops at the first refusal."""
    codes = []
    c.send(f"MAIL FROM:<{sender}>\r\n".encode())
    codes.append(c.reply(timeout)[0])
    if codes[-1] != 250:
        return codes
    ok = 0
    for r in rcpts:
        c.send(f"RCPT TO:<{r}>\r\n".encode())
        codes.append(c.reply(timeout)[0])
        ok += codes[-1] == 250
    if not ok:
        return codes
    c.send(b"DATA\r\n")
    codes.append(c.reply(timeout)[0])
    if codes[-1] != 354:
        return codes
    c.send(data if data.endswith(b"\r\n") else data + b"\r\n")
    c.send(b".\r\n")
    codes.append(c.reply(timeout)[0])
    return codes


class Tally:
    """Thread-safe counts of the attacker's reply codes (and named events)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.c = collections.Counter()

    def add(self, key, n=1):
        with self.lock:
            self.c[key] += n

    def text(self):
        with self.lock:
            return " ".join(f"{k}x{v}" for k, v in sorted(self.c.items(), key=str))


def run_threads(n, fn, deadline):
    """fn(i) in n threads, joined by deadline (monotonic); returns how many are still alive."""
    ts = [threading.Thread(target=fn, args=(i,), daemon=True) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(max(0.0, deadline - time.monotonic()))
    return sum(t.is_alive() for t in ts)


# ---- the probe ----------------------------------------------------------
def _probe_main(port, stop, out, greet_every, max_messages, max_seconds):
    lat, greet, failures, cycle = [], [], [], []
    msgs = 0
    c = None
    on_conn = 0
    end = time.monotonic() + max_seconds

    def connect():
        t0 = time.monotonic()
        s = socket.create_connection(("127.0.0.1", port), timeout=HANG_S)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # the '.' goes at once
        cl = Client(s)
        code = cl.reply(HANG_S)[0]
        greet.append((time.monotonic() - t0) * 1000)
        if code != 220:
            raise RuntimeError(f"greeting {code}")
        cl.send(b"EHLO probe.test\r\n")
        if cl.reply(HANG_S)[0] != 250:
            raise RuntimeError("EHLO refused")
        return cl

    while not stop.is_set() and msgs < max_messages and time.monotonic() < end:
        try:
            if c is not None and on_conn >= PROBE_PER_CONN:
                c.send(b"QUIT\r\n")
                c.reply(HANG_S)
                c.close()
                c = None
            if c is None:
                c = connect()
                on_conn = 0
            elif greet_every and msgs % greet_every == 0:
                connect().close()  # a fresh connection's greeting latency
            msgs += 1
            on_conn += 1
            start = time.monotonic()
            c.send(f"MAIL FROM:<{PROBE_FROM}>\r\nRCPT TO:<{PROBE_RCPT}>\r\nDATA\r\n".encode())
            codes = [c.reply(HANG_S)[0] for _ in range(3)]
            if codes != [250, 250, 354]:
                raise RuntimeError(f"envelope {codes}")
            c.send(small_message(msgs))
            t0 = time.monotonic()
            c.send(b".\r\n")
            code, text, _ = c.reply(HANG_S)
            lat.append((time.monotonic() - t0) * 1000)
            cycle.append((time.monotonic() - start) * 1000)
            if code != 250:
                failures.append(f"{msgs}: {text}")
                if code == 421:
                    c.close()
                    c = None
        except (OSError, EOFError, RuntimeError, ValueError) as e:
            # It leaves before max_transactions: any refusal or close is a failure.
            failures.append(f"{msgs}: {type(e).__name__}: {e}")
            if c is not None:
                c.close()
            c = None
            if isinstance(e, (socket.timeout, ConnectionRefusedError)):
                stop.wait(0.1)
    if c is not None:
        try:
            c.send(b"QUIT\r\n")
        except OSError:
            pass
        c.close()
    out.put({"lat": lat, "greet": greet, "failures": failures, "messages": msgs, "cycle": cycle})


class Probe:
    """The well-behaved session, in a child process: start(), then finish() -> figures."""

    def __init__(self, port, greet_every=20, max_messages=200000, max_seconds=1200):
        ctx = multiprocessing.get_context("fork")
        self.stop_ev = ctx.Event()
        self.q = ctx.Queue()
        self.proc = ctx.Process(target=_probe_main, daemon=True,
                                args=(port, self.stop_ev, self.q, greet_every, max_messages,
                                      max_seconds))

    def start(self):
        self.proc.start()

    def finish(self):
        self.stop_ev.set()
        try:
            res = self.q.get(timeout=HANG_S + 15)  # it may be waiting on one reply
        except Exception:  # noqa: BLE001 (queue.Empty: the probe itself hung)
            res = {"lat": [], "greet": [], "failures": ["probe did not report"], "messages": 0,
                   "cycle": []}
        self.proc.join(5)
        if self.proc.is_alive():
            self.proc.kill()
        return res


def corrected(lat, cycle):
    """The latencies with coordinated omission corrected (as HdrHistogram's
    recordValueWithExpectedInterval): a back-to-back probe stuck for 20 s sends
    one message where it would have sent thousands, so each latency L longer than
    the probe's median cycle I also stands for L-I, L-2I, ... down to I."""
    if not lat:
        return []
    interval = max(pct(cycle, 50), 0.05)
    out = list(lat)
    for v in lat:
        missing = v - interval
        n = 0
        while missing >= interval and n < 1000000:
            out.append(missing)
            missing -= interval
            n += 1
    return out


def pct(values, p):
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


# ---- one scenario -------------------------------------------------------
class Ctx:
    """What an attack function gets: ports, the scale, the tally, its deadline."""

    def __init__(self, gw, sub_port, full, tally, dns, deadline, extra):
        self.gw, self.port, self.sub_port = gw, gw.port, sub_port
        self.full, self.tally, self.dns, self.deadline = full, tally, dns, deadline
        self.extra = extra
        self.inflight_bytes = 0  # the attack's bytes in flight, for the memory bound

    def left(self):
        return self.deadline - time.monotonic()


def run_scenario(sc, binary, tmp, full):
    """Runs one scenario (see scenarios.py) and returns its result dict."""
    tmp = pathlib.Path(tmp)
    tmp.mkdir(parents=True, exist_ok=True)
    raise_nofile(sc.fds(full) + 512)
    extra = sc.prepare(tmp, full) if sc.prepare else {}
    rx = receiver()
    dns = None
    if sc.zone is not None:
        zone, faults = sc.zone(extra, full)
        dns = DNSServer(zone, timeout=faults)
        dns.start()
    over = {"server.workers": "2", "server.log_level": '"info"',
            "server.hostname": '"mx.test"'}
    over.update(sc.config(full))
    if dns is not None:
        over["dns.servers"] = f'["{dns.address}"]'
    certs = [self_signed_cert(tmp)] if sc.tls else None
    users = [("alice", sha512_hash("correct horse"))] if sc.submission else None
    sub_port = free_port() if sc.submission else None
    listeners = ([{"address": f'"127.0.0.1:{sub_port}"', "mode": '"submission"'}]
                 if sc.submission else [])
    routes = [("*@ours.test", rx.url())]
    gw = Gateway(tmp, over, certs=certs, users=users, extra_listeners=listeners, binary=binary,
                 routes=routes, max_fds=sc.fds(full) + 512)
    pid = gw.proc.pid
    tally = Tally()
    res = {"name": sc.name, "full": full, "attack_s": 0.0, "rss_after_kb": 0, "alive": False,
           "after_ok": False}
    pr = {"lat": [], "greet": [], "failures": ["the run stopped early"], "cycle": []}
    base = hwm = 0
    ctx = Ctx(gw, sub_port, full, tally, dns, time.monotonic(), extra)
    try:
        probe = Probe(gw.port)
        probe.start()
        time.sleep(1.0)
        base = proc_kb(pid, "VmRSS")
        t0 = time.monotonic()
        ctx = Ctx(gw, sub_port, full, tally, dns, t0 + sc.seconds(full), extra)
        try:
            sc.attack(ctx)
        except Exception as e:  # noqa: BLE001 (what the attacker met is a result too)
            tally.add(f"attacker-error:{type(e).__name__}")
            res["attack_error"] = repr(e)[:300]
        res["attack_s"] = time.monotonic() - t0
        hwm = proc_kb(pid, "VmHWM")
        time.sleep(1.0)
        pr = probe.finish()
        res["rss_after_kb"] = proc_kb(pid, "VmRSS")
        res["alive"] = gw.proc.poll() is None
        # After the attack the daemon must still deliver.
        res["after_ok"] = False
        if res["alive"]:
            try:
                c = Client(socket.create_connection(("127.0.0.1", gw.port), timeout=HANG_S))
                ok = ehlo(c, "after.test") == 250
                codes = transaction(c, PROBE_FROM, [PROBE_RCPT], small_message(0))
                res["after_ok"] = ok and codes[-1] == 250
                c.close()
            except (OSError, EOFError, ValueError):
                pass
        hwm = max(hwm, proc_kb(pid, "VmHWM"))
    finally:
        res["exit"] = gw.close(60 if full else 20)  # the drain, SIGKILL after that
        gw_log = gw.log()
        rx.close()
        if dns is not None:
            dns.stop()
    lat = pr["lat"]
    co = corrected(lat, pr["cycle"])
    res.update({
        "messages": len(lat), "failures": pr["failures"],
        "p50": pct(lat, 50), "p99": pct(lat, 99), "max": max(lat) if lat else float("nan"),
        "p99co": pct(co, 99), "cycle_ms": pct(pr["cycle"], 50),
        "greet_p99": pct(pr["greet"], 99), "greet_max": max(pr["greet"] or [float("nan")]),
        "base_kb": base, "hwm_kb": hwm, "attacker": tally.text(), "counts": dict(tally.c),
        "inflight": ctx.inflight_bytes, "posts": rx.posted, "post_bytes": rx.posted_bytes,
        "sanitizer": sanitizer_report(gw_log),
        "log_tail": gw_log[-3000:],
    })
    res["bound_kb"] = base + sc.memory_bound_kb(ctx)
    res["bound_text"] = sc.bound_text
    res["pass"] = (res["p99co"] < 200 and not res["failures"] and hwm <= res["bound_kb"]
                   and res["alive"] and res["after_ok"] and res["exit"] == 0)
    return res


def table_header():
    return (f"{'scenario':<18} {'msgs':>5} {'p50':>7} {'p99':>7} {'p99co':>7} {'max':>7} "
            f"{'greet99':>7} {'gr.max':>7} "
            f"{'fail':>4} {'baseMB':>6} {'peakMB':>6} {'afterMB':>7} {'boundMB':>7} "
            f"{'exit':>4} {'ok':>4}  attacker got")


def table_line(r):
    return (f"{r['name']:<18} {r['messages']:>5} {r['p50']:>7.1f} {r['p99']:>7.1f} "
            f"{r['p99co']:>7.1f} {r['max']:>7.1f} {r['greet_p99']:>7.1f} "
            f"{r['greet_max']:>7.1f} {len(r['failures']):>4} "
            f"{r['base_kb'] / 1024:>6.1f} {r['hwm_kb'] / 1024:>6.1f} "
            f"{r['rss_after_kb'] / 1024:>7.1f} {r['bound_kb'] / 1024:>7.1f} {r['exit']!s:>4} "
            f"{'PASS' if r['pass'] else 'FAIL':>4}  {r['attacker']} ({r['attack_s']:.1f} s)")
