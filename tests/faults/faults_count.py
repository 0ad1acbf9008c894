"""Nothing lost, counted message by message: the fault scenarios shared by
tests/faults/test_faults_counting.py (scaled down) and scripts/faults (full
size).

Every message has a unique Message-ID (run, n). For each one we know what
the SMTP client heard at the end of data (250, 4xx, 5xx, or no reply: the
connection was lost or refused first) and what the application (a
RecordingReceiver) got: the whole request body ("got") and whether it wrote
a complete 2xx answer ("2xx"). The invariants:

1. never a 250 for a message the application did not answer 2xx;
2. a message that did not get 250 is sent again (the same bytes, the same
   envelope, the gateway restarted when it was killed) until it gets 250;
   every request the application ever got for one message carries the same
   webhook-id (delivery id), so it can drop the duplicates;
3. in the end every message was answered 2xx by the application.
"""
import collections
import concurrent.futures
import os
import random
import re
import signal
import smtplib
import socket
import subprocess
import threading
import time

from faults_lib import Gateway, RecordingReceiver, classify, message, rcpt_key, send, send_on

RCPT = "hello@good.test"
OUTCOMES = ("250", "4xx", "5xx", "noreply", "refused")


class Ledger:
    """What each message's client heard, first send and resends."""

    def __init__(self, run):
        self.run = run
        self.lock = threading.Lock()
        self.first = {}  # n -> (class, code, text) of the first send
        self.final = {}  # n -> class of the last send

    def record(self, n, outcome):
        with self.lock:
            self.first.setdefault(n, outcome)
            self.final[n] = outcome[0]

    def msg(self, n):
        return message(self.run, n, 6000)


def render(name, rows):
    """The table of rows {(client outcome, app): count}."""
    lines = [f"{name}: {sum(rows.values())} messages",
             f"  {'client heard':<14}{'app 2xx':>9}{'app got, no 2xx':>17}{'app none':>10}"]
    for cls in OUTCOMES:
        lines.append(f"  {cls:<14}{rows[(cls, '2xx')]:>9}{rows[(cls, 'got')]:>17}"
                     f"{rows[(cls, 'none')]:>10}")
    return "\n".join(lines)


def table(name, ledger, rx):
    """Counts (client outcome x what the app got) of the first sends.
    Returns (rows Counter, text)."""
    attempts = rx.by_key()
    rows = collections.Counter()
    for n, (cls, code, _) in ledger.first.items():
        # what the app had got when the first send ended: attempts before any resend
        got = [a for a in attempts.get((ledger.run, n), []) if a.phase == "first"]
        app = ("2xx" if any(a.answered_2xx for a in got) else
               "got" if any(a.body_complete for a in got) else "none")
        rows[(cls, app)] += 1
    return rows, render(name, rows)


STATS = ("250 without a 2xx", "sent again", "sent again, app had got it, same id",
         "got more than once", "answered 2xx more than once", "more than one id",
         "never answered 2xx")


def stats_text(st):
    return "\n".join(f"  {k}: {st[k]}" for k in STATS)


def settled_table(name, ledger, rx):
    """table() once every handler is finished: (rows, text, the app's attempts by key,
    a Counter with the rows and "250 without a 2xx")."""
    # A handler marks its 2xx after the last byte is written, and the gateway may
    # answer its client before that line runs: wait (bounded) until every handler
    # is finished, or a 2xx would look missing.
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not all(a.done for a in rx.by_key_list()):
        time.sleep(0.05)
    rows, text = table(name, ledger, rx)
    attempts = rx.by_key()
    assert None not in attempts, "the app got a request it cannot tie to a message"
    st = collections.Counter(rows=rows)
    st["250 without a 2xx"] = rows[("250", "got")] + rows[("250", "none")]
    return rows, text, attempts, st


