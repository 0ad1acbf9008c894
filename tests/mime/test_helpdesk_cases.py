"""Our own help-desk fixtures (helpdesk_cases.yaml): the reply of each client
style and language through the real extraction (reply_driver), and the
classification of auto-reply, list, bulk and bounce messages through
`smtp-gateway parse`."""
import json
import pathlib
import subprocess

import pytest
import yaml

from gwpaths import BUILD
from mimecheck import parse

CASES = yaml.safe_load((pathlib.Path(__file__).resolve().parent / "helpdesk_cases.yaml").read_text())


@pytest.fixture(scope="module")
def replies(tmp_path_factory):
    d = tmp_path_factory.mktemp("replies")
    lines = []
    for c in CASES["replies"]:
        f = d / c["id"]
        f.write_bytes(c["input"].encode())
        lines.append(f"{c.get('format', 'text')}\t{f}\n")
    out = subprocess.run([str(BUILD / "tests" / "mime" / "reply_driver")], input="".join(lines).encode(),
                         capture_output=True, check=True, timeout=60).stdout.decode().splitlines()
    return {c["id"]: json.loads(o) for c, o in zip(CASES["replies"], out)}


@pytest.mark.parametrize("case", CASES["replies"], ids=lambda c: c["id"])
def test_reply(replies, case):
    got = replies[case["id"]]
    for k, want in case["expect"].items():
        assert got[k] == want, f"{k}: got {got[k]!r}, want {want!r}"


@pytest.mark.parametrize("case", CASES["subjects"], ids=lambda c: c["subject"] + " " + " ".join(c.get("headers", [])))
def test_classification(gateway_bin, tmp_path, case):
    msg = "From: Someone <someone@example.com>\r\nTo: support@example.com\r\n"
    msg += "".join(h + "\r\n" for h in case.get("headers", []))
    msg += f"Subject: {case['subject']}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello\r\n"
    f = tmp_path / "m.eml"
    f.write_bytes(msg.encode())
    cls = parse(gateway_bin, f)["message"]["classification"]
    assert cls["kind"] == case["kind"], cls
    if "signal" in case:
        assert case["signal"] in cls["signals"], cls


def test_reply_scan_limit(gateway_bin, tmp_path):
    """A body over limits.max_reply_scan (1 MB) is not read: null members and a
    warning, never a guess; a body just under it is read (quote lines: the
    worst case for the line classifier) and the quote is removed."""
    head = "From: a@example.com\r\nSubject: Re: x\r\nContent-Type: text/plain\r\n\r\n"
    big = tmp_path / "big.eml"
    big.write_bytes((head + "Reply.\r\n\r\nOn Tue, Mar 3, 2026 at 4:30 PM A <a@example.com> wrote:\r\n"
                     + "> " + "x" * 78 + "\r\n") .encode() * 1 + (("> " + "y" * 78 + "\r\n") * 14000).encode())
    m = parse(gateway_bin, big)
    assert m["message"]["reply"] == {"text": None, "signature": None, "quoted": None,
                                     "method": "scan_limit"}
    assert "reply_scan_limit" in [w["code"] for w in m["warnings"]]
    under = tmp_path / "under.eml"
    under.write_bytes((head + "Reply.\r\n\r\nOn Tue, Mar 3, 2026 at 4:30 PM A <a@example.com> wrote:\r\n"
                       + ("> " + "y" * 78 + "\r\n") * 12000).encode())
    m = parse(gateway_bin, under)
    assert m["message"]["reply"]["text"] == "Reply."
    assert m["message"]["reply"]["method"] == "quote-header"
