"""The provider formats proven by a real receiver: Rails Action Mailbox.

Starts the minimal Rails 6.1 app of tests/webhook/rails/ (Debian's
ruby-rails, ruby-actionmailbox, ruby-sqlite3, ruby-webrick; system gems, no
bundler, no network) on 127.0.0.1 and the smtp-gateway daemon in front of
it, then sends mail with smtplib through each of Rails' ingresses:

- Mailgun (format mailgun-mime): Rails recomputes the signature over
  timestamp and token with its MAILGUN_INGRESS_SIGNING_KEY and refuses a
  timestamp more than 2 minutes away;
- Postmark (format postmark with include_raw: RawEmail), HTTP Basic;
- SendGrid (format sendgrid-raw: the email field), HTTP Basic;
- Relay (format raw: message/rfc822), HTTP Basic.

For each, the InboundEmail that Rails stored (Active Storage on disk) holds
the message we sent byte for byte, after the lines Rails itself prepends
(X-Original-To, from the recipient fields) and the gateway's Received field;
and a wrong key or password makes Rails answer 401, which the sender gets as
550 5.7.1. Mail that is not UTF-8 (Latin-1, 8BITMIME) is stored byte for
byte too through the Mailgun, SendGrid and Relay ingresses (Rails answers
400 to such a form field unless it is labelled with its charset); through
Postmark's JSON it arrives with U+FFFD for each such byte.
"""
import pathlib
import re
import shutil
import smtplib
import sqlite3
import subprocess

import pytest

from gwdaemon import Gateway, Process, Toml, clean_env, gateway_config, log_line
from gwpaths import free_port

HERE = pathlib.Path(__file__).resolve().parent
RAILS_APP = HERE / "rails"
PASSWORD = "ingress password for the test"
MAILGUN_KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"
INGRESS = "/rails/action_mailbox"


