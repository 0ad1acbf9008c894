#!/usr/bin/python3
"""End-to-end throughput of smtp-gateway-double: C client connections, each
sending M pipelined transactions (MAIL, RCPT, DATA and the message in one
write) of S bytes. Prints messages/s. A measurement, not a test.

usage: SMTPGW_BUILD=build-smtp /usr/bin/python3 tests/smtp/bench_throughput.py [-c 8] [-m 500] [-s 4096]
"""
import argparse
import pathlib
import socket
import sys
import tempfile
import threading
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
from gwdaemon import DOUBLE, Gateway, listening  # noqa: E402
from smtp_harness import toml_config  # noqa: E402


def client(port, m, size, errors):
    body = b"Subject: bench\r\n\r\n" + (b"x" * 76 + b"\r\n") * max(1, size // 78) + b".\r\n"
    tx = b"MAIL FROM:<a@client.test>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n" + body
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        f = s.makefile("rb")
        f.readline()
        s.sendall(b"EHLO bench.test\r\n")
        while f.readline()[3:4] == b"-":
            pass
        for _ in range(m):
            s.sendall(tx)
            codes = [f.readline()[:3] for _ in range(4)]
            if codes != [b"250", b"250", b"354", b"250"]:
                errors.append(codes)
                return
        s.sendall(b"QUIT\r\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-c", type=int, default=8, help="connections")
    ap.add_argument("-m", type=int, default=500, help="messages per connection")
    ap.add_argument("-s", type=int, default=4096, help="message size")
    a = ap.parse_args()
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench-"))
    over = {"server.log_level": '"error"', "limits.max_transactions": "1000000"}
    gw = Gateway(tmp, lambda port: toml_config(port, over), binary=DOUBLE, ready=listening)
    port = gw.port
    try:
        errors = []
        threads = [threading.Thread(target=client, args=(port, a.m, a.s, errors))
                   for _ in range(a.c)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        dt = time.monotonic() - t0
        n = a.c * a.m
        print(f"{n} messages of {a.s} bytes over {a.c} connections in {dt:.2f} s: "
              f"{n / dt:.0f} messages/s{' ERRORS ' + str(errors[:3]) if errors else ''}")
    finally:
        gw.close()


if __name__ == "__main__":
    main()
