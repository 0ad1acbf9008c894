#!/usr/bin/python3
"""Where the gateway's CPU goes: `perf record -g` on the daemon while loadgen
sends 20 sessions of 5 KB messages to it, against the nginx sink of bench.py;
then perf's top entries (self time, by shared object and by symbol). Not a
test: a tool for docs/benchmark.md (run it on a release tree, e.g.
build-bench; take the shares, not the absolute counts).

    tests/bench/profile.py BUILD_DIR [messages [sessions]] [--auth [--nocache]]

--auth profiles the auth-20x5KB scenario instead: the default authentication
(spf, dkim, dmarc, arc annotate) against unbound, with the signed messages of
five sender domains (tests/bench/authzone.py); --nocache with the gateway's
DNS cache off and its DKIM key cache at 1 (auth-20x5KB-nocache).
"""
import argparse
import contextlib
import pathlib
import shutil
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench import Gateway, Nginx, loadgen  # noqa: E402


def report(data, sort, n):
    r = subprocess.run(["perf", "report", "-i", str(data), "--no-children", "--sort", sort,
                        "--stdio", "--percent-limit", "0.7", "-g", "none"],
                       capture_output=True, text=True, timeout=300)
    rows = [ln for ln in r.stdout.splitlines() if ln.strip() and not ln.startswith("#")]
    return rows[:n]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build", type=pathlib.Path)
    ap.add_argument("messages", type=int, nargs="?", default=20000)
    ap.add_argument("sessions", type=int, nargs="?", default=20)
    ap.add_argument("--auth", action="store_true", help="the auth-20x5KB scenario")
    ap.add_argument("--nocache", action="store_true", help="with --auth: the gateway's "
                    "caches off (auth-20x5KB-nocache)")
    ap.add_argument("--keep", type=pathlib.Path, help="copy perf.data here (for perf report)")
    a = ap.parse_args()
    build = a.build.resolve()
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        nginx = stack.enter_context(Nginx(pathlib.Path(tmp) / "nginx"))
        opts, args = {}, []
        if a.auth:
            from authzone import AuthZone
            zone = stack.enter_context(AuthZone(tmp))
            opts = {"auth_on": True, "extra": zone.dns_toml(cache=not a.nocache)}
            args = zone.loadgen_args()
        gw = stack.enter_context(Gateway(build / "gateway" / "smtp-gateway", tmp,
                                         nginx.ports["ok"], **opts))
        loadgen(build, gw.port, "-s", a.sessions, "-m", 2000, *args)  # warm
        data = pathlib.Path(tmp) / "perf.data"
        perf = subprocess.Popen(["perf", "record", "-g", "-q", "-o", str(data), "-p",
                                 str(gw.proc.pid)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        res = loadgen(build, gw.port, "-s", a.sessions, "-m", a.messages, *args)
        perf.send_signal(2)
        perf.wait(60)
        print(f"loadgen: {res}")
        if a.keep:
            shutil.copyfile(data, a.keep)
        print("== by shared object (self)")
        print("\n".join(report(data, "dso", 15)))
        print("== by symbol (self)")
        print("\n".join(report(data, "dso,sym", 30)))


if __name__ == "__main__":
    main()
