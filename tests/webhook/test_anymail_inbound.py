"""The parsed provider formats proven by a second real receiver: django-anymail.

Rails reads only the raw message (RawEmail, body-mime, email); Anymail's
inbound webhooks (Debian's python3-django-anymail 9.0, served by
anymail_app.py on 127.0.0.1) also rebuild the message from the parsed
fields: Postmark's FromFull/ToFull/TextBody/Attachments, Mailgun's
body-plain/attachment-N/content-id-map/message-headers, SendGrid's
headers/text/html/attachment-info. Each fixture goes through the real
webhook code (webhook-post) in each format, with Anymail's basic auth and
Mailgun signature check, and what Anymail parsed is compared with our json
payload of the same message: subject, From, To, Cc, text, html and every
attachment's bytes, name and type.
"""
import base64
import json
import pathlib
import subprocess

import pytest

from gwdaemon import Process, clean_env, log_line, write_toml
from gwpaths import free_port

HERE = pathlib.Path(__file__).resolve().parent
CASES = HERE.parent / "mime" / "cases"
MAILGUN_KEY = "key-anymail-test-0123456789abcdef"
USER, PASSWORD = "anymail", "webhook secret for the test"
RCPT = "inbox@example.test"
PATHS = {"postmark": "postmark/inbound/", "mailgun": "mailgun/inbound/",
         "mailgun-mime": "mailgun/inbound_mime/", "sendgrid": "sendgrid/inbound/",
         "sendgrid-raw": "sendgrid/inbound/"}
FIXTURES = ["client-gmail", "client-outlook", "client-apple-mail", "related-start-param",
            "rfc2231-filenames", "html-only", "groups", "rfc2047-display-names"]


@pytest.fixture(scope="module")
def anymail(tmp_path_factory):
    try:
        import anymail  # noqa: F401
        import django  # noqa: F401
    except ImportError as e:
        pytest.skip(f"django-anymail is not installed (scripts/packages.txt): {e}")
    tmp = tmp_path_factory.mktemp("anymail")
    out = tmp / "out"
    out.mkdir()
    port = free_port()
    # anymail_app.py prints "listening" once bound
    with Process(["/usr/bin/python3", HERE / "anymail_app.py", port, out, MAILGUN_KEY,
                  f"{USER}:{PASSWORD}"], tmp / "anymail.log", ready=log_line("listening")):
        yield {"url": f"http://127.0.0.1:{port}/anymail/", "out": out, "tmp": tmp,
               "log": lambda: (tmp / "anymail.log").read_text(errors="replace")}


def deliver(driver, anymail, fmt, eml, password=PASSWORD, key=MAILGUN_KEY):
    """One message to Anymail in this format; the SMTP reply and what Anymail parsed."""
    before = set(anymail["out"].iterdir())
    signing = {"mailgun_signing_key": key} if fmt.startswith("mailgun") else {}
    cfg = write_toml(anymail["tmp"] / f"{fmt}.toml", {
        "webhook": {"timeout": "20s", "retry_budget": "0"},
        "route": [{"name": "anymail", "match": "*@example.test",
                   "url": f"{anymail['url']}{PATHS[fmt]}", "format": fmt, "basic_user": USER,
                   "basic_password": password, **signing}]})
    p = subprocess.run([str(driver), "--config", str(cfg), "--rcpt", RCPT, "--from",
                        "bounce@sender.test", str(eml)], capture_output=True, text=True,
                       timeout=90, env=clean_env())
    assert p.returncode == 0, p.stderr
    new = sorted(set(anymail["out"].iterdir()) - before)
    return p.stdout.strip(), [json.loads(f.read_text()) for f in new]


def payload(gateway_bin, eml):
    p = subprocess.run([str(gateway_bin), "parse", str(eml)], capture_output=True, timeout=60)
    assert p.returncode == 0
    return json.loads(p.stdout)["message"]


