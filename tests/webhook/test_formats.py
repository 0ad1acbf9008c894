"""The provider formats (docs/formats.md) against the providers' field lists.

Each fixture of tests/mime/cases goes through the real webhook code (the
webhook-post driver, route from a gateway.toml) to webhook_sink.Sink in each
format, and the request is checked:
- against ../shared/testdata/providers/fields.yaml: every documented field
  present with the right type (form values: int, JSON, file), nothing that
  is not documented;
- member by member against our json format for the same message
  (`smtp-gateway parse`): subject, addresses, text, html, headers,
  attachments (names, types, bytes);
- signatures: Mailgun's (hex HMAC-SHA256 over timestamp + token with the
  plain key, remade at each attempt) and Standard Webhooks' over the
  streamed multipart body (whsec_ and whsk_), or no webhook-* headers when
  the route turns them off.
multipart/form-data bodies are parsed here by a strict RFC 7578 reader and,
for one case, by Python's email package as an independent second reader.
"""
import base64
import codecs
import email.parser
import email.policy
import hashlib
import hmac
import json
import pathlib
import re
import subprocess
import time

import pytest
import yaml

from gwdaemon import Toml, clean_env, gateway_config, write_toml
from gwpaths import TESTDATA
from webhook_sink import Action

HERE = pathlib.Path(__file__).resolve().parent
CASES = HERE.parent / "mime" / "cases"
FIELDS = yaml.safe_load((TESTDATA / "providers" / "fields.yaml").read_text())["providers"]
SECRET = "whsec_" + base64.b64encode(b"smtp-gateway formats test secret").decode()
MAILGUN_KEY = "key-2f4c3a1e9b8d7c6a5f4e3d2c1b0a9f8e"
RCPT = "support+ticket-42@example.test"
SENDER = "bounces@sender.test"
FIXTURES = ["client-gmail", "client-outlook", "client-apple-mail", "client-thunderbird",
            "html-only", "related-start-param", "rfc2231-filenames", "groups",
            "sender-reply-to", "forwarded-rfc822", "charset-iso-8859-1", "empty-message",
            "malformed-nul-bytes", "undeclared-8bit", "calendar-invite", "rfc2047-display-names"]
FORMATS = ["postmark", "mailgun", "mailgun-mime", "sendgrid", "sendgrid-raw"]


def per_byte(e):
    return "\ufffd" * (e.end - e.start), e.end


codecs.register_error("gw-per-byte", per_byte)


def deliver(driver, sink, tmp_path, fmt, eml, extra="", retry="0"):
    """One message through delivery_submit() with a route of this format; the SMTP reply."""
    key = {"mailgun_signing_key": MAILGUN_KEY} if fmt.startswith("mailgun") else {}
    cfg = write_toml(tmp_path / f"{fmt}.toml", {
        "webhook": {"timeout": "10s", "retry_budget": retry},
        "route": [{"name": "fmt", "match": "*@example.test", "url": sink.url("/in"),
                   "format": fmt, "secret": SECRET, **key, "+": Toml(extra)}]})
    p = subprocess.run([str(driver), "--config", str(cfg), "--rcpt", RCPT, "--from", SENDER,
                        "--client-ip", "203.0.113.9", str(eml)], capture_output=True, text=True,
                       timeout=90, env=clean_env())
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def parse_json_format(gateway_bin, eml):
    p = subprocess.run([str(gateway_bin), "parse", str(eml)], capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)["message"]


def form_fields(r):
    """A strict RFC 7578 reader: [(name, filename, content_type, value bytes)] in order."""
    ctype = r.headers["Content-Type"]
    m = re.fullmatch(r"multipart/form-data; boundary=([0-9A-Za-z'()+_,./:=?-]{1,70})", ctype)
    assert m, ctype
    b = m[1].encode()
    body = r.body
    assert int(r.headers["Content-Length"]) == len(body)
    first, last = b"--" + b + b"\r\n", b"\r\n--" + b + b"--\r\n"
    assert body.startswith(first) and body.endswith(last)
    out = []
    for chunk in body[len(first):-len(last)].split(b"\r\n--" + b + b"\r\n"):
        head, sep, value = chunk.partition(b"\r\n\r\n")
        assert sep, chunk[:200]
        lines = head.decode("utf-8").split("\r\n")
        cd = re.fullmatch(r'Content-Disposition: form-data; name="([^"]*)"(?:; filename="([^"]*)")?',
                          lines[0])
        assert cd, lines
        ct = None
        for line in lines[1:]:
            assert line.startswith("Content-Type: "), lines
            ct = line[len("Content-Type: "):]
        out.append((cd[1], cd[2], ct, value))
    return out


