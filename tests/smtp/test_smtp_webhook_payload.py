"""The daemon with the real webhook code (not the test double): a message whose JSON
payload is much larger than the message itself (control characters escape to six
octets each) is delivered, not answered 451 forever."""
import json
import smtplib
import sys

from gwpaths import ROOT

sys.path.insert(0, str(ROOT / "tests" / "webhook"))
from test_webhook_e2e import gateway  # noqa: E402,F401 (fixture)


def test_control_characters_payload_delivered(gateway, sink):
    line = bytes(range(1, 9)) * 9 + b"\x0b\x0c\x0e\x0f"  # 76 octets, none CR or LF
    body = (line + b"\r\n") * 16000  # about 1.2 MB: 7.3 MB of escaped JSON
    msg = (b"From: a@sender.test\r\nTo: hello@example.test\r\nSubject: ctl\r\n"
           b"Content-Type: text/plain; charset=us-ascii\r\n\r\n" + body)
    with smtplib.SMTP("127.0.0.1", gateway.port, timeout=60) as c:
        refused = c.sendmail("a@sender.test", ["hello@example.test"], msg)
    assert refused == {}
    r, = sink.requests
    payload = json.loads(r.body)
    assert len(r.body) > 4 * len(msg) + (1 << 20), "the old cap would have refused it"
    assert payload["message"]["text"].startswith(line.decode())
