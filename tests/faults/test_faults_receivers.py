"""Receivers that misbehave, end to end: never a 250 without a complete 2xx,
and the rest of the gateway does not notice.

smtplib -> the smtp-gateway daemon (one worker, so one event loop serves
everything) -> a raw-socket receiver on route "bad" that misbehaves:
1xx answers forever, a 200 trickled one byte at a time (too slow, fast
enough, fast enough but cut), HTTP/1.0 or HTTP/1.1 answers without a
Content-Length that end when the connection closes (RFC 9112 6.3 item 8: a
complete answer, so 250) or never close (451 at the timeout), Connection:
close after every answer, and a 200 that comes after the SMTP client left.

While the bad receiver misbehaves, parallel sessions to route "good" (a
well-behaved receiver) must all get 250; afterwards the daemon's open file
descriptors (/proc/PID/fd) return to their baseline and a normal message
still gets 250. No timing assertion: only hang bounds (timeouts).
"""
import concurrent.futures
import re
import time

import pytest

from faults_lib import Gateway, RawReceiver, RecordingReceiver, message, send

OK_200 = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n" \
         b'{"ok":true}'
BAD_TIMEOUT_S = 2  # route "bad"'s webhook timeout
GOOD_PARALLEL = 8


def interim_forever(period, answer=b"HTTP/1.1 102 Processing\r\n\r\n", seconds=20):
    """1xx answers every `period` seconds, never a final one (bounded: `seconds`)."""
    def behave(c, rx):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not rx.stop_ev.is_set():
            c.sendall(answer)
            if period:
                rx.stop_ev.wait(period)
    return behave


def trickle(answer, period, stop_after=None, then_wait=0.0):
    """Writes `answer` one byte every `period` seconds; stop_after cuts it there."""
    def behave(c, rx):
        data = answer if stop_after is None else answer[:stop_after]
        for i in range(len(data)):
            if rx.stop_ev.is_set():
                return
            c.sendall(data[i:i + 1])
            rx.stop_ev.wait(period)
        rx.stop_ev.wait(then_wait)
    return behave


def whole(answer, delay=0.0, keep=False, then_wait=0.0):
    """Writes `answer` after `delay`; closes (after then_wait) unless keep."""
    def behave(c, rx):
        rx.stop_ev.wait(delay)
        c.sendall(answer)
        if then_wait:
            rx.stop_ev.wait(then_wait)
        return "keep" if keep else None
    return behave


# name: (behaviour, expected class of the reply to DATA[, reusable]); a reusable
# answer (HTTP/1.1 with a length, the connection left open) may leave its
# connection in the worker's connection cache: at most one per message
SCENARIOS = {
    "1xx_102_every_100ms": (interim_forever(0.1), "4xx"),
    "1xx_100_continue_flood": (interim_forever(0.0005, b"HTTP/1.1 100 Continue\r\n\r\n"), "4xx"),
    "trickle_slower_than_timeout": (trickle(OK_200, 0.2), "4xx"),
    "trickle_within_timeout": (trickle(OK_200, 0.01, then_wait=2.0), "250", True),
    "trickle_within_timeout_cut": (trickle(OK_200, 0.01, stop_after=len(OK_200) - 3), "4xx"),
    "http10_no_length_closed": (whole(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n"
                                      b"thanks, got it"), "250"),
    "http11_no_length_closed": (whole(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n"
                                      b"thanks, got it"), "250"),
    "http10_no_length_never_closed": (whole(b"HTTP/1.0 200 OK\r\n\r\nthanks",
                                            then_wait=BAD_TIMEOUT_S + 3), "4xx"),
    "connection_close_each": (whole(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
                                    b"Connection: close\r\n\r\n"), "250"),
    "http10_keepalive_header_then_close": (whole(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n"
                                                 b"Connection: keep-alive\r\n\r\n"), "250",
                                           True),
}


@pytest.fixture
def good():
    r = RecordingReceiver()
    try:
        yield r
    finally:
        r.close()


def start_gateway(gateway_bin, tmp_path, good, bad_url, timeout_s=BAD_TIMEOUT_S):
    return Gateway(gateway_bin, tmp_path, [
        ("good", "good.test", good.url(), ""),
        ("bad", "bad.test", bad_url, f'timeout = "{timeout_s}s"'),
    ])


def baseline(g, good, bad):
    """The daemon's fds, idle, once a burst of GOOD_PARALLEL messages to route
    good has filled its connection cache."""
    assert good_burst(g, "base") == ["250"] * GOOD_PARALLEL
    time.sleep(0.3)
    return g.fd_census([good.port(), bad.port()])


def check_after(g, base, good, bad, kept=0):
    """Back to the baseline: no more fds than at the baseline besides the
    webhook connections; to the bad receiver, at most the `kept` connections
    a reusable answer may leave in the connection cache (curl's cache, one per
    message at most); to the good one, at most one per parallel message. And a
    normal message still gets 250 (hang bound only)."""
    gp, bp = good.port(), bad.port()
    deadline = time.monotonic() + 15
    while True:
        now = g.fd_census([gp, bp])
        ok = now["other"] <= base["other"] and now[bp] <= kept and now[gp] <= GOOD_PARALLEL + 1
        if ok or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    short = {k: v for k, v in now.items() if k != "states"}
    print(f"fds: baseline {({k: v for k, v in base.items() if k != 'states'})}, after {short}")
    assert now["other"] <= base["other"], (base, now, sorted_fds(g))
    assert now[bp] <= kept, (base, now)
    assert now[gp] <= GOOD_PARALLEL + 1, (base, now)
    assert send(g, "hello@good.test", message("after", 0), timeout=20)[0] == "250"
    assert g.proc.poll() is None, g.log()


