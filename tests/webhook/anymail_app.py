"""A minimal Django app with django-anymail's inbound webhooks, for test_anymail_inbound.py.

Usage: /usr/bin/python3 anymail_app.py PORT OUT_DIR MAILGUN_KEY BASIC_USER:PASSWORD

Serves Anymail's own URLs (anymail.urls: /anymail/<esp>/inbound/ ...) on
127.0.0.1 with wsgiref, from Debian's python3-django-anymail. Each inbound
message Anymail parses is written to OUT_DIR/N.json as the facts Anymail's
AnymailInboundMessage gives (subject, addresses, bodies, attachments,
envelope), so the test can compare them with our json payload. Prints
"listening" once bound.
"""
import base64
import itertools
import json
import pathlib
import sys
from wsgiref.simple_server import WSGIRequestHandler, make_server

import django
from django.conf import settings

PORT, OUT, MAILGUN_KEY, BASIC = int(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3], sys.argv[4]

settings.configure(
    DEBUG=False, SECRET_KEY="anymail test", ROOT_URLCONF=__name__, ALLOWED_HOSTS=["*"],
    INSTALLED_APPS=["anymail"], MIDDLEWARE=[], USE_TZ=True,
    DATA_UPLOAD_MAX_MEMORY_SIZE=None,
    ANYMAIL={"WEBHOOK_SECRET": BASIC, "MAILGUN_WEBHOOK_SIGNING_KEY": MAILGUN_KEY},
    LOGGING={"version": 1, "disable_existing_loggers": False,
             "handlers": {"err": {"class": "logging.StreamHandler"}},
             "root": {"handlers": ["err"], "level": "WARNING"}},
)
django.setup()

from anymail.exceptions import AnymailInvalidAddress  # noqa: E402  (needs settings)
from anymail.signals import inbound  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.urls import include, path  # noqa: E402

urlpatterns = [path("anymail/", include("anymail.urls"))]
counter = itertools.count(1)


def addresses(m, field):
    """The addr-specs of a field, or None where Anymail cannot parse it: Anymail 9.0 raises
    on the empty Cc that its Postmark view builds from an empty CcFull, Postmark's own too."""
    try:
        return [a.addr_spec for a in getattr(m, field)]
    except AnymailInvalidAddress:
        return None


def part_facts(p):
    return {"filename": p.get_filename(), "content_type": p.get_content_type(),
            "content": base64.b64encode(p.get_content_bytes()).decode(),
            "content_id": p["Content-ID"]}


def on_inbound(sender, event, esp_name, **kwargs):
    m = event.message
    facts = {
        "esp": esp_name,
        "subject": m.subject,
        "from": m.from_email.addr_spec if m.from_email else None,
        "from_name": m.from_email.display_name if m.from_email else None,
        "to": addresses(m, "to"),
        "cc": addresses(m, "cc"),
        "text": m.text,
        "html": m.html,
        "attachments": [part_facts(p) for p in m.attachments],
        "inline": {cid: part_facts(p) for cid, p in m.inline_attachments.items()},
        "envelope_sender": m.envelope_sender,
        "envelope_recipient": m.envelope_recipient,
        "event_id": event.event_id,
    }
    (OUT / f"{next(counter)}.json").write_text(json.dumps(facts))


inbound.connect(on_inbound, weak=False)


class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


server = make_server("127.0.0.1", PORT, get_wsgi_application(), handler_class=Quiet)
print("listening", flush=True)
server.serve_forever()