def check(name, ledger, rx, resent, out=print):
    """Asserts the invariants; prints the table and the figures. Returns
    {"rows": Counter, and one count per STATS entry}."""
    rows, text, attempts, st = settled_table(name, ledger, rx)
    st["sent again"] = len(resent)
    for n in ledger.first:
        mine = attempts.get((ledger.run, n), [])
        ids = {a.wid for a in mine}
        assert all(i.startswith("msg_") for i in ids), ids
        st["more than one id"] += len(ids) > 1
        if n in resent and any(a.phase == "first" and a.body_complete for a in mine):
            st["sent again, app had got it, same id"] += len(ids) == 1
        st["got more than once"] += sum(a.body_complete for a in mine) > 1
        st["answered 2xx more than once"] += sum(a.answered_2xx for a in mine) > 1
        st["never answered 2xx"] += not any(a.answered_2xx for a in mine)
    not_250 = [n for n, c in ledger.final.items() if c != "250"]
    text += "\n" + stats_text(st)
    out(text)
    assert st["250 without a 2xx"] == 0, text
    assert st["more than one id"] == 0, text
    assert not not_250, (not_250[:10], text)
    assert st["never answered 2xx"] == 0, text
    return st


def resend_all(g, ledger, rx, rounds=3, workers=8):
    """Sends again every message whose last send did not get 250 (bounded rounds)."""
    rx.phase = "resend"
    rx.plan = lambda key: "ok"
    resent = set()
    for _ in range(rounds):
        todo = sorted(n for n, c in ledger.final.items() if c != "250")
        if not todo:
            break
        resent.update(todo)
        with concurrent.futures.ThreadPoolExecutor(workers) as ex:
            for n, o in zip(todo, ex.map(lambda n: send(g, RCPT, ledger.msg(n)), todo)):
                ledger.record(n, o)
    return resent


def wait_for(cond, seconds):
    deadline = time.monotonic() + seconds
    while not cond() and time.monotonic() < deadline:
        time.sleep(0.02)
    return cond()


# ---- the scenarios: each returns the rows of its table ----

def receiver_cuts(binary, tmp, n, out=print, retry=False, threads=8):
    """The app's connection is killed after half the request body, after the
    whole body, after the status line only (one message in four each). With
    retry_budget 0 each such message gets 451; with a retry budget, a fault
    hits the first attempt only and the retry gets 250 (the app saw it twice,
    with one id)."""
    run = f"cut{'r' if retry else ''}{random.randrange(1 << 30):x}"
    faults = ("ok", "cut_half_body", "cut_after_body", "status_only")
    seen = set()
    lock = threading.Lock()

    def plan(key):
        action = faults[key[1] % 4]
        if retry:
            with lock:
                if key in seen:
                    return "ok"
                seen.add(key)
        return action

    rx = RecordingReceiver(plan)
    g = Gateway(binary, tmp, [("good", "good.test", rx.url(), 'format = "raw"')], workers=2,
                retry_budget="20s" if retry else "0")
    try:
        led = Ledger(run)
        with concurrent.futures.ThreadPoolExecutor(threads) as ex:
            for i, o in zip(range(n), ex.map(lambda i: send(g, RCPT, led.msg(i)), range(n))):
                led.record(i, o)
        for i, (cls, code, text) in led.first.items():
            want = (250,) if retry or i % 4 == 0 else (451,)
            assert code in want, (i, faults[i % 4], code, text)
        resent = resend_all(g, led, rx)
        return check(f"receiver cuts{' (retried)' if retry else ''}", led, rx, resent, out)
    finally:
        g.close()
        rx.close()