def sorted_fds(g):
    import os
    out = []
    for fd in os.listdir(f"/proc/{g.proc.pid}/fd"):
        try:
            out.append(os.readlink(f"/proc/{g.proc.pid}/fd/{fd}"))
        except OSError:
            pass
    return sorted(out)


def good_burst(g, run, n=GOOD_PARALLEL):
    with concurrent.futures.ThreadPoolExecutor(n) as ex:
        outs = list(ex.map(lambda i: send(g, "hello@good.test", message(run, i), timeout=30),
                           range(n)))
    return [o[0] for o in outs]


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_misbehaving_receiver(gateway_bin, tmp_path, good, name):
    behave, want, *reusable = SCENARIOS[name]
    bad = RawReceiver(behave)
    g = start_gateway(gateway_bin, tmp_path, good, bad.url())
    try:
        base = baseline(g, good, bad)
        n_bad = 3
        with concurrent.futures.ThreadPoolExecutor(n_bad) as ex:
            t0 = time.monotonic()
            futs = [ex.submit(send, g, "hello@bad.test", message("bad", i), 60)
                    for i in range(n_bad)]
            # while the bad route misbehaves, the good route is served as usual
            deadline = time.monotonic() + 10
            while bad.requests < n_bad and time.monotonic() < deadline:
                time.sleep(0.02)
            goods = good_burst(g, "good")
            outs = [f.result(timeout=90) for f in futs]
            elapsed = time.monotonic() - t0
        print(f"{name}: bad route replies {[o[1] for o in outs]} after {elapsed:.1f} s; "
              f"good route {goods.count('250')}/{len(goods)} 250; "
              f"{bad.requests} requests, {bad.connections} connections")
        assert goods == ["250"] * GOOD_PARALLEL, g.log()[-3000:]
        assert [o[0] for o in outs] == [want] * n_bad, (outs, g.log()[-3000:])
        if want == "4xx":
            assert all(o[1] == 451 for o in outs), outs
        assert bad.requests >= n_bad
        check_after(g, base, good, bad, n_bad if reusable else 0)
    finally:
        g.close()
        bad.close()


def test_connection_close_each_sequential_reuses_nothing(gateway_bin, tmp_path, good):
    """Connection: close after each answer, many messages in one session: each
    gets 250 on a fresh connection, and no fd is left behind per message."""
    bad = RawReceiver(whole(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n"
                            b"\r\nok"))
    g = start_gateway(gateway_bin, tmp_path, good, bad.url())
    try:
        base = baseline(g, good, bad)
        n = 20
        with g.smtp() as c:
            c.ehlo()
            for i in range(n):
                assert c.sendmail("alice@sender.test", ["hello@bad.test"],
                                  message("seq", i)) == {}
        print(f"{n} messages, {bad.connections} connections")
        assert bad.requests == n and bad.connections == n
        check_after(g, base, good, bad)
    finally:
        g.close()
        bad.close()


@pytest.mark.parametrize("keep", [False, True], ids=["close", "keepalive"])
def test_2xx_after_the_client_left(gateway_bin, tmp_path, good, keep):
    """The client sends the message and leaves without waiting for the reply;
    the receiver answers 200 1.5 s later. The daemon does not crash, logs the
    delivery (marked client=gone: nobody got that 250) and the disconnection
    of each such session, and its fds return to the baseline."""
    delay = 1.5
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n" + \
        (b"\r\n" if keep else b"Connection: close\r\n\r\n")
    bad = RawReceiver(whole(answer, delay=delay, keep=keep))
    g = start_gateway(gateway_bin, tmp_path, good, bad.url(), 10)
    try:
        base = baseline(g, good, bad)
        n = 4
        for i in range(n):
            # gone before the webhook answers
            g.send_no_wait(message("left", i), rcpt="hello@bad.test").close()
        deadline = time.monotonic() + 10
        while bad.requests < n and time.monotonic() < deadline:
            time.sleep(0.05)
        assert bad.requests == n
        assert good_burst(g, "good") == ["250"] * GOOD_PARALLEL
        # the answers come delay seconds later, to sessions whose client is gone:
        # each is logged (delivered, then the session closes), none is lost
        sids = re.findall(r"session=(\w+) (?:delivery=\S+ )?message submitted .* route=bad",
                          g.log())
        assert len(sids) == n
        deadline = time.monotonic() + delay + 15
        while time.monotonic() < deadline:
            log = g.log()
            done = [sid for sid in sids
                    if re.search(rf"session={sid} (?:delivery=\S+ )?delivered reply=250", log)
                    and f"session={sid} disconnect" in log]
            if len(done) == n:
                break
            time.sleep(0.1)
        print(f"{len(done)} of {n} late 250s logged for sessions whose client left")
        assert len(done) == n, log[-3000:]
        # ...and the line says nobody got that 250; a client that waited for its
        # answer (the good burst) has no such mark
        for sid in sids:
            line = re.search(rf"session={sid} (?:delivery=\S+ )?delivered reply=250[^\n]*", log)
            assert line.group(0).endswith(" client=gone"), line.group(0)
        waited = re.findall(r"delivered reply=250[^\n]*", log)
        assert len(waited) > n and sum("client=gone" in ln for ln in waited) == n, waited
        assert g.proc.poll() is None
        check_after(g, base, good, bad, n if keep else 0)
    finally:
        g.close()
        bad.close()
