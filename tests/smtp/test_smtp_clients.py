"""Real clients: Python smtplib (pipelined send, SMTPUTF8, BDAT-less 8BITMIME) and swaks."""
import email.message
import shutil
import smtplib
import subprocess

import pytest


def test_smtplib_send_message_multiple_recipients(gateway):
    msg = email.message.EmailMessage()
    msg["From"] = "a@client.test"
    msg["To"] = "x@example.com, known@users.test"
    msg["Subject"] = "smtplib"
    msg.set_content("Hello\n.\n..two dots\n")
    with smtplib.SMTP("127.0.0.1", gateway.port, local_hostname="client.test", timeout=10) as s:
        refused = s.send_message(msg)
    assert refused == {}
    (env, raw), = gateway.deliveries()
    assert env["rcpts"] == ["x@example.com", "known@users.test"]
    assert raw.endswith(b"Hello\r\n.\r\n..two dots\r\n")


def test_smtplib_partial_refusal(gateway):
    with smtplib.SMTP("127.0.0.1", gateway.port, local_hostname="client.test", timeout=10) as s:
        refused = s.sendmail("a@client.test", ["x@example.com", "y@nowhere.test", "z@other.test"],
                             b"Subject: partial\r\n\r\nbody\r\n")
    assert refused["y@nowhere.test"][0] == 550 and refused["z@other.test"][0] == 452
    assert gateway.deliveries()[0][0]["rcpts"] == ["x@example.com"]


def test_smtplib_smtputf8(gateway):
    with smtplib.SMTP("127.0.0.1", gateway.port, local_hostname="client.test", timeout=10) as s:
        s.ehlo()
        assert s.has_extn("smtputf8") and s.has_extn("8bitmime")
        s.sendmail("élève@client.test", ["professeur@école.test"],
                   "Subject: é\r\n\r\ncafé\r\n".encode(), mail_options=["SMTPUTF8", "BODY=8BITMIME"])
    (env, raw), = gateway.deliveries()
    assert env["mail_from"] == "élève@client.test" and env["smtputf8"] is True
    assert env["body"] == "8BITMIME"
    assert b"with UTF8SMTP id" in raw and "café".encode() in raw


@pytest.mark.skipif(not shutil.which("swaks"), reason="swaks not installed")
@pytest.mark.parametrize("pipe", [True, False])
def test_swaks(gateway, pipe):
    args = ["swaks", "--server", f"127.0.0.1:{gateway.port}", "--from", "a@client.test",
            "--to", "someone@example.com", "--helo", "swaks.test", "--timeout", "10",
            "--body", "from swaks"]
    if pipe:
        args.append("--pipeline")
    p = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "<-  250 2.0.0" in p.stdout
    (env, raw), = gateway.deliveries()
    assert env["helo"] == "swaks.test" and b"from swaks" in raw
