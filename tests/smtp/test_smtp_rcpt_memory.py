"""Recipients are stored compactly while a transaction lasts: many RCPTs in one
session cost about their addresses' bytes, not a routed envelope entry (1 KB) each.
The figure is printed (pytest -s) for the report; the bound is generous."""
import os

from smtp_harness import Client

N = 20000


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def rcpts(c, start, n, batch=500):
    for b in range(start, start + n, batch):
        k = min(batch, start + n - b)
        c.send(b"".join(b"RCPT TO:<user%06d@example.com>\r\n" % i for i in range(b, b + k)))
        for _ in range(k):
            code, line, _ = c.reply(timeout=30)
            assert code == 250, line


def test_many_recipients_memory_and_delivery(start_gateway):
    gw = start_gateway({"limits.max_recipients": str(N), "server.workers": "1"})
    c = Client(gw.connect(timeout=30))
    assert c.reply()[0] == 220
    c.send(b"EHLO client.test\r\nMAIL FROM:<a@client.test>\r\n")
    assert c.reply()[0] == 250 and c.reply()[0] == 250
    rcpts(c, 0, 1000)  # warm up: buffers, allocator arenas
    before = rss_kb(gw.proc.pid)
    rcpts(c, 1000, N - 1000)
    after = rss_kb(gw.proc.pid)
    per = (after - before) * 1024 / (N - 1000)
    print(f"\nrecipient memory: {per:.0f} bytes/recipient over {N - 1000} RCPTs "
          f"(RSS {before} -> {after} kB)")
    assert per < 300, f"{per:.0f} bytes per recipient"
    c.send(b"RCPT TO:<one.too.many@example.com>\r\n")
    assert c.reply()[1].startswith("452 4.5.3")
    c.send(b"DATA\r\n")
    assert c.reply()[0] == 354
    c.send(b"Subject: many\r\n\r\nhi\r\n.\r\n")
    assert c.reply(timeout=60)[0] == 250
    (env, _), = gw.deliveries()
    assert len(env["rcpts"]) == N == len(env["rcpt_matches"])
    assert env["rcpts"][0] == "user000000@example.com"
    assert env["rcpts"][-1] == f"user{N - 1:06d}@example.com"
    # Each recipient routed again at the end of data gets what RCPT got.
    assert env["rcpt_matches"][N - 1] == ["route-1", "*@example.com", f"user{N - 1:06d}"]
    assert all(m[0] == "route-1" for m in env["rcpt_matches"])