def is_utf8(b):
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def check_message_field(fields, name, want):
    """The message (or its header block): raw bytes; labelled Latin-1 when not UTF-8 (Rack)."""
    got = [(ct, v) for n, f, ct, v in fields if n == name]
    label = None if is_utf8(want) else "text/plain; charset=ISO-8859-1"
    assert got == [(label, want)]


def documented(provider, key):
    names = set()
    for f in FIELDS[provider][key]:
        names.update(n.strip() for n in f["name"].split(","))
    return names


def field_types(provider, key):
    return {f["name"]: f["type"] for f in FIELDS[provider][key] if "," not in f["name"]}


def check_form_types(fields, types):
    for name, filename, _, value in fields:
        t = types.get(name)
        if re.fullmatch(r"attachment-?\d+", name):
            assert filename is not None, name  # a file part
            continue
        assert filename is None, name  # every other field is a plain field
        if t not in ("int", "json"):
            continue
        text = value.decode("utf-8")
        if t == "int":
            assert re.fullmatch(r"\d+", text), (name, text)
        elif t == "json":
            json.loads(text)


def addresses(lst):
    return [a["address"] for a in lst]


# ---------------------------------------------------------------- postmark

def check_postmark(body, msg, eml_bytes, include_raw):
    spec = FIELDS["postmark"]["fields"]
    names = {f["name"] for f in spec}
    want = names if include_raw else names - {"RawEmail"}
    assert set(body) == want  # every documented field, nothing invented
    pytypes = {"string": str, "object": dict, "array of object": list}
    for f in spec:
        if f["name"] in body:
            assert isinstance(body[f["name"]], pytypes[f["type"]]), f["name"]
    for full in ["FromFull"] + [k + "Full" for k in ("To", "Cc", "Bcc")]:
        objs = body[full] if isinstance(body[full], list) else [body[full]]
        for o in objs:
            assert set(o) == {"Email", "Name", "MailboxHash"} and all(
                isinstance(v, str) for v in o.values())
    frm = msg["from"][0] if msg["from"] else {"address": "", "name": None}
    assert body["From"] == frm["address"] and body["FromName"] == (frm["name"] or "")
    assert body["FromFull"]["Email"] == frm["address"]
    for key, member in (("to", "To"), ("cc", "Cc"), ("bcc", "Bcc")):
        assert [o["Email"] for o in body[member + "Full"]] == addresses(msg[key])
        assert [o["Name"] for o in body[member + "Full"]] == [a["name"] or "" for a in msg[key]]
        for a in msg[key]:
            assert a["address"] in body[member]
    assert body["Subject"] == (msg["subject"] or "")
    assert body["TextBody"] == (msg["text"] or "") and body["HtmlBody"] == (msg["html"] or "")
    assert body["Date"] == (msg["date"]["original"] if msg["date"] else "")
    assert body["OriginalRecipient"] == RCPT and body["MailboxHash"] == "ticket-42"
    assert body["MessageStream"] == "inbound" and body["Tag"] == ""
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
                        body["MessageID"])
    own = {"from", "to", "cc", "bcc", "reply-to", "subject", "date"}
    assert body["Headers"] == [{"Name": h["name"], "Value": h["value"]} for h in msg["headers"]
                               if h["name"].lower() not in own]
    assert len(body["Attachments"]) == len(msg["attachments"])
    for got, a in zip(body["Attachments"], msg["attachments"]):
        assert got == {"Name": a["filename"] or "", "Content": a["content"],
                       "ContentType": a["content_type"], "ContentLength": a["size"],
                       "ContentID": a["content_id"] or ""}
        assert len(base64.b64decode(got["Content"])) == a["size"]
    if include_raw:
        assert body["RawEmail"] == eml_bytes.decode("utf-8", "gw-per-byte")


# ---------------------------------------------------------------- mailgun

def check_mailgun_signature(d):
    assert re.fullmatch(r"\d{10}", d["timestamp"]) and abs(int(d["timestamp"]) - time.time()) < 120
    assert re.fullmatch(r"[a-z0-9]{50}", d["token"])
    want = hmac.new(MAILGUN_KEY.encode(), (d["timestamp"] + d["token"]).encode(),
                    hashlib.sha256).hexdigest()
    assert hmac.compare_digest(d["signature"], want)


