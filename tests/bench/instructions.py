#!/usr/bin/python3
"""Instructions per message of the gateway, counted by callgrind: the daemon
runs under valgrind while loadgen sends 20 sessions of messages to it (the
nginx sink of bench.py); only the measured messages are counted (callgrind
instruments the daemon from the end of a warm-up and dumps before the end). Not a test: a
tool for docs/benchmark.md.

Timings on a shared two-core machine move by 10-20% from run to run;
instruction counts move by well under 1%, so a change worth a few percent
is measured here and confirmed, when it is large enough, by bench.py.

    tests/bench/instructions.py BUILD_DIR [messages] [--file MSG.eml] [--raw]
                                [--auth [--nocache]] [--keep DUMP]

--auth counts the auth-20x5KB scenario of bench.py (the default checks
against unbound, five signed sender domains: tests/bench/authzone.py).

The daemon gets the allocator tunables it sets itself (include/malloc_tune.h:
it does not re-execute under valgrind, whose preload it sees). OpenSSL's
SHA-256 under valgrind runs without the CPU's SHA extensions, several times
slower than on the hardware: it is reported apart, and the stages below are
given both with it and without it.
"""
import argparse
import contextlib
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench import Gateway, Nginx, loadgen  # noqa: E402

# Inclusive cost of these functions, per message: name in the report, callgrind's function.
STAGES = [
    ("SMTP session (all of it)", "smtp_session.c:read_cb"),
    ("  delivery built and submitted", "delivery.c:delivery_submit"),
    ("    MIME to JSON", "payload.c:payload_write"),
    ("      GMime parse", "g_mime_parser_construct_message"),
    ("    delivery id (SHA-256)", "webhook_sign.c:webhook_sign_id"),
    ("    signature (HMAC or Ed25519)", "webhook_sign.c:sign_all"),
    ("  authentication at end of data", "auth_tx_message"),
    ("libcurl (request and answer)", "curl_multi_socket_action"),
    ("RSA verification (all callers)", "EVP_PKEY_verify"),
    ("SHA-256 (all callers)", "SHA256_Update"),
]


def malloc_tunables():
    """The GLIBC_TUNABLES value the daemon gives itself, read from include/malloc_tune.h."""
    text = (HERE.parent.parent / "include" / "malloc_tune.h").read_text()
    m = re.search(r"#define MALLOC_TUNABLES((?:[^\n]*\\\n)*[^\n]*)", text)
    return "".join(re.findall(r'"([^"]*)"', m.group(1)))


def inclusive(dump):
    """{function: inclusive instructions} and the total, from one callgrind dump."""
    r = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", str(dump)],
                       capture_output=True, text=True, timeout=600)
    costs, total = {}, 0
    for line in r.stdout.splitlines():
        m = re.match(r"\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(\S.*?)(?:\s+\[.*\])?\s*$", line)
        if not m:
            continue
        n = int(m.group(1).replace(",", ""))
        if m.group(2).startswith("PROGRAM TOTALS"):
            total = n
            continue
        name = m.group(2).split("/")[-1]
        costs[name] = max(costs.get(name, 0), n)  # a recursive function's outer entry
    return costs, total


def find(costs, fn):
    """fn's inclusive cost; "file.c:name" also matches "???:name" (a build without -g)."""
    bare = "???:" + fn.split(":")[-1]
    hits = [v for k, v in costs.items() if k == fn or k.endswith(":" + fn) or
            k.endswith(fn) or k == bare]
    return max(hits) if hits else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build", type=pathlib.Path)
    ap.add_argument("messages", type=int, nargs="?", default=2000)
    ap.add_argument("--file", type=pathlib.Path, help="the message to send (loadgen -F); "
                    "default: loadgen's 5 KB text message")
    ap.add_argument("--raw", action="store_true", help='the route with format = "raw"')
    ap.add_argument("--auth", action="store_true", help="the auth-20x5KB scenario")
    ap.add_argument("--nocache", action="store_true", help="with --auth: the gateway's "
                    "caches off (auth-20x5KB-nocache)")
    ap.add_argument("--keep", type=pathlib.Path, help="copy the callgrind dump here "
                    "(for callgrind_annotate by function)")
    a = ap.parse_args()
    build = a.build.resolve()
    send = ["-F", str(a.file.resolve())] if a.file else []
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        out = pathlib.Path(tmp) / "cg"
        out.mkdir()
        wrap = pathlib.Path(tmp) / "smtp-gateway"
        wrap.write_text(
            "#!/bin/sh\n"
            f"GLIBC_TUNABLES='{malloc_tunables()}' exec valgrind -q --tool=callgrind "
            f"--instr-atstart=no --callgrind-out-file={out}/callgrind.out "
            f"{build}/gateway/smtp-gateway \"$@\"\n")
        wrap.chmod(0o755)
        nginx = stack.enter_context(Nginx(pathlib.Path(tmp) / "nginx"))
        opts = {"route_extra": 'format = "raw"'} if a.raw else {}
        if a.auth:
            from authzone import AuthZone
            zone = stack.enter_context(AuthZone(tmp))
            opts.update(auth_on=True, extra=zone.dns_toml(cache=not a.nocache))
            send = send + zone.loadgen_args()
        gw = stack.enter_context(Gateway(wrap, tmp, nginx.ports["ok"], **opts))
        loadgen(build, gw.port, "-s", 20, "-m", 200, *send, timeout=900)  # warm
        ctl = ["callgrind_control"]
        subprocess.run(ctl + ["-i", "on", str(gw.pid)], check=True, capture_output=True)
        res = loadgen(build, gw.port, "-s", 20, "-m", a.messages, *send, timeout=3600)
        subprocess.run(ctl + ["-d", str(gw.pid)], check=True, capture_output=True)
        subprocess.run(ctl + ["-i", "off", str(gw.pid)], check=True, capture_output=True)
        deadline = time.monotonic() + 60
        dumps = []
        while not dumps and time.monotonic() < deadline:
            dumps = sorted(p for p in out.iterdir() if p.stat().st_size > 0)
            time.sleep(0.2)
        if res["replies"] != {"250": a.messages} or not dumps:
            sys.exit(f"instructions.py: the run failed: {res}")
        costs, total = inclusive(dumps[0])
        if a.keep:
            shutil.copyfile(dumps[0], a.keep)
    n = a.messages
    sha = find(costs, "SHA256_Update")
    print(f"{n} messages ({a.file.name if a.file else '5 KB text'}"
          f"{', raw' if a.raw else ''}{', auth' if a.auth else ''}"
          f"{' without caches' if a.nocache else ''}), instructions per message:")
    print(f"  {'all':40} {total / n / 1000:9.1f}k   without SHA-256 "
          f"{(total - sha) / n / 1000:9.1f}k")
    for label, fn in STAGES:
        print(f"  {label:40} {find(costs, fn) / n / 1000:9.1f}k")


if __name__ == "__main__":
    main()
