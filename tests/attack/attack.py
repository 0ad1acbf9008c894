#!/usr/bin/python3
"""scripts/attack: runs the attacks of issue 11 at full size, one at a time,
against the daemon of BUILD_DIR while the probe measures, and prints one line
per scenario (probe messages, p50/p99/max latency from end of DATA to reply,
p99 corrected for coordinated omission,
p99 greeting latency of fresh connections, probe failures, daemon RSS before,
peak (VmHWM) and after, the memory bound, the exit status after SIGTERM,
PASS/FAIL against p99 < 200 ms and the bound, and what the attacker got).

usage: attack.py BUILD_DIR [--small] [--json FILE] [SCENARIO...]
A measuring tool, not a test: test_attack.py checks the functional outcomes.
"""
import argparse
import json
import pathlib
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import attack_lib  # noqa: E402
import scenarios  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--small", action="store_true", help="the scaled-down sizes of the tests")
    ap.add_argument("--json", help="write every result here too")
    ap.add_argument("--verbose", action="store_true", help="log tail and failures per scenario")
    ap.add_argument("names", nargs="*", help=f"default: all of {list(scenarios.BY_NAME)}")
    a = ap.parse_intermixed_args()
    binary = pathlib.Path(a.build) / "gateway" / "smtp-gateway"
    if not binary.exists():
        sys.exit(f"{binary} is not built")
    chosen = [scenarios.BY_NAME[n] for n in a.names] if a.names else scenarios.ALL
    print("p50/p99/max: ms from end of DATA to the probe's reply (back to back, one session); "
          "p99co: p99 corrected for coordinated omission (a stall stands for the messages the "
          "probe would have sent meanwhile; PASS needs p99co < 200); greet99: ms to a fresh "
          "connection's greeting (every 20 messages); MB: daemon VmRSS before the attack, peak "
          "VmHWM, VmRSS after", flush=True)
    print(attack_lib.table_header(), flush=True)
    results = []
    for sc in chosen:
        with tempfile.TemporaryDirectory(prefix=f"attack-{sc.name}-") as tmp:
            r = attack_lib.run_scenario(sc, binary, tmp, full=not a.small)
        results.append(r)
        print(attack_lib.table_line(r), flush=True)
        problems = sc.expected(r["counts"], not a.small)
        if problems or a.verbose or not r["pass"]:
            for p in problems:
                print(f"    attacker: {p}")
            for f in r["failures"][:5]:
                print(f"    probe failure: {f}")
            if r.get("attack_error"):
                print(f"    attack error: {r['attack_error']}")
            if a.verbose or not r["pass"]:
                print("    " + "\n    ".join(r["log_tail"].splitlines()[-8:]))
        print(f"    bound: {sc.bound_text}; webhook: {r['posts']} POSTs, "
              f"{r['post_bytes'] / 1e6:.1f} MB", flush=True)
    if a.json:
        for r in results:
            r.pop("log_tail", None)
        pathlib.Path(a.json).write_text(json.dumps(results, indent=1, default=str))
    return 0 if all(r["pass"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
