#!/usr/bin/python3
"""Where the gateway's CPU goes: `perf record -g` on the daemon while loadgen
sends 20 sessions of 5 KB messages to it, against the nginx sink of bench.py;
then perf's top entries (self time, by shared object and by symbol). Not a
test: a tool for docs/benchmark.md (run it on a release tree, e.g.
build-bench; take the shares, not the absolute counts).

    tests/bench/profile.py BUILD_DIR [messages [sessions]]
"""
import pathlib
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
    build = pathlib.Path(sys.argv[1]).resolve()
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    sessions = int(sys.argv[3]) if len(sys.argv) > 3 else 20
    with tempfile.TemporaryDirectory() as tmp, Nginx(pathlib.Path(tmp) / "nginx") as nginx, \
            Gateway(build / "gateway" / "smtp-gateway", tmp, nginx.ports["ok"]) as gw:
        loadgen(build, gw.port, "-s", sessions, "-m", 2000)  # warm
        data = pathlib.Path(tmp) / "perf.data"
        perf = subprocess.Popen(["perf", "record", "-g", "-q", "-o", str(data), "-p",
                                 str(gw.proc.pid)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        res = loadgen(build, gw.port, "-s", sessions, "-m", n)
        perf.send_signal(2)
        perf.wait(60)
        print(f"loadgen: {res}")
        print("== by shared object (self)")
        print("\n".join(report(data, "dso", 15)))
        print("== by symbol (self)")
        print("\n".join(report(data, "dso,sym", 30)))


if __name__ == "__main__":
    main()