def check_mailgun(fields, msg, eml_bytes, mime):
    key = "fields_raw_mime" if mime else "fields_parsed"
    names = documented("mailgun", key)
    d = {n: v.decode("utf-8") for n, f, _, v in fields if f is None and n != "body-mime"}
    header_names = {h["name"] for h in msg["headers"]}
    for name, filename, _, _ in fields:
        ok = name in names or (not mime and re.fullmatch(r"attachment-\d+", name)) or (
            not mime and name in header_names)
        assert ok, f"{name} is not a documented Mailgun field"
    required = names - {"<each MIME header>", "attachment-x"}
    if not mime and msg["html"] is None:
        required -= {"body-html", "stripped-html"}  # sent when there is an HTML body
    assert required <= {n for n, _, _, _ in fields}, required - {n for n, _, _, _ in fields}
    check_form_types(fields, field_types("mailgun", key))
    assert d["recipient"] == RCPT and d["sender"] == SENDER
    from_hdr = next((h["value"] for h in msg["headers"] if h["name"].lower() == "from"), "")
    assert d["from"] == from_hdr and d["subject"] == (msg["subject"] or "")
    check_mailgun_signature(d)
    if mime:
        check_message_field(fields, "body-mime", eml_bytes)
        return
    assert d["body-plain"] == (msg["text"] or "")
    if msg["html"] is not None:
        assert d["body-html"] == msg["html"] and d["stripped-html"] == msg["html"]
    files = [(n, f, ct, v) for n, f, ct, v in fields if re.fullmatch(r"attachment-\d+", n)]
    assert [n for n, _, _, _ in files] == [f"attachment-{i + 1}" for i in range(len(files))]
    assert int(d["attachment-count"]) == len(files) == len(msg["attachments"])
    cids = {}
    for (n, fn, ct, v), a in zip(files, msg["attachments"]):
        assert v == base64.b64decode(a["content"]) and ct == a["content_type"]
        assert fn == (a["filename"] or n)
        if a["content_id"]:
            cids[f"<{a['content_id']}>"] = n
    assert json.loads(d["content-id-map"]) == cids
    assert json.loads(d["message-headers"]) == [[h["name"], h["value"]] for h in msg["headers"]]
    for h in msg["headers"]:  # each header as its own field too
        if h["name"] not in names:
            assert (h["name"], None, None, h["value"].encode()) in fields


# ---------------------------------------------------------------- sendgrid

def check_sendgrid(fields, msg, eml_bytes, raw):
    key = "fields_raw" if raw else "fields_default"
    names = documented("sendgrid", key) | ({"email"} if raw else set())
    names.discard("attachment1..attachmentN")
    present = {n for n, _, _, _ in fields}
    assert len(present) == len(fields)  # one value per name
    for n in present:
        assert n in names or (not raw and re.fullmatch(r"attachment\d+", n)), n
    assert not present & {"spam_score", "spam_report"}  # no spam check, no verdict
    hdr = {h["name"].lower(): h["value"] for h in reversed(msg["headers"])}
    required = {"dkim", "to", "from", "subject", "sender_ip", "envelope", "charsets", "SPF"}
    if raw:
        required.add("email")
    else:
        required |= {"headers", "attachments"}
        assert ("text" in present) == (msg["text"] is not None)
        assert ("html" in present) == (msg["html"] is not None)
    assert required <= present, required - present
    assert ("cc" in present) == ("cc" in hdr)
    check_form_types(fields, field_types("sendgrid", "fields_default"))
    d = {n: v.decode("utf-8") for n, f, _, v in fields
         if f is None and n not in ("email", "headers")}  # the message's own bytes
    assert d["to"] == hdr.get("to", "") and d["from"] == hdr.get("from", "")
    assert d["subject"] == (msg["subject"] or "")
    assert json.loads(d["envelope"]) == {"to": [RCPT], "from": SENDER}
    assert d["sender_ip"] == "203.0.113.9" and d["SPF"] == "none" and d["dkim"] == "{}"
    assert set(json.loads(d["charsets"])) == present & {"to", "cc", "from", "subject", "text",
                                                         "html"}
    if raw:
        check_message_field(fields, "email", eml_bytes)
        return
    crlf, lf = eml_bytes.find(b"\r\n\r\n"), eml_bytes.find(b"\n\n")
    if crlf >= 0 and (lf < 0 or crlf < lf):
        head_end = crlf + 2
    else:
        head_end = lf + 1 if lf >= 0 else len(eml_bytes)
    check_message_field(fields, "headers", eml_bytes[:head_end])
    assert d.get("text") == msg["text"] and d.get("html") == msg["html"]
    files = [(n, f, ct, v) for n, f, ct, v in fields if re.fullmatch(r"attachment\d+", n)]
    assert int(d["attachments"]) == len(files) == len(msg["attachments"])
    info = json.loads(d.get("attachment-info", "{}"))
    assert sorted(info) == sorted(n for n, _, _, _ in files)
    cids = {}
    for (n, fn, ct, v), a in zip(files, msg["attachments"]):
        assert v == base64.b64decode(a["content"]) and ct == a["content_type"]
        assert info[n]["filename"] == fn == (a["filename"] or n) and info[n]["type"] == ct
        assert info[n].get("content-id") == a["content_id"]
        if a["content_id"]:
            cids[a["content_id"]] = n
    assert json.loads(d.get("content-ids", "{}")) == cids
    assert ("content-ids" in d) == bool(cids)


