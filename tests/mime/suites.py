"""Adapters from the external MIME suites in ../shared/testdata/mime-* to
(file, field, expected, got) comparisons with our payload. Each adapter
states only the facts both sides express; suite_differences.json lists the
comparisons that differ by convention, each with its reason.

Run as a script to print the per-suite report:
    SMTPGW_BUILD=build /usr/bin/python3 tests/mime/suites.py
"""
import base64
import hashlib
import json
import os
import pathlib
import subprocess
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
TESTDATA = ROOT.parent / "shared" / "testdata"
BUILD = pathlib.Path(os.environ.get("SMTPGW_BUILD", ROOT / "build"))
GATEWAY = BUILD / "gateway" / "smtp-gateway"


def parse_bytes(data, *flags):
    with tempfile.NamedTemporaryFile(suffix=".eml") as f:
        f.write(data)
        f.flush()
        proc = subprocess.run([str(GATEWAY), "parse", *flags, f.name], capture_output=True,
                              timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def parse_file(path, *flags):
    proc = subprocess.run([str(GATEWAY), "parse", *flags, str(path)], capture_output=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def join_text(chunks):
    """Our rule for several body parts: joined in order, a line break between them."""
    out = None
    for c in chunks:
        if out is None:
            out = c
        else:
            out += ("" if out.endswith("\n") else "\n") + c
    return out


def decoded(att):
    return base64.b64decode(att["content"]) if att.get("content") is not None else None


# ---- Stalwart mail-parser: whole messages with the expected parse ----

def _sw_header(part, name):
    for h in part["headers"]:
        if h["name"] == name:
            return h["value"]
    return None


def _sw_ctype(part):
    v = _sw_header(part, "content_type")
    if not isinstance(v, dict) or "ContentType" not in v:
        return None
    ct = v["ContentType"]
    return f"{ct['c_type']}/{ct.get('c_subtype') or ''}".lower()


def _sw_attr(part, header, attr):
    v = _sw_header(part, header)
    if not isinstance(v, dict) or "ContentType" not in v:
        return None
    for a in v["ContentType"].get("attributes") or []:
        if a["name"].lower() == attr:
            return a["value"]
    return None


def _sw_body(part):
    b = part["body"]
    return (next(iter(b)), next(iter(b.values()))) if isinstance(b, dict) else (b, None)


def stalwart():
    base = TESTDATA / "mime-stalwart-mail-parser" / "eml"
    for eml in sorted(base.glob("*/*.eml")):
        exp = json.loads(eml.with_suffix(".json").read_text())
        # the .json is the parse of the message with every CR removed
        got = parse_bytes(eml.read_bytes().replace(b"\r", b""))["message"]
        name = f"{eml.parent.name}/{eml.name}"
        parts = exp["parts"]
        subj = _sw_header(parts[0], "subject")
        yield name, "subject", subj.get("Text") if isinstance(subj, dict) else None, got["subject"]
        texts = [_sw_body(parts[i])[1] for i in exp["text_body"]
                 if _sw_body(parts[i])[0] == "Text" and (_sw_ctype(parts[i]) or "text/plain") == "text/plain"]
        # message.text made from HTML (text_from_html) is not a text part: compare the parts
        yield name, "text", join_text(texts), None if got["text_from_html"] else got["text"]
        htmls = [_sw_body(parts[i])[1] for i in exp["html_body"] if _sw_body(parts[i])[0] == "Html"]
        yield name, "html", join_text(htmls), got["html"]
        yield name, "attachment_count", len(exp["attachments"]), got["attachment_count"]
        names = sorted(n for n in ((_sw_attr(parts[i], "content_disposition", "filename") or
                                    _sw_attr(parts[i], "content_type", "name"))
                                   for i in exp["attachments"]) if n)
        yield name, "attachment_names", names, sorted(a["filename"] for a in got["attachments"] if a["filename"])
        sizes = sorted(len(bytes(_sw_body(parts[i])[1])) for i in exp["attachments"]
                       if _sw_body(parts[i])[0] in ("Binary", "InlineBinary") and
                       (_sw_ctype(parts[i]) or "text/plain").split("/")[0] not in ("text", "message", "multipart"))
        gsizes = sorted(a["size"] for a in got["attachments"]
                        if a["content_type"].split("/")[0] not in ("text", "message", "multipart"))
        yield name, "binary_attachment_sizes", sizes, gsizes


# ---- GMime: its own vectors and data files ----

def _msg(headers, body=b"", ctype=None, cte=None):
    h = "".join(f"{k}: {v}\r\n" for k, v in headers)
    if ctype:
        h += f"Content-Type: {ctype}\r\n"
    if cte:
        h += f"Content-Transfer-Encoding: {cte}\r\n"
    return h.encode("utf-8") + b"\r\n" + body


def _iso(t):
    import datetime
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _addr_pairs(display):
    import email.utils
    return [{"name": n or None, "address": a} for n, a in email.utils.getaddresses([display])]


def gmime():
    import email.header
    base = TESTDATA / "mime-gmime"
    vec = json.loads((base / "vectors" / "test-mime.json").read_text())
    for i, v in enumerate(vec["rfc2047_text"] + vec["broken_rfc2047_text"]):
        got = parse_bytes(_msg([("From", "a@example.com"), ("Subject", v["input"])]))
        yield f"rfc2047_text[{i}]", "subject", v["decoded"], got["message"]["subject"]
    for i, v in enumerate(vec["dates"]):
        got = parse_bytes(_msg([("From", "a@example.com"), ("Date", v["in"])]))
        d = got["message"]["date"]
        yield f"dates[{i}] {v['in']}", "date.iso", _iso(v["date"]) if v["date"] else None, d and d["iso"]
    for i, v in enumerate(vec["references"]):
        got = parse_bytes(_msg([("From", "a@example.com"), ("References", v["input"])]))
        yield f"references[{i}]", "references", [x for x in v["ids"] if x], got["message"]["references"]
    for i, v in enumerate(vec["addrspec"] + vec["broken_addrspec"]):
        inp = v["input"]
        raw = bytes.fromhex(inp["non_utf8_bytes_hex"]) if isinstance(inp, dict) else inp.encode()
        got = parse_bytes(b"From: a@example.com\r\nTo: " + raw + b"\r\n\r\n")
        want = [{"name": a["name"], "address": a["address"]} for a in _addr_pairs(v["display"])]
        mine = [{"name": a["name"], "address": a["address"]} for a in got["message"]["to"]]
        yield f"addrspec[{i}] {v['display'][:60]}", "to", want, mine
    filters = base / "data" / "filters"
    pairs = [("cyrillic.cp1251.txt", "windows-1251", "cyrillic.utf-8.txt"),
             ("cyrillic.iso-8859-5.txt", "iso-8859-5", "cyrillic.utf-8.txt"),
             ("cyrillic.koi8-r.txt", "koi8-r", "cyrillic.utf-8.txt"),
             ("japanese.iso-2022-jp.txt", "iso-2022-jp", "japanese.utf-8.txt"),
             ("japanese.shift-jis.txt", "shift_jis", "japanese.utf-8.txt")]
    for src, cs, ref in pairs:
        got = parse_bytes(_msg([("From", "a@example.com")], (filters / src).read_bytes(),
                               f"text/plain; charset={cs}", "8bit"))
        want = (filters / ref).read_bytes().decode("utf-8").replace("\r\n", "\n")
        yield f"filters/{src}", "text", want, got["message"]["text"]
    # labelled Latin-1, holds Windows-1252 bytes: SOURCE.md says decode as windows-1252
    fable = (filters / "french-fable.cp1252.txt").read_bytes()
    got = parse_bytes(_msg([("From", "a@example.com")], fable, "text/plain; charset=iso-8859-1", "8bit"))
    yield "filters/french-fable.cp1252.txt", "text", fable.decode("cp1252").replace("\r\n", "\n"), got["message"]["text"]
    enc = base / "data" / "encodings"
    photo = (enc / "photo.jpg").read_bytes()
    for f, cte in (("photo.b64", "base64"), ("photo.uu", "x-uuencode")):
        got = parse_bytes(_msg([("From", "a@example.com")], (enc / f).read_bytes(),
                               "image/jpeg; name=photo.jpg", cte))
        att = got["message"]["attachments"]
        yield f"encodings/{f}", "sha256", hashlib.sha256(photo).hexdigest(), att and att[0]["sha256"]
    got = parse_bytes(_msg([("From", "a@example.com")], (enc / "wikipedia.qp").read_bytes(),
                           "text/plain; charset=utf-8", "quoted-printable"))
    yield "encodings/wikipedia.qp", "text", (enc / "wikipedia.txt").read_text().replace("\r\n", "\n"), got["message"]["text"]
    for m in sorted((base / "messages").glob("*.msg")):
        got = parse_file(m)
        yield f"messages/{m.name}", "parsed", True, got["schema_version"] == 1


# ---- nodemailer / postal-mime: the facts of EXPECTED.md ----

def nodemailer():
    base = TESTDATA / "mime-nodemailer-fixtures"
    mp = lambda n: parse_file(base / "mailparser" / n)["message"]
    pm = lambda n: parse_file(base / "postal-mime" / n)["message"]
    m = mp("nodemailer.eml")
    names = [a["filename"] for a in m["attachments"]]
    yield "nodemailer.eml", "real attachments", ["image.png", "nyan cat ✔.gif", "notes.txt"], [n for n in names if n]
    yield "nodemailer.eml", "attachment_count (mailparser counts text/watch-html)", 4, m["attachment_count"]
    gif = [a for a in m["attachments"] if a["filename"] == "nyan cat ✔.gif"]
    yield "nodemailer.eml", "nyan md5", "2822cbcf68de083b96ac3921d0e308a2", gif and hashlib.md5(decoded(gif[0])).hexdigest()
    yield "nodemailer.eml", "subject", "Nodemailer is unicode friendly ✔ (1476358788189)", m["subject"]
    yield "nodemailer.eml", "to", [("Andris Reinman", "andris+123@kreata.ee"), (None, "andris.reinman@gmail.com")], [(a["name"], a["address"]) for a in m["to"]]
    yield "nodemailer.eml", "html has data: image", True, "data:image/png;base64,iVBORw0KGgoAAAANSU" in (m["html"] or "")
    m = mp("base64encodedroot.eml")
    yield "base64encodedroot.eml", "attachments", [("screenshot.png", "3d0c2d17edd1fed968f66ca200e7c165efd63834b488eec53deb24cca49c3d7b")], [(a["filename"], a["sha256"]) for a in m["attachments"]]
    m = mp("nested.eml")
    yield "nested.eml", "text", "\nDear Sir,\n\nGood evening.\n\n\n\n\n\n\n\nThe footer\n", m["text"]
    m = mp("mixed.eml")
    yield "mixed.eml", "both bodies", (True, True, True), ("This e-mail message has been scanned for Viruses and Content and cleared" in (m["text"] or ""), "Good Morning;" in (m["text"] or ""), m["html"] is not None)
    m = mp("large_text.eml")
    yield "large_text.eml", "first line, no html", ("Exception during installation:", None), ((m["text"] or "").split("\n")[0], m["html"])
    m = mp("outofmemory.eml")
    yield "outofmemory.eml", "html bytes", 1139579, len((m["html"] or "").encode())
    m = mp("decoderended.eml")
    yield "decoderended.eml", "text", "\n\nNote: forwarded message attached.\n       \n---------------------------------\nBe a better something.\nCheck it out.", m["text"]
    yield "decoderended.eml", "has message attachment", True, any(a["content_type"] == "message/rfc822" for a in m["attachments"])
    m = mp("spam.eml")
    yield "spam.eml", "html non-empty", True, bool(m["html"])
    m = mp("delivery-status.eml")
    yield "delivery-status.eml", "delivery-status part", True, any(a["content_type"] == "message/delivery-status" for a in m["attachments"])
    m = mp("htmllargecallstack.eml")
    yield "htmllargecallstack.eml", "html parsed", True, bool(m["html"])
    m = pm("mimetorture.eml")
    yield "mimetorture.eml", "attachment_count (with message/rfc822)", 10, m["attachment_count"]
    m = pm("calendar-event.eml")
    cal = sorted((a["content_type"], a["content_type_params"].get("method")) for a in m["attachments"])
    yield "calendar-event.eml", "attachments", [("application/ics", None), ("text/calendar", "REQUEST")], cal
    yield "calendar-event.eml", "identical content", True, len({a["sha256"] for a in m["attachments"]}) == 1
    m = pm("bounce.eml")
    yield "bounce.eml", "attachments", ["message/delivery-status", "message/rfc822"], sorted(a["content_type"] for a in m["attachments"])
    yield "mixed.eml", "postal-mime copy identical", mp("mixed.eml"), pm("mixed.eml")
    m = pm("arf.eml")
    yield "arf.eml", "feedback-report part", True, any(a["content_type"] == "message/feedback-report" for a in m["attachments"])


# ---- SpamScope mail-parser: the facts of EXPECTED.md ----

def spamscope():
    base = TESTDATA / "mime-spamscope-mail-parser" / "mails"
    p = lambda n: parse_file(base / n)
    d = p("mail_test_2.eml")
    m = d["message"]
    yield "mail_test_2.eml", "message_id", "4516257BC5774408ADC1263EEBBBB73F@ad.regione.vda.it", m["message_id"]
    yield "mail_test_2.eml", "to", (2, "echo@tu-berlin.de"), (len(m["to"]), m["to"][0]["address"] if m["to"] else None)
    yield "mail_test_2.eml", "from", "meteo@regione.vda.it", m["from"][0]["address"] if m["from"] else None
    yield "mail_test_2.eml", "subject", "Bollettino Meteorologico del 29/11/2015", m["subject"]
    yield "mail_test_2.eml", "attachments", ["Bollettino.pdf", "intestazione.jpg", "logometeo.jpg"], sorted(a["filename"] for a in m["attachments"])
    yield "mail_test_2.eml", "date", "2015-11-29T08:45:18Z", m["date"] and m["date"]["iso"]
    d = p("mail_malformed_2.eml")
    yield "mail_malformed_2.eml", "attachments", ["DSN57BAC498.txt"], [a["filename"] for a in d["message"]["attachments"]]
    d = p("mail_malformed_3.eml")
    m = d["message"]
    yield "mail_malformed_3.eml", "reply_to", [("VICTORIA Souvenirs", "smgesi4@gmail.com")], [(a["name"], a["address"]) for a in m["reply_to"]]
    yield "mail_malformed_3.eml", "X-MSMail-Priority", ["High"], [h["value"] for h in m["headers"] if h["name"].lower() == "x-msmail-priority"]
    m = p("mail_test_5.eml")["message"]
    yield "mail_test_5.eml", "attachments with names", 5, sum(1 for a in m["attachments"] if isinstance(a["filename"], str))
    m = p("mail_test_18.eml")["message"]
    yield "mail_test_18.eml", "from", [("LastßlName, FirstName", "comma.name@example.com")], [(a["name"], a["address"]) for a in m["from"]]
    yield "mail_test_18.eml", "to address", ["tony.stark@example.com"], [a["address"] for a in m["to"]]
    yield "mail_test_18.eml", "cc", [(None, "simple@example.net"), ('John "Johnny" Doe', "john.doe@example.com")], [(a["name"], a["address"]) for a in m["cc"]]
    m = p("mail_test_19.eml")["message"]
    yield "mail_test_19.eml", "from", [("alice@example.com", "bob@example.com")], [(a["name"], a["address"]) for a in m["from"]]
    yield "mail_test_19.eml", "cc", [("eve@example.com", "frank@example.com")], [(a["name"], a["address"]) for a in m["cc"]]
    yield "mail_test_19.eml", "reply_to", [("henry@example.com", "ivan@example.com")], [(a["name"], a["address"]) for a in m["reply_to"]]
    yield "mail_test_19.eml", "to", [("Charlie Brown", "charlie@example.com"), (None, "dave@example.com")], [(a["name"], a["address"]) for a in m["to"]]
    for f in sorted(base.glob("*.eml")):
        yield f.name, "parsed", True, p(f.name)["schema_version"] == 1


# ---- CPython email tests: INDEX.md facts ----

def python_email():
    base = TESTDATA / "mime-python-email" / "data"
    p = lambda n: parse_file(base / n)["message"]
    att = lambda m: [a["filename"] for a in m["attachments"]]
    yield "msg_03.txt", "implicit text/plain", True, bool(p("msg_03.txt")["text"])
    yield "msg_07.txt", "image filename", ["dingusfish.gif"], att(p("msg_07.txt"))
    m = p("msg_08.txt")
    yield "msg_08.txt", "four empty body parts", ("", "", []), (m["text"], m["html"], m["attachments"])
    yield "msg_14.txt", "type 'text' is text/plain", True, bool(p("msg_14.txt")["text"])
    m = p("msg_20.txt")
    yield "msg_20.txt", "three Cc fields", 3, sum(1 for h in m["headers"] if h["name"].lower() == "cc")
    yield "msg_22.txt", "folded name", ["wibble.JPG", "wibble2.JPG"], att(p("msg_22.txt"))
    m = p("msg_31.txt")
    yield "msg_31.txt", "whole body one text", True, bool(m["text"]) and not m["attachments"]
    m = p("msg_35.txt")
    yield "msg_35.txt", "headers", ["From", "To", "Subject"], [h["name"] for h in m["headers"]]
    yield "msg_40.txt", "text/html with boundary is html", True, bool(p("msg_40.txt")["html"])
    yield "msg_44.txt", "name= fallback", ["msg.txt", "msg.txt"], att(p("msg_44.txt"))
    for f in sorted(base.glob("msg_*.txt")):
        yield f.name, "parsed", True, parse_file(f)["schema_version"] == 1


SUITES = {"stalwart": stalwart, "gmime": gmime, "nodemailer": nodemailer, "spamscope": spamscope,
          "python-email": python_email}


def report(suite):
    rows = list(SUITES[suite]())
    bad = [r for r in rows if r[2] != r[3]]
    return rows, bad


if __name__ == "__main__":
    import sys
    for s in (sys.argv[1:] or SUITES):
        rows, bad = report(s)
        print(f"{s}: {len(rows) - len(bad)}/{len(rows)} comparisons match")
        for b in bad:
            print("  ", b[0], b[1], "want", repr(b[2])[:150], "got", repr(b[3])[:150])
