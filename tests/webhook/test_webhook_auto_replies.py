"""Route auto_replies = "accept-and-drop" (issue 14): an auto-reply or a bounce
gets 250 and is not POSTed, is logged with its delivery id and counted; a
person's message on the same route is delivered as usual."""
from test_webhook_e2e import Gateway

AUTO = (b"From: Agent <agent@sender.test>\r\nTo: hello@example.test\r\n"
        b"Subject: Automatic reply: [#123] Printer\r\nAuto-Submitted: auto-replied\r\n"
        b"Message-ID: <oof-1@sender.test>\r\n\r\nI am out of the office.\r\n")
BOUNCE = (b"From: Mail Delivery System <MAILER-DAEMON@sender.test>\r\nTo: hello@example.test\r\n"
          b"Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <b-1@sender.test>\r\n\r\n"
          b"<gone@example.org>: host mx.example.org said: 550 5.1.1 User unknown\r\n")
HUMAN = (b"From: Alice <alice@sender.test>\r\nTo: hello@example.test\r\nSubject: Re: [#123]\r\n"
         b"Message-ID: <h-1@sender.test>\r\n\r\nIt works now.\r\n")


def run(gateway_bin, tmp_path, sink, extra):
    g = Gateway(gateway_bin, tmp_path, sink.url("/inbound"), extra)
    try:
        with g.smtp() as c:
            for sender, msg in (("agent@sender.test", AUTO), ("", BOUNCE), ("alice@sender.test", HUMAN)):
                assert c.sendmail(sender, ["hello@example.test"], msg) == {}
    finally:
        g.stop()
    return g.log()


def test_accept_and_drop(gateway_bin, tmp_path, sink):
    log = run(gateway_bin, tmp_path, sink, 'auto_replies = "accept-and-drop"')
    r, = sink.requests  # only the person's message was POSTed
    assert b"It works now." in r.body
    dropped = [line for line in log.splitlines() if " dropped kind=" in line]
    assert len(dropped) == 2, log
    assert "kind=auto_reply" in dropped[0] and "dropped_total=1" in dropped[0]
    assert "kind=bounce" in dropped[1] and "dropped_total=2" in dropped[1]
    assert all(" delivery=" in line and "-> 250" in line for line in dropped)


def test_deliver_is_the_default(gateway_bin, tmp_path, sink):
    log = run(gateway_bin, tmp_path, sink, "")
    assert len(sink.requests) == 3
    assert " dropped kind=" not in log