@pytest.mark.parametrize("fixture", FIXTURES)
@pytest.mark.parametrize("fmt", FORMATS)
def test_format_fields(driver, sink, tmp_path, gateway_bin, fmt, fixture):
    eml = CASES / f"{fixture}.eml"
    eml_bytes = eml.read_bytes()
    reply = deliver(driver, sink, tmp_path, fmt, eml, "include_raw = true")
    assert reply.startswith("250 2.0.0"), reply
    r, = sink.requests
    msg = parse_json_format(gateway_bin, eml)
    if fmt == "postmark":
        assert r.headers["Content-Type"] == "application/json"
        check_postmark(json.loads(r.body), msg, eml_bytes, include_raw=True)
    elif fmt.startswith("mailgun"):
        check_mailgun(form_fields(r), msg, eml_bytes, fmt == "mailgun-mime")
    else:
        check_sendgrid(form_fields(r), msg, eml_bytes, fmt == "sendgrid-raw")


def test_postmark_without_raw(driver, sink, tmp_path, gateway_bin):
    eml = CASES / "client-gmail.eml"
    assert deliver(driver, sink, tmp_path, "postmark", eml).startswith("250 2.0.0")
    check_postmark(json.loads(sink.requests[0].body), parse_json_format(gateway_bin, eml),
                   eml.read_bytes(), include_raw=False)


def test_multipart_read_by_email_package(driver, sink, tmp_path):
    """A second, independent reader of our multipart/form-data: Python's email package."""
    eml = CASES / "rfc2231-filenames.eml"
    assert deliver(driver, sink, tmp_path, "sendgrid", eml).startswith("250 2.0.0")
    r = sink.requests[0]
    whole = f"Content-Type: {r.headers['Content-Type']}\r\n\r\n".encode() + r.body
    m = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(whole)
    assert m.is_multipart() and not m.defects
    parts = [(p.get_param("name", header="content-disposition"), p.get_filename(),
              p.get_payload(decode=True)) for p in m.iter_parts()]
    assert [(n, f, v) for n, f, _, v in form_fields(r)] == parts


def test_standard_webhooks_over_multipart(driver, sink, tmp_path):
    """webhook-signature covers the streamed multipart body exactly as sent."""
    for fmt in ("mailgun", "sendgrid-raw"):
        sink.requests.clear()
        assert deliver(driver, sink, tmp_path, fmt, CASES / "client-gmail.eml").startswith("250")
        r = sink.requests[0]
        key = base64.b64decode(SECRET.split("_", 1)[1])
        signed = f"{r.headers['webhook-id']}.{r.headers['webhook-timestamp']}.".encode() + r.body
        want = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        assert hmac.compare_digest(r.headers["webhook-signature"], want)


