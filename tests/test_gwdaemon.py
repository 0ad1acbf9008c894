"""The daemon-under-test fixture itself (tests/gwdaemon.py): a sanitizer report in
the daemon's log or an unexpected exit status fails the test that stopped it; a
restart waits for this run's "ready:" line, not the last run's; the config dict
is the TOML the daemon reads. The daemon here is a shell script that behaves as
the real one does at start and at SIGTERM, so each case is exact and fast."""
import pathlib
import tomllib

import pytest

from gwdaemon import Gateway, Gateways, Toml, gateway_config, sanitizer_report, toml_text

# What the fake daemon writes when it gets SIGTERM, its exit status, and whether
# check() must pass. The reports are the first lines ASan, LSan and UBSan print.
CASES = [
    ("clean", "info sys=main counters connections=0", 0, True),
    ("asan", "==4242==ERROR: AddressSanitizer: heap-use-after-free on address 0x6020", 0,
     False),
    ("lsan", "==4242==ERROR: LeakSanitizer: detected memory leaks", 0, False),
    ("ubsan", "gateway/smtp/smtp_tx.c:120:9: runtime error: signed integer overflow", 0,
     False),
    ("exit_status", "info sys=main counters connections=0", 3, False),
]


def fake_daemon(tmp, at_term, status):
    """A daemon that logs "ready:" at start, and at SIGTERM writes at_term and exits."""
    script = tmp / "fake-gateway"
    script.write_text("#!/bin/sh\n"
                      f"trap 'echo \"{at_term}\" >&2; exit {status}' TERM\n"
                      'echo "info sys=main ready: 1 workers, 1 listeners"\n'
                      "i=0\n"
                      "while [ $i -lt 3000 ]; do sleep 0.01; i=$((i + 1)); done\n")
    script.chmod(0o755)
    return script


@pytest.mark.parametrize("at_term,status,passes", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_check_fails_on_sanitizer_report_or_exit_status(tmp_path, at_term, status, passes):
    g = Gateway(tmp_path, {"server": {"hostname": "mx.test"}},
                binary=fake_daemon(tmp_path, at_term, status))
    assert g.close() == status
    assert at_term in g.log()
    if passes:
        g.check()
    else:
        with pytest.raises(AssertionError):
            g.check()


@pytest.mark.parametrize("at_term,status,passes", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_gateways_fixture_checks_every_daemon(tmp_path, at_term, status, passes):
    """A clean daemon started first does not hide the report of the second."""
    (tmp_path / "good").mkdir()
    (tmp_path / "other").mkdir()
    started = Gateways(tmp_path)
    started.start({}, binary=fake_daemon(tmp_path / "good", "info sys=main counters", 0))
    started.start({}, binary=fake_daemon(tmp_path / "other", at_term, status))
    if passes:
        started.finish()
    else:
        with pytest.raises(AssertionError):
            started.finish()
    assert all(g.proc.returncode is not None for g in started.started)


def test_sanitizer_marks():
    assert not sanitizer_report("info sys=smtp session=1 reply 250 2.0.0 runtime ok")
    for _, text, _, passes in CASES[:4]:
        assert sanitizer_report(text) is not passes


def test_restart_waits_for_its_own_ready_line(tmp_path):
    script = fake_daemon(tmp_path, "stopped", 0)
    g = Gateway(tmp_path, {}, binary=script)
    first = g.pid
    g.stop()
    # the restarted fake says "ready:" only after 0.5 s: an old line must not count
    script.write_text(script.read_text().replace('echo "info sys=main ready:',
                                                 'sleep 0.5; echo "info sys=main ready:'))
    g.start()
    assert g.pid != first and g.proc.poll() is None
    assert g.log().count("ready:") == 2
    g.close()
    g.check()


def test_toml_text_is_the_config_meant():
    doc = gateway_config(2525, [{"match": "*@example.test", "url": "http://127.0.0.1:1/h",
                                 "replies": {"404": "550 5.1.1 No such ticket"},
                                 "+": Toml('format = "raw"')}],
                         server={"log_trace": ["smtp", "webhook"], "log_level": "debug"},
                         limits={"max_recipients": 100, "bare_newlines": Toml('"reject"')})
    got = tomllib.loads(toml_text(doc))
    assert got["server"] == {"hostname": "mx.example.test", "workers": 1, "allow_root": True,
                             "log_trace": ["smtp", "webhook"], "log_level": "debug"}
    assert got["listener"] == [{"address": "127.0.0.1:2525"}]
    assert got["auth"] == {"spf": "off", "dkim": "off", "dmarc": "off", "arc": "off"}
    assert got["limits"] == {"max_recipients": 100, "bare_newlines": "reject"}
    assert got["route"] == [{"match": "*@example.test", "url": "http://127.0.0.1:1/h",
                             "replies": {"404": "550 5.1.1 No such ticket"}, "format": "raw"}]
    assert tomllib.loads(toml_text({"s": {"k": 'a "quoted" \\ value\n'}}))["s"]["k"] == \
        'a "quoted" \\ value\n'


def test_never_ready_fails_and_is_not_left_running(tmp_path):
    script = tmp_path / "silent-gateway"
    script.write_text('#!/bin/sh\necho "pid $$"\nexec sleep 60\n')
    script.chmod(0o755)
    with pytest.raises(AssertionError, match="not ready"):
        Gateway(tmp_path, {}, binary=script, timeout=0.5)
    pid = int((tmp_path / "gateway.log").read_text().split()[1])
    assert not pathlib.Path(f"/proc/{pid}").exists()
