"""[server] log_target = "file": lines go to log_file; after logrotate moves
it, SIGUSR1 makes the daemon write to a new file of the same name, and no
line is lost between the two (issue 13)."""
import json
import pathlib
import signal
import smtplib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from admin_lib import Daemon, wait_for  # noqa: E402
from gwdaemon import gateway_config, toml_text  # noqa: E402


def config(log, log_format="json", log_target="file"):
    return toml_text(gateway_config(
        "@SMTP@", [{"match": "*@good.test", "url": "http://127.0.0.1:1/hook"}], hostname="mx.test",
        server={"log_format": log_format, "log_target": log_target, "log_file": str(log)},
        admin={"address": "127.0.0.1:@ADMIN@"}))


def session(d, helo):
    with smtplib.SMTP("127.0.0.1", d.port, timeout=30) as c:
        c.ehlo(helo)
        c.noop()


def test_sigusr1_reopens_the_log_file(tmp_path):
    log = tmp_path / "gw.log"
    d = Daemon(tmp_path, config(log))
    try:
        assert "ready:" in log.read_text()
        assert d.log() == ""  # nothing on standard error
        session(d, "before.test")
        assert wait_for(lambda: "disconnect" in log.read_text())
        rotated = tmp_path / "gw.log.1"
        log.rename(rotated)
        d.proc.send_signal(signal.SIGUSR1)
        assert wait_for(log.exists)
        session(d, "after.test")
        assert wait_for(lambda: "disconnect" in log.read_text())
        new = [json.loads(ln) for ln in log.read_text().splitlines()]
        old = [json.loads(ln) for ln in rotated.read_text().splitlines()]
        def connects(lines):
            return sum(ln.get("msg", "").startswith("connect ") for ln in lines)
        assert connects(old) == 1 and connects(new) == 1  # each session in its own file
    finally:
        d.stop()


def test_sighup_switches_the_log_format(tmp_path):
    """log_format is reloadable: after SIGHUP the lines on standard error are JSON."""
    log = tmp_path / "unused.log"
    text = config(log, log_format="text", log_target="stderr")
    d = Daemon(tmp_path, text)
    try:
        session(d, "text.test")
        assert wait_for(lambda: "disconnect" in d.log())
        assert d.log().startswith("smtp-gateway[")
        d.config.write_text(d.config.read_text().replace('log_format = "text"',
                                                         'log_format = "json"'))
        d.proc.send_signal(signal.SIGHUP)
        assert wait_for(lambda: "configuration reloaded" in d.log())
        before = len(d.log().splitlines())
        session(d, "json.test")
        assert wait_for(lambda: d.log().count("disconnect") == 2)
        after = d.log().splitlines()[before:]
        assert after and all(json.loads(ln)["sys"] for ln in after)
    finally:
        d.stop()
