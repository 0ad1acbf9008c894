#!/usr/bin/python3
"""Syscalls per message of the gateway: `strace -c -f` on the daemon while
Postfix's smtp-source sends N messages over one session, against the nginx
sink of bench.py. Not a test (counts, not assertions): a tool for
docs/benchmark.md.

    tests/bench/syscalls.py BUILD_DIR [messages [sessions [size]]]
"""
import pathlib
import re
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench import Gateway, Nginx, smtp_source  # noqa: E402


def main():
    build = pathlib.Path(sys.argv[1]).resolve()
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    sessions = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    size = int(sys.argv[4]) if len(sys.argv) > 4 else 5120
    with tempfile.TemporaryDirectory() as tmp, Nginx(pathlib.Path(tmp) / "nginx") as nginx, \
            Gateway(build / "gateway" / "smtp-gateway", tmp, nginx.ports["ok"],
                    workers=1) as gw:
        smtp_source(gw.port, 1, 20, size)  # warm: the webhook connection is open
        out = pathlib.Path(tmp) / "strace.txt"
        st = subprocess.Popen(["strace", "-c", "-f", "-o", str(out), "-p", str(gw.proc.pid)],
                              stderr=subprocess.DEVNULL)
        time.sleep(1.0)  # attached to every thread
        res = smtp_source(gw.port, sessions, n, size)
        time.sleep(0.5)
        st.send_signal(2)
        st.wait(30)
        assert not res["errors"], res["stderr"]
        assert nginx.posts("ok") == n + 20, "one POST per message"
        total = 0
        rows = []
        for line in out.read_text().splitlines():
            m = re.match(r"\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)$", line)
            if m and m.group(2) != "total":
                rows.append((int(m.group(1)), m.group(2)))
        rows.sort(reverse=True)
        for calls, name in rows[:12]:
            total += calls
            print(f"{name:16} {calls / n:7.2f} per message")
        print(f"{'all':16} {total / n:7.2f} per message ({n} messages, {sessions} session(s))")


if __name__ == "__main__":
    main()
