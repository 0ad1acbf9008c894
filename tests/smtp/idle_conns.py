#!/usr/bin/python3
"""Measures the memory an idle SMTP session costs: starts smtp-gateway-double,
opens N connections that each read the greeting and send EHLO (optionally
STARTTLS too), and reports VmRSS of the server before and after.

usage: SMTPGW_BUILD=build-smtp /usr/bin/python3 tests/smtp/idle_conns.py [-n 10000] [--tls]
A measuring tool, not a test: it asserts nothing about speed or size.
"""
import argparse
import pathlib
import resource
import socket
import ssl
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
from gwdaemon import DOUBLE, Gateway, listening  # noqa: E402
from gwpaths import self_signed_cert  # noqa: E402
from smtp_harness import toml_config  # noqa: E402


def rss_kb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def read_reply(sock):
    buf = b""
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            raise EOFError
        buf += chunk
        lines = buf.split(b"\r\n")
        if len(lines) > 1 and len(lines[-2]) >= 4 and lines[-2][3:4] == b" ":
            return buf


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=10000)
    ap.add_argument("--tls", action="store_true", help="STARTTLS on every connection")
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    want = a.n + 200
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < want:
        sys.exit(f"RLIMIT_NOFILE hard limit {hard} < {want}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="idle-"))
    over = {"server.log_level": '"warn"', "server.workers": str(a.workers),
            "limits.max_connections": str(a.n + 10), "limits.max_connections_per_ip": str(a.n + 10)}
    certs = [self_signed_cert(tmp)] if a.tls else None
    gw = Gateway(tmp, lambda port: toml_config(port, over, certs=certs), binary=DOUBLE,
                 ready=listening)
    port = gw.port
    socks = []
    try:
        time.sleep(0.3)
        before = rss_kb(gw.pid)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        t0 = time.monotonic()
        for i in range(a.n):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            read_reply(s)
            s.sendall(b"EHLO idle.test\r\n")
            read_reply(s)
            if a.tls:
                s.sendall(b"STARTTLS\r\n")
                read_reply(s)
                s = ctx.wrap_socket(s, server_hostname="mx.test")
                s.sendall(b"EHLO idle.test\r\n")
                read_reply(s)
            socks.append(s)
        elapsed = time.monotonic() - t0
        time.sleep(0.5)
        after = rss_kb(gw.pid)
        per = (after - before) * 1024 / a.n
        print(f"idle sessions: {a.n} ({'STARTTLS' if a.tls else 'plain'}), "
              f"VmRSS {before} kB -> {after} kB, {per:.0f} bytes per idle session, "
              f"opened in {elapsed:.1f} s")
    finally:
        for s in socks:
            s.close()
        gw.close()


if __name__ == "__main__":
    main()
