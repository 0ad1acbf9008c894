"""A small streamed body (format raw, the provider forms) leaves in one send with its headers.

Through libcurl's read callback a request goes out as two sends, the headers and
then the body: two segments and two wake-ups of the receiver per message. A body
up to FORM_DATA_FLAT_MAX (64 KB) is now laid out once and handed to libcurl whole
(gateway/webhook/form_data.c form_data_setup); a bigger one still streams, so a
50 MB message is never copied. Counted with strace on the delivery driver (counts,
not timings); the receiver checks every byte and the signature.
"""
import re
import shutil
import subprocess

import pytest

from gwdaemon import write_toml
from test_webhook_delivery import EML, FAST, SECRET, clean_env, verify_hmac

STRACE = shutil.which("strace")


def sends(driver, tmp_path, eml, *args):
    """(the byte counts of the driver's send calls, its stdout)."""
    out = tmp_path / "strace.txt"
    cmd = [STRACE, "-f", "-qq", "-e", "trace=sendto,sendmsg,write,writev", "-o", str(out),
           str(driver), *args, str(eml)]
    env = clean_env()
    # LeakSanitizer cannot run under ptrace; the other tests check this driver for leaks.
    env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":detect_leaks=0"
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=90, env=env)
    assert p.returncode == 0, p.stderr[-2000:]
    counts = [int(m.group(1)) for ln in out.read_text().splitlines()
              if "MSG_NOSIGNAL" in ln and (m := re.search(r"\) = (\d+)$", ln))]
    return counts, p.stdout


def message(tmp_path, size):
    body = b"".join(b"line %06d of the body, long enough to count\r\n" % i
                    for i in range(size // 46 + 1))
    eml = tmp_path / f"m{size}.eml"
    eml.write_bytes(EML.read_bytes().rstrip(b"\r\n") + b"\r\n" + body)
    return eml


def raw_post(driver, sink, tmp_path, size):
    """A message of about size bytes through a format raw route: (send counts, the
    request the receiver got), the message and its signature checked."""
    eml = message(tmp_path, size)
    counts, out = sends(driver, tmp_path, eml, "--url", sink.url(), "--format", "raw",
                        "--secret", SECRET, *FAST)
    assert out.startswith("250 "), out
    req = sink.requests[0]
    assert req.body.endswith(eml.read_bytes())
    assert verify_hmac(SECRET, req.headers["webhook-id"], req.headers["webhook-timestamp"],
                       req.body, req.headers["webhook-signature"])
    return counts, req


@pytest.mark.skipif(not STRACE, reason="strace is not installed")
def test_small_raw_body_goes_with_its_headers(driver, sink, tmp_path):
    counts, req = raw_post(driver, sink, tmp_path, 20 * 1024)
    assert len(counts) == 1 and counts[0] > len(req.body), counts


@pytest.mark.skipif(not STRACE, reason="strace is not installed")
def test_small_mailgun_form_goes_with_its_headers(driver, sink, tmp_path):
    cfg = write_toml(tmp_path / "mailgun.toml", {
        "webhook": {"timeout": "10s", "retry_budget": "0"},
        "route": [{"name": "mg", "match": "*@example.test", "url": sink.url("/in"),
                   "format": "mailgun", "mailgun_signing_key": "key-0123456789abcdef"}]})
    counts, out = sends(driver, tmp_path, EML, "--config", str(cfg), "--rcpt",
                        "someone@example.test", "--from", "a@sender.test")
    assert out.startswith("250 "), out
    body = sink.requests[0].body
    assert b'name="body-plain"' in body and body.rstrip().endswith(b"--")
    assert len(counts) == 1 and counts[0] > len(body), counts


@pytest.mark.skipif(not STRACE, reason="strace is not installed")
def test_large_raw_body_still_streams(driver, sink, tmp_path):
    counts, req = raw_post(driver, sink, tmp_path, 300 * 1024)
    assert len(counts) > 1 and counts[0] < 64 * 1024, counts[:5]
    assert sum(counts) > len(req.body)
