"""Every charset name glibc iconv knows (`iconv -l`, about 1,180), used as
the label of an RFC 2047 Subject and of a text/plain body made of random
high bytes, gives a payload that is valid JSON in valid UTF-8, in bounded
time. Labels outside the WHATWG Encoding Standard never reach iconv (they
are unknown: fallback and a warning); before this, TSCII hung the parser
and UCS-4LE, WCHAR_T, ISO-IR-193 and OSF05010001 put invalid UTF-8 into
the JSON. One driver process (charset_sweep) takes every label."""
import json
import subprocess

from gwpaths import BUILD

SWEEP_TIMEOUT = 300  # seconds for all labels; a hang is a failure, not a wait


def iconv_names():
    out = subprocess.run(["iconv", "-l"], capture_output=True, text=True, timeout=30,
                         check=True).stdout
    names = {n.strip().rstrip("/") for n in out.replace(",", "\n").split()}
    return sorted(n for n in names if n)


def sweep(labels):
    driver = BUILD / "tests" / "mime" / "charset_sweep"
    assert driver.exists(), f"{driver} is not built"
    proc = subprocess.run([str(driver)], input="\n".join(labels).encode(), capture_output=True,
                          timeout=SWEEP_TIMEOUT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.split(b"\n")
    assert lines[-1] == b""
    return lines[:-1]


def test_every_iconv_name_gives_utf8_json():
    labels = iconv_names()
    assert len(labels) > 1000
    lines = sweep(labels)
    assert len(lines) == len(labels)
    bad = []
    for label, line in zip(labels, lines):
        try:
            payload = json.loads(line.decode("utf-8", errors="strict"))
        except (UnicodeDecodeError, ValueError) as e:
            bad.append(f"{label}: {e}")
            continue
        if payload["id"] != label or payload["message"]["subject"] is None:
            bad.append(f"{label}: payload incomplete")
    assert not bad, bad[:20]


def test_labels_outside_the_standard_are_unknown():
    lines = sweep(["TSCII", "UTF-7", "UCS-4LE", "WCHAR_T", "ISO-IR-193", "OSF05010001"])
    for line in lines:
        payload = json.loads(line.decode("utf-8", errors="strict"))
        msgs = [w["message"] for w in payload["warnings"] if w["code"] == "charset_fallback"]
        assert any("unknown charset" in m for m in msgs), payload["warnings"]


def test_whatwg_labels_are_decoded():
    labels = ["latin1", "ISO-8859-9", "gb2312", "Shift_JIS", "euc-kr", "big5", "koi8-u",
              "windows-1251", "x-mac-cyrillic", "UTF-16LE", "utf-16be", "x-user-defined"]
    for label, line in zip(labels, sweep(labels)):
        payload = json.loads(line.decode("utf-8", errors="strict"))
        msgs = [w["message"] for w in payload["warnings"]]
        assert not any("unknown charset" in m for m in msgs), (label, msgs)