def rails_missing():
    if not shutil.which("ruby"):
        return "ruby is not installed (scripts/packages.txt: ruby-rails ruby-actionmailbox ...)"
    p = subprocess.run(["ruby", "-e", '%w[rails actionmailbox sqlite3 webrick].each { |g| gem g }'],
                       capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        return "Rails Action Mailbox cannot be loaded: " + p.stderr.strip()[-300:]
    return None


@pytest.fixture(scope="module")
def rails(tmp_path_factory):
    why = rails_missing()
    if why:
        pytest.skip(why)
    tmp = tmp_path_factory.mktemp("rails")
    (tmp / "database.yml").write_text(
        f"development:\n  adapter: sqlite3\n  database: {tmp / 'db.sqlite3'}\n")
    port = free_port()
    env = clean_env({"DATABASE_YML": str(tmp / "database.yml"),
                     "STORAGE_ROOT": str(tmp / "storage"), "RAILS_INBOUND_EMAIL_PASSWORD": PASSWORD,
                     "MAILGUN_INGRESS_SIGNING_KEY": MAILGUN_KEY, "RAILS_ENV": "development",
                     "HOME": str(tmp)})
    # serve.rb prints "listening" once bound
    with Process(["ruby", RAILS_APP / "serve.rb", port], tmp / "rails.log", env=env, cwd=tmp,
                 ready=log_line("listening"), timeout=120):
        yield {"url": f"http://127.0.0.1:{port}", "tmp": tmp,
               "log": lambda: (tmp / "rails.log").read_text(errors="replace")}


def route(name, path, fmt, extra, base):
    return {"name": name, "match": f"{name}@example.test", "url": f"{base}{INGRESS}{path}",
            "format": fmt, "+": Toml(extra)}


BASIC = f'basic_user = "actionmailbox"\nbasic_password = "{PASSWORD}"'
WRONG = 'basic_user = "actionmailbox"\nbasic_password = "not the password"'
# name, Rails path, format, route settings, the X-Original-To lines Rails prepends
INGRESSES = [
    ("mailgun", "/mailgun/inbound_emails/mime", "mailgun-mime",
     f'mailgun_signing_key = "{MAILGUN_KEY}"', True),
    # Rails 6.1's Postmark ingress prepends nothing; later ones add X-Original-To from
    # OriginalRecipient: either is accepted below.
    ("postmark", "/postmark/inbound_emails", "postmark", "include_raw = true\n" + BASIC, None),
    ("sendgrid", "/sendgrid/inbound_emails", "sendgrid-raw", BASIC, True),
    ("relay", "/relay/inbound_emails", "raw", BASIC, False),
]
WRONG_SETTINGS = {
    "mailgun": 'mailgun_signing_key = "key-not-the-one-rails-has"',
    "postmark": "include_raw = true\n" + WRONG,
    "sendgrid": WRONG,
    "relay": WRONG,
}


@pytest.fixture(scope="module")
def gateway(rails, gateway_bin):
    base = rails["url"]
    routes = [route(n, p, f, s, base) for n, p, f, s, _ in INGRESSES]
    routes += [route("wrong" + n, p, f, WRONG_SETTINGS[n], base) for n, p, f, _, _ in INGRESSES]
    with Gateway(rails["tmp"], lambda port: gateway_config(
            port, routes, webhook={"timeout": "20s", "retry_budget": "0"})) as gw:
        yield gw


def message(name):
    # Non-ASCII UTF-8, a folded header, a long line and an attachment: all must survive.
    return (f"From: Zoë Sender <zoe@sender.test>\r\nTo: {name}@example.test\r\n"
            f"Subject: =?UTF-8?Q?caf=C3=A9_via_{name}?=\r\nMessage-ID: <rails-{name}@sender.test>\r\n"
            "Date: Sun, 06 Dec 2026 05:00:00 +0000\r\nMIME-Version: 1.0\r\n"
            "X-Folded: first\r\n\tsecond\r\n"
            'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
            "--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"
            "\r\nCafé au lait, \"quoted\" & <tags> \\ backslash.\r\n" + "x" * 900 + "\r\n"
            "--b1\r\nContent-Type: application/octet-stream\r\n"
            "Content-Disposition: attachment; filename=\"data.bin\"\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\nAAECAwQFBgcICf/+/fz7\r\n--b1--\r\n"
            ).encode()


def latin1_message(name):
    # 8-bit text that is not UTF-8, in the header and the body (8BITMIME)
    return (f"From: Zoe <zoe@sender.test>\r\nTo: {name}@example.test\r\n"
            f"Subject: caf\xe9 in Latin-1\r\nMessage-ID: <rails-latin1-{name}@sender.test>\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\nCaf\xe9 cr\xe8me br\xfbl\xe9e.\r\n"
            ).encode("latin-1")


def stored(rails, message_id):
    """The raw message Rails kept for the InboundEmail with this Message-ID, or None."""
    db = sqlite3.connect(rails["tmp"] / "db.sqlite3")
    try:
        row = db.execute(
            "SELECT b.key FROM action_mailbox_inbound_emails e "
            "JOIN active_storage_attachments a ON a.record_type = 'ActionMailbox::InboundEmail' "
            "AND a.record_id = e.id AND a.name = 'raw_email' "
            "JOIN active_storage_blobs b ON b.id = a.blob_id WHERE e.message_id = ?",
            (message_id,)).fetchone()
    finally:
        db.close()
    if not row:
        return None
    key = row[0]
    return (rails["tmp"] / "storage" / key[:2] / key[2:4] / key).read_bytes()


# The gateway's own fields before the message: its trace field and, in format raw, the signed
# envelope and auth fields (docs/webhook.md); nothing else.
RECEIVED = re.compile(rb"\AReceived: [^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*"
                      rb"(?:X-Gateway-(?:Envelope|Auth): [^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*)*\Z")


def deliver(rails, gateway, name, msg, key):
    """Sends msg to name@example.test; what Rails stored for the Message-ID `key`."""
    with gateway.smtp(timeout=60) as c:
        assert c.sendmail("zoe@sender.test", [f"{name}@example.test"], msg) == {}
    got = stored(rails, key)
    assert got is not None, rails["log"]()
    return got


@pytest.mark.parametrize("name,path,fmt,settings,original_to", INGRESSES,
                         ids=[i[0] for i in INGRESSES])
def test_rails_stores_the_message(rails, gateway, name, path, fmt, settings, original_to):
    msg = message(name)
    rcpt = f"{name}@example.test"
    got = deliver(rails, gateway, name, msg, f"rails-{name}@sender.test")
    assert got.endswith(msg), got[:400]
    prefix = got[:-len(msg)]
    xot = f"X-Original-To: {rcpt}\n".encode() if original_to is not False else b""
    if original_to is None and not prefix.startswith(xot):
        xot = b""
    assert prefix.startswith(xot), prefix
    assert RECEIVED.match(prefix[len(xot):]), prefix


@pytest.mark.parametrize("name", [i[0] for i in INGRESSES])
def test_rails_refuses_wrong_secret(rails, gateway, name):
    msg = message("wrong" + name)
    with gateway.smtp(timeout=60) as c:
        with pytest.raises(smtplib.SMTPDataError) as e:
            c.sendmail("zoe@sender.test", [f"wrong{name}@example.test"], msg)
    assert e.value.smtp_code == 550
    assert e.value.smtp_error.startswith(b"5.7.1"), e.value.smtp_error
    assert stored(rails, f"rails-wrong{name}@sender.test") is None


@pytest.mark.parametrize("name", ["mailgun", "sendgrid", "relay"])
def test_rails_stores_8bit_message_exactly(rails, gateway, name):
    """Mail that is not UTF-8: the raw-message fields are labelled ISO-8859-1, so Rack takes
    the bytes as they are (unlabelled, Rails answers 400 to an invalid UTF-8 parameter)."""
    msg = latin1_message(name)
    got = deliver(rails, gateway, name, msg, f"rails-latin1-{name}@sender.test")
    assert got.endswith(msg), got[:400]


def test_rails_postmark_8bit_message(rails, gateway):
    """Postmark's JSON is UTF-8: RawEmail carries U+FFFD for each byte that is not (docs)."""
    msg = latin1_message("postmark")
    got = deliver(rails, gateway, "postmark", msg, "rails-latin1-postmark@sender.test")
    assert got.endswith(msg.decode("latin-1").translate(
        {c: "\ufffd" for c in range(0x80, 0x100)}).encode("utf-8"))