def _half_data(g, led, i):
    """Opens a session and sends half of message i's content; the socket."""
    s = socket.create_connection(("127.0.0.1", g.port), timeout=30)
    f = s.makefile("rb")

    def reply():
        line = f.readline()
        while line[3:4] == b"-":
            line = f.readline()
        return line

    assert reply().startswith(b"220")
    for cmd in (b"EHLO client.sender.test", b"MAIL FROM:<alice@sender.test>",
                f"RCPT TO:<{RCPT}>".encode(), b"DATA"):
        s.sendall(cmd + b"\r\n")
        assert reply()[:1] in (b"2", b"3")
    body = led.msg(i)
    s.sendall(body[: len(body) // 2])
    return s, f, body[len(body) // 2:]


def _finish(led, i, s, f, rest):
    """Sends the rest of the content and reads the final reply."""
    try:
        s.sendall(rest + b".\r\n")
        line = f.readline()
        code = int(line[:3]) if line[:3].isdigit() else 0
        led.record(i, ("250" if code == 250 else "4xx" if 400 <= code < 500 else
                       "5xx" if code >= 500 else "noreply", code, line.decode(errors="replace")))
    except OSError:
        led.record(i, ("noreply", 0, ""))
    finally:
        f.close()
        s.close()


def sigkill(binary, tmp, n, out=print, during="data", threads=8):
    """SIGKILL the gateway while n sessions are inside DATA (half the content
    sent), or while n POSTs are held by the app (it answers 200 after 3 s,
    to a gateway that is dead by then); or (during="term_data") SIGTERM while
    n sessions are inside DATA, the rest of their content sent after it.
    Messages already answered before the signal are part of the count too
    (n // 4 sent and answered first)."""
    run = f"kill{during.replace('_', '')}{random.randrange(1 << 30):x}"
    rx = RecordingReceiver()
    # every held POST must be in flight at once, whichever worker has its session
    g = Gateway(binary, tmp, [("good", "good.test", rx.url(), 'format = "raw"')], workers=2,
                webhook=f"max_in_flight = {n + 1}")
    led = Ledger(run)
    try:
        before = n // 4
        with concurrent.futures.ThreadPoolExecutor(threads) as ex:
            for i, o in zip(range(before), ex.map(lambda i: send(g, RCPT, led.msg(i)),
                                                   range(before))):
                led.record(i, o)
        rng = range(before, before + n)
        if during in ("data", "term_data"):
            open_ = [(i, *_half_data(g, led, i)) for i in rng]
            if during == "data":
                g.proc.send_signal(signal.SIGKILL)
                g.proc.wait(10)
            else:  # the drain lets them finish: the rest comes after SIGTERM
                g.proc.send_signal(signal.SIGTERM)
                time.sleep(0.3)
            for i, s, f, rest in open_:
                _finish(led, i, s, f, rest)
            g.proc.wait(30)
        else:
            rx.plan = lambda key: "delay:3"
            ex = concurrent.futures.ThreadPoolExecutor(n)
            futs = {i: ex.submit(send, g, RCPT, led.msg(i)) for i in rng}
            if not wait_for(lambda: rx.in_flight() >= n, 30):
                done = collections.Counter(f.result()[:2] for f in futs.values() if f.done())
                raise AssertionError(f"set-up: {rx.in_flight()} of {n} POSTs held by the app; "
                                     f"client replies so far {dict(done)}\n" + "\n".join(l for l in g.log().splitlines() if " 451 " in l or "451" in l or "error" in l or "warn" in l)[-3000:])
            g.proc.send_signal(signal.SIGKILL)
            g.proc.wait(10)
            for i, fut in futs.items():
                led.record(i, fut.result(timeout=60))
            ex.shutdown()
            wait_for(lambda: rx.in_flight() == 0, 10)
        g.start()
        resent = resend_all(g, led, rx)
        title = {"data": "SIGKILL during DATA", "post": "SIGKILL during the POST",
                 "term_data": "SIGTERM during DATA"}[during]
        return check(title, led, rx, resent, out)
    finally:
        g.close()
        rx.close()


def sigterm_under_load(binary, tmp, n, out=print, threads=16, per_session=5,
                       slow_every=10):
    """`threads` Python clients send messages (per_session in each session)
    while the app answers in 0..50 ms, one message in slow_every in 4 s (longer
    than drain_timeout 2 s). After about n / 2 replies, SIGTERM. The clients
    go on until the gateway stops answering; each message is classified."""
    run = f"term{random.randrange(1 << 30):x}"

    def plan(key):
        if key[1] % slow_every == 0:
            return "delay:4"
        return f"delay:{random.random() * 0.05:.3f}"

    rx = RecordingReceiver(plan)
    g = Gateway(binary, tmp, [("good", "good.test", rx.url(), 'format = "raw"')], workers=2,
                limits='drain_timeout = "2s"\nmax_connections = 10000')
    led = Ledger(run)
    counter = iter(range(n))
    counter_lock = threading.Lock()
    stop = threading.Event()
    answered = [0]

    def next_n():
        with counter_lock:
            return next(counter, None)

    def client():
        while not stop.is_set():
            i = next_n()
            if i is None:
                return
            try:
                c = g.smtp(timeout=30)
            except smtplib.SMTPConnectError as e:  # 421 greeting
                led.record(i, classify(e.smtp_code, e.smtp_error))
                continue
            except (OSError, smtplib.SMTPException):  # the gateway is gone
                led.record(i, ("refused", 0, "connect"))
                continue
            try:
                for k in range(per_session):
                    o = send_on(c, RCPT, led.msg(i))
                    led.record(i, o)
                    with counter_lock:
                        answered[0] += 1
                    if o[0] != "250" or k == per_session - 1:
                        break
                    i = next_n()
                    if i is None:
                        break
            finally:
                try:
                    c.close()
                except OSError:
                    pass

    try:
        ts = [threading.Thread(target=client, daemon=True) for _ in range(threads)]
        for t in ts:
            t.start()
        wait_for(lambda: answered[0] >= n // 2, 120)
        rc, exit_s = g.drain(30)
        # what is left of the n messages is sent to a closed port: no reply
        for t in ts:
            t.join(60)
        stop.set()
        assert not any(t.is_alive() for t in ts)
        wait_for(lambda: rx.in_flight() == 0, 10)
        out(f"SIGTERM after {answered[0]} replies; the gateway exited {rc} after {exit_s:.1f} s")
        g.start()
        resent = resend_all(g, led, rx)
        return check("SIGTERM under load (Python clients)", led, rx, resent, out)
    finally:
        stop.set()
        g.close()
        rx.close()


def parse_smtp_source(text, out):
    """What each message of one `smtp-source -v -N -s 1` run heard, from its
    transcript: the key is in the recipient (faults_lib.rcpt_key). A message
    whose session died before its final reply heard nothing ("noreply")."""
    cur = None
    after_dot = False
    for line in text.splitlines():
        m = re.search(r"RCPT TO:<([^>]*)>", line)
        if m:
            key = rcpt_key(m.group(1))
            cur, after_dot = (key[1] if key else None), False
            continue
        if line.endswith("smtp-source: ."):
            after_dot = True
            continue
        m = re.search(r"<<< (\d{3})[ -](.*)", line)
        if m and cur is not None:
            code = int(m.group(1))
            if after_dot or code >= 400:
                out[cur] = classify(code, m.group(2))
                cur = None
            continue
        if "fatal:" in line and cur is not None:
            out[cur] = ("noreply", 0, line)
            cur = None
    if cur is not None:
        out[cur] = ("noreply", 0, "transcript ended")
    return out


def sigterm_smtp_source(binary, tmp, n, out=print, procs=8, slow_every=4):
    """Postfix's smtp-source as the load: `procs` processes, one session each
    at a time, n messages in all, the app answering in 0..50 ms and one message
    in slow_every in 3 s (past drain_timeout 1 s), so that some are in flight
    when, after about n / 2 answers, SIGTERM comes. Each message is classified from smtp-source's own transcript
    (-v) and its key in the recipient (-N). smtp-source gives up at its first
    error, so what it never tried is not counted; it cannot resend the same
    bytes either (its Date and Message-Id change), so the same-id check is
    the Python scenario's: this one checks that no message the app did not
    answer 2xx heard 250."""
    run = f"src{random.randrange(1 << 30):x}"

    def plan(key):
        # at random, not by sequence number: the processes run in step, and
        # slow messages by number would all be waited for at the same moment
        if random.random() * slow_every < 1:
            return "delay:3"
        return f"delay:{random.random() * 0.05:.3f}"

    rx = RecordingReceiver(plan)
    g = Gateway(binary, tmp, [("good", "good.test", rx.url(), 'format = "raw"')], workers=2,
                limits='drain_timeout = "1s"\nmax_connections = 10000')
    per = max(1, n // procs)
    ps = []
    try:
        for p in range(procs):
            args = [smtp_source_path(), "-v", "-N", "-s", "1", "-m", str(per), "-l", "6000",
                    "-f", "alice@sender.test", "-t", f"s{p}-{run}@good.test",
                    f"127.0.0.1:{g.port}"]
            ps.append(subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                       text=True, errors="replace"))
        done = [None] * procs
        readers = [threading.Thread(target=lambda i=i: done.__setitem__(
            i, ps[i].communicate(timeout=180)[1]), daemon=True) for i in range(procs)]
        for t in readers:
            t.start()
        wait_for(lambda: sum(a.done for a in rx.by_key_list()) >= n // 2, 120)
        answered = sum(a.done for a in rx.by_key_list())
        rc, exit_s = g.drain(30)
        for t in readers:
            t.join(200)
        assert all(d is not None for d in done), "an smtp-source did not end"
        wait_for(lambda: rx.in_flight() == 0, 10)
        out(f"SIGTERM after {answered} answers by the app; the gateway exited {rc} "
            f"after {exit_s:.1f} s")
        led = Ledger(run)
        for d in done:
            for k, o in parse_smtp_source(d, {}).items():
                led.record(k, o)
        assert rc == 0, g.log()
        return check_no_false_250("SIGTERM under load (Postfix smtp-source)", led, rx, out)
    finally:
        for p in ps:
            if p.poll() is None:
                p.kill()
        g.close()
        rx.close()


def check_no_false_250(name, ledger, rx, out=print):
    """Invariant 1 alone, with the table: no 250 for a message the app did not
    answer 2xx, and one delivery id per message."""
    rows, text, attempts, st = settled_table(name, ledger, rx)
    for k in ledger.first:
        ids = {a.wid for a in attempts.get((ledger.run, k), [])}
        st["more than one id"] += len(ids) > 1
    # the app got no message smtp-source does not know it sent
    unknown = [k for (r, k) in attempts if r == ledger.run and k not in ledger.first]
    text += "\n" + stats_text(st)
    out(text)
    assert st["250 without a 2xx"] == 0, text
    assert st["more than one id"] == 0, text
    assert not unknown, (unknown[:10], text)
    return st


def smtp_source_path():
    for d in os.environ.get("PATH", "").split(os.pathsep) + ["/usr/sbin"]:
        if os.access(os.path.join(d, "smtp-source"), os.X_OK):
            return os.path.join(d, "smtp-source")
    return None


def smtp_source_available():
    return smtp_source_path() is not None


# ---- scripts/faults: the full-size run ----

def main(argv=None):
    """Runs every scenario at full size (scale 1: several thousand messages),
    prints each round's table and the sums, exits 1 if an invariant failed."""
    import argparse
    import pathlib
    import shutil
    import sys
    import tempfile

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", default="build/gateway/smtp-gateway")
    ap.add_argument("--scale", type=float, default=1.0)
    a = ap.parse_args(argv)
    binary = pathlib.Path(a.binary).resolve()

    def k(x):
        return max(4, int(x * a.scale))

    plan = [
        ("receiver cuts", 1, lambda t: receiver_cuts(binary, t, k(2000), threads=16)),
        ("receiver cuts (retried)", 1,
         lambda t: receiver_cuts(binary, t, k(1000), retry=True, threads=16)),
        ("SIGKILL during DATA", 10, lambda t: sigkill(binary, t, k(100), during="data")),
        ("SIGKILL during the POST", 10, lambda t: sigkill(binary, t, k(100), during="post")),
        ("SIGTERM during DATA", 10, lambda t: sigkill(binary, t, k(100), during="term_data")),
        ("SIGTERM under load (Python clients)", 5,
         lambda t: sigterm_under_load(binary, t, k(1000), threads=32)),
        ("SIGTERM under load (Postfix smtp-source)", 5,
         lambda t: sigterm_smtp_source(binary, t, k(1000), procs=16)),
    ]
    totals = []
    failed = False
    t_all = time.monotonic()
    for name, rounds, fn in plan:
        rows = collections.Counter()
        st = collections.Counter()
        for r in range(max(1, int(rounds * min(1.0, a.scale)) or 1)):
            tmp = pathlib.Path(tempfile.mkdtemp(prefix="faults-"))
            t0 = time.monotonic()
            try:
                res = fn(tmp)
            except AssertionError as e:
                print(f"{name}, round {r + 1}: INVARIANT FAILED: {e}", flush=True)
                failed = True
                continue
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            rows.update(res.pop("rows"))
            st.update(res)
            print(f"({name}, round {r + 1}: {time.monotonic() - t0:.1f} s)\n", flush=True)
        totals.append((name, rows, st))
    print("=" * 72)
    grand = collections.Counter()
    for name, rows, st in totals:
        print(render(f"TOTAL {name}", rows))
        print(stats_text(st))
        grand.update(rows)
    print(render("ALL SCENARIOS", grand))
    print(f"{time.monotonic() - t_all:.0f} s in all; invariants "
          f"{'FAILED' if failed else 'held for every message'}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
