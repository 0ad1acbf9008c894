"""Plays every tests/smtp/cases/*.txt against smtp-gateway-double.

Case file format (one directive a line; '#' starts a comment line):
  config: SECTION.KEY = TOML-VALUE   gateway.toml override ("listener.mode = ..." for the listener)
  C: TEXT        a command line, sent with CRLF; consecutive C/C-raw lines go in one write
  C-raw: EXPR    Python string literals joined by + and *, sent as is (latin-1)
  S: CODE [STATUS]  the next reply's code (and enhanced status); multi-line replies count once
  S: close       the server closes the connection
  wait: SECONDS  sleep before the next line
  log: TEXT      the gateway log contains TEXT (waits up to 5 s)
  deliveries: N  the delivery double received exactly N messages
  counter: NAME=N  after the case, the gateway stops (SIGTERM) and its counters line
                 (logged at exit) has NAME=N (STYLE 22: each limit's reply and counter)
"""
import ast
import pathlib
import time

import pytest

CASES = sorted((pathlib.Path(__file__).parent / "cases").glob("*.txt"))


def raw_expr(text):
    """A Python expression of string literals, + and * (e.g. "x" * 5000 + "\r\n")."""
    tree = ast.parse(text, mode="eval")
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Expression, ast.Constant, ast.BinOp, ast.Add, ast.Mult)):
            raise ValueError(f"C-raw allows literals, + and * only: {text!r}")
    return eval(compile(tree, "<case>", "eval"), {"__builtins__": {}})  # checked above


def parse_case(path):
    overrides, steps = {}, []
    for raw in path.read_text(encoding="utf-8").splitlines():
        if not raw.strip() or raw.startswith("#"):
            continue
        kind, _, arg = raw.partition(":")
        arg = arg[1:] if arg.startswith(" ") else arg
        if kind == "config":
            key, _, val = arg.partition("=")
            overrides[key.strip()] = val.strip()
        elif kind == "C":
            steps.append(("send", arg.encode("utf-8") + b"\r\n"))
        elif kind == "C-raw":
            steps.append(("send", raw_expr(arg).encode("latin-1")))
        elif kind in ("S", "wait", "log", "deliveries", "counter"):
            steps.append((kind, arg.strip()))
        else:
            raise ValueError(f"{path.name}: bad line {raw!r}")
    return overrides, steps


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_case(case, start_gateway, client_of):
    overrides, steps = parse_case(case)
    gw = start_gateway(overrides)
    c = client_of(gw)
    pending = b""
    for kind, arg in steps:
        if kind == "send":
            pending += arg
            continue
        if pending:
            c.send(pending)
            pending = b""
        if kind == "S" and arg == "close":
            assert c.closed(), f"{case.name}: connection still open"
        elif kind == "S":
            want = arg.split()
            code, last, lines = c.reply(timeout=10)
            got = last.split()
            assert str(code) == want[0], f"{case.name}: want {arg!r}, got {lines!r}"
            if len(want) > 1:
                assert got[1] == want[1], f"{case.name}: want {arg!r}, got {lines!r}"
        elif kind == "wait":
            time.sleep(float(arg))
        elif kind == "log":
            assert gw.wait_log(arg), f"{case.name}: log lacks {arg!r}:\n{gw.log()}"
        elif kind == "deliveries":
            time.sleep(0.1)
            assert len(gw.deliveries()) == int(arg), f"{case.name}: deliveries"
        elif kind == "counter":
            continue
    if pending:
        c.send(pending)
    counters = [arg for kind, arg in steps if kind == "counter"]
    if counters:
        c.close()
        gw.stop()
        line = next((ln for ln in gw.log().splitlines() if "counters " in ln), "")
        for want in counters:
            assert f" {want} " in f"{line} ", f"{case.name}: want {want!r} in {line!r}"
