"""One log for the daemon (issue 12, STYLE 10a): no file of gateway/ writes to
standard error itself or reads a debug switch from the environment; only the log
module (gateway/log/) and the command-line tools' own output (main.c, cli_config.c,
*_cli.c) may."""
import re

from gwpaths import ROOT

ALLOWED = re.compile(r"^gateway/(log/.*|main\.c|cli_config\.c|.*_cli\.c)$")
RAW = re.compile(r"\b(fprintf|fputs|vfprintf|fputc|putc)\s*\([^;]*\bstderr\b|\bperror\s*\(|"
                 r"\bwrite\s*\(\s*(2|STDERR_FILENO)\s*,|getenv\s*\(\s*\"SMTPGW_")


def test_no_raw_stderr_outside_the_log_module():
    offenders = []
    for path in sorted((ROOT / "gateway").rglob("*.c")):
        rel = path.relative_to(ROOT).as_posix()
        if ALLOWED.match(rel):
            continue
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if RAW.search(line):
                offenders.append(f"{rel}:{n}: {line.strip()}")
    assert offenders == [], "\n".join(offenders)