def test_standard_webhooks_ed25519_multipart(driver, sink, tmp_path):
    ed = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.ed25519")
    from cryptography.hazmat.primitives import serialization
    key = ed.Ed25519PrivateKey.generate()
    seed = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                             serialization.NoEncryption())
    extra = f'secret = ["whsk_{base64.b64encode(seed).decode()}", "{SECRET}"]'
    cfg_fmt = "sendgrid"
    # the route's secret line is replaced: write the whole route here
    cfg = write_toml(tmp_path / "ed.toml", {
        "webhook": {"retry_budget": "0"},
        "route": [{"name": "ed", "match": "*@example.test", "url": sink.url("/in"),
                   "format": cfg_fmt, "+": Toml(extra)}]})
    p = subprocess.run([str(driver), "--config", str(cfg), "--rcpt", RCPT,
                        str(CASES / "client-outlook.eml")], capture_output=True, text=True,
                       timeout=90, env=clean_env())
    assert p.stdout.startswith("250 2.0.0"), p.stdout + p.stderr
    r = sink.requests[0]
    signed = f"{r.headers['webhook-id']}.{r.headers['webhook-timestamp']}.".encode() + r.body
    ed_sig, hmac_sig = r.headers["webhook-signature"].split(" ")
    assert ed_sig.startswith("v1a,")
    key.public_key().verify(base64.b64decode(ed_sig[4:]), signed)
    mac = hmac.new(base64.b64decode(SECRET[6:]), signed, hashlib.sha256).digest()
    assert hmac_sig == "v1," + base64.b64encode(mac).decode()


def test_standard_webhooks_off(driver, sink, tmp_path):
    for fmt in ("postmark", "mailgun-mime"):
        sink.requests.clear()
        assert deliver(driver, sink, tmp_path, fmt, CASES / "client-gmail.eml",
                       "standard_webhooks = false").startswith("250")
        h = sink.requests[0].headers
        assert not [k for k in h.keys() if k.lower().startswith("webhook-")]
        assert h["Idempotency-Key"].startswith("msg_")


def test_mailgun_signature_remade_per_attempt(driver, sink, tmp_path):
    """A retry carries a fresh token and a signature over it (Rails refuses old timestamps)."""
    sink.plan = [Action(503), Action(200)]
    reply = deliver(driver, sink, tmp_path, "mailgun-mime", CASES / "client-gmail.eml",
                    retry="20s")
    assert reply.startswith("250 2.0.0"), reply
    assert len(sink.requests) == 2
    seen = []
    for r in sink.requests:
        d = {n: v.decode() for n, f, _, v in form_fields(r) if n != "body-mime"}
        check_mailgun_signature(d)
        seen.append(d["token"])
    assert seen[0] != seen[1]


def test_answer_table_unchanged(driver, sink, tmp_path):
    """The HTTP answer maps to the SMTP reply exactly as for json, whatever the format."""
    for status in (200, 401, 404, 422, 503):
        sink.default = Action(status)
        want = deliver(driver, sink, tmp_path, "json", CASES / "client-gmail.eml")
        for fmt in FORMATS:
            assert deliver(driver, sink, tmp_path, fmt, CASES / "client-gmail.eml") == want, fmt


def test_every_format_through_the_daemon(sink, gateways):
    """smtplib -> the daemon -> each format -> the sink, with the same message."""
    routes = [{"name": f, "match": f"{f}@example.test", "url": sink.url("/" + f), "format": f,
               "secret": SECRET, "include_raw": True,
               **({"mailgun_signing_key": MAILGUN_KEY} if f.startswith("mailgun") else {})}
              for f in FORMATS]
    gw = gateways.start(lambda port: gateway_config(
        port, routes, webhook={"timeout": "10s", "retry_budget": "0"}))
    eml = (CASES / "client-gmail.eml").read_bytes()
    with gw.smtp(timeout=60) as c:
        for f in FORMATS:
            assert c.sendmail(SENDER, [f"{f}@example.test"], eml) == {}
    gw.close()
    by_path = {r.path: r for r in sink.requests}
    assert sorted(by_path) == sorted("/" + f for f in FORMATS)
    pm = json.loads(by_path["/postmark"].body)
    assert pm["OriginalRecipient"] == "postmark@example.test"
    assert pm["RawEmail"].encode().endswith(eml) and pm["RawEmail"].startswith("Received: ")
    for f in FORMATS[1:]:
        d = {n: v for n, _, _, v in form_fields(by_path["/" + f])}
        raw = d.get("body-mime", d.get("email"))
        if raw is not None:
            assert raw.endswith(eml) and raw.startswith(b"Received: ")
        assert d["subject"] == "Meeting notes \U0001f4dd".encode()
        if f.startswith("mailgun"):
            assert d["recipient"] == f"{f}@example.test".encode()
            check_mailgun_signature({k: d[k].decode() for k in ("timestamp", "token",
                                                                 "signature")})
        else:
            assert json.loads(d["envelope"]) == {"to": [f"{f}@example.test"], "from": SENDER}
            assert d["sender_ip"] == b"127.0.0.1"