def norm(s):
    """Body text as both sides may end it: line endings and the final line break aside."""
    return None if s is None else s.replace("\r\n", "\n").rstrip("\n")


@pytest.mark.parametrize("fixture", FIXTURES)
@pytest.mark.parametrize("fmt", list(PATHS))
def test_anymail_parses_what_json_says(driver, anymail, gateway_bin, fmt, fixture):
    eml = CASES / f"{fixture}.eml"
    reply, got = deliver(driver, anymail, fmt, eml)
    assert reply.startswith("250 2.0.0"), reply + anymail["log"]()[-2000:]
    g, = got
    msg = payload(gateway_bin, eml)
    assert g["subject"] == (msg["subject"] or "")
    assert g["from"] == (msg["from"][0]["address"] if msg["from"] else None) or (
        not msg["from"] and g["from"] in (None, ""))
    assert g["to"] == [a["address"] for a in msg["to"]]
    want_cc = [a["address"] for a in msg["cc"]]
    # None: Anymail could not parse the field. Its Postmark view builds an empty Cc from an
    # empty CcFull (Postmark's own payloads too), and its address parser refuses an empty
    # RFC 5322 group ("Cc: undisclosed-recipients:;"), which it reads from the header itself
    # in the other formats.
    assert g["cc"] == want_cc or (g["cc"] is None and (
        (fmt == "postmark" and not want_cc) or (fmt != "postmark" and fixture == "groups")))
    assert g["envelope_recipient"] == RCPT
    if fmt != "postmark":  # Postmark's envelope sender is only in an SPF header (SPF off here)
        assert g["envelope_sender"] == "bounce@sender.test"
    # Text made from an HTML-only message (message.text_from_html) is ours: Anymail, reading the
    # raw message itself, finds no text part.
    assert norm(g["text"]) == norm(msg["text"]) or (
        (msg["text"] is None or msg.get("text_from_html")) and g["text"] in ("", None))
    assert norm(g["html"]) == norm(msg["html"]) or (msg["html"] is None and g["html"] in ("", None))
    if fmt in ("mailgun-mime", "sendgrid-raw"):
        # Anymail parses the raw message itself here (with Python's email package): its MIME
        # conventions are its own (a multipart/related part without Content-Disposition is
        # no attachment to it, nor are some RFC 2231 forms). That the raw message arrives
        # byte for byte is test_formats.py's and test_rails_ingress.py's to prove.
        return
    ours = sorted((base64.b64decode(a["content"]), a["content_type"]) for a in msg["attachments"])
    theirs = sorted((base64.b64decode(a["content"]), a["content_type"])
                    for a in g["attachments"] + list(g["inline"].values()))
    assert theirs == ours
    # A part without a file name is posted under its field name (Django and Rack drop
    # file parts without one); Postmark's Name is then "", which Anymail reads as none.
    field = {"mailgun": "attachment-{}", "sendgrid": "attachment{}"}.get(fmt)
    names = sorted(a["filename"] or (field.format(i + 1) if field else None)
                   for i, a in enumerate(msg["attachments"]))
    assert sorted(a["filename"] for a in g["attachments"] + list(g["inline"].values())
                  if a["filename"]) == [n for n in names if n]
    cids = sorted(a["content_id"] for a in msg["attachments"] if a["content_id"])
    assert sorted(g["inline"]) == cids


@pytest.mark.parametrize("fmt", list(PATHS))
def test_anymail_refuses_wrong_credentials(driver, anymail, fmt):
    """Anymail answers 400 to a bad password or Mailgun signature: the sender gets 554 5.6.0."""
    reply, got = deliver(driver, anymail, fmt, CASES / "client-gmail.eml", password="wrong")
    assert reply.startswith("554 5.6.0"), reply
    assert got == []
    if fmt.startswith("mailgun"):
        reply, got = deliver(driver, anymail, fmt, CASES / "client-gmail.eml", key="key-wrong")
        assert reply.startswith("554 5.6.0"), reply
        assert got == []
