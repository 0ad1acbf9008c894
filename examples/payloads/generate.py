#!/usr/bin/python3
"""Makes every example payload of this folder from a real run, so that they
cannot drift from the code (tests/admin/test_payload_examples.py runs it and
compares).

- client-*.json, malformed-missing-boundary.json: `smtp-gateway parse --pretty`
  of tests/mime/cases/NAME.eml (no SMTP session: envelope, auth and
  recipients are empty); client-apple-mail.metadata.json with
  `--attachments=metadata`.
- delivery-gmail.json: what a route receives when client-gmail.eml, signed
  with DKIM, is delivered over SMTP to the real daemon: through a PROXY
  header from 209.85.221.41, STARTTLS, SPF, DKIM (Ed25519, RFC 8463), DMARC
  and the reverse name answered by tests/dnsserver.py on loopback, to a
  plus-addressed recipient. The few values that change from run to run are
  set to fixed ones (marked below): the delivery id, received_at, and the id
  and date in our own Received: field.

Usage: examples/payloads/generate.py OUTDIR   (SMTPGW_BUILD: the build, default ./build)
Everything listens on 127.0.0.1; every wait is bounded.
"""
import base64
import hashlib
import json
import os
import pathlib
import re
import socket
import ssl
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
BUILD = pathlib.Path(os.environ.get("SMTPGW_BUILD", ROOT / "build"))
BINARY = BUILD / "gateway" / "smtp-gateway"
CASES = ROOT / "tests" / "mime" / "cases"
sys.path.insert(0, str(ROOT / "tests"))

PARSED = [("client-gmail.json", "client-gmail.eml", []),
          ("client-outlook.json", "client-outlook.eml", []),
          ("malformed-missing-boundary.json", "malformed-missing-boundary.eml", []),
          ("client-apple-mail.metadata.json", "client-apple-mail.eml",
           ["--attachments=metadata"])]

CLIENT_IP, CLIENT_PORT = "209.85.221.41", 53122
HELO = "mail-wr1-f41.google.com"
SIGNED_AT = 1772643732  # DKIM t=: 2026-03-04T17:02:12Z, so that the signature is the same
# An example key, derived from a public phrase: it signs nothing but this example.
SEED = hashlib.sha256(b"smtp-gateway example DKIM key, not a secret").digest()
FIXED_ID = "msg_00000000000000000000000000000000"
FIXED_TIME = "2026-03-04T17:02:12.120554Z"


def parsed(out):
    for name, eml, opts in PARSED:
        p = subprocess.run([str(BINARY), "parse", "--pretty", *opts, str(CASES / eml)],
                           check=True, capture_output=True, timeout=60)
        (out / name).write_bytes(p.stdout)


def signed_message():
    import dkim
    import nacl.signing
    msg = (CASES / "client-gmail.eml").read_bytes()
    real = dkim.time.time
    dkim.time.time = lambda: SIGNED_AT
    try:
        sig = dkim.sign(msg, b"20230601", b"gmail.com", base64.b64encode(SEED),
                        signature_algorithm=b"ed25519-sha256",
                        include_headers=[b"from", b"to", b"subject", b"date", b"message-id"])
    finally:
        dkim.time.time = real
    public = base64.b64encode(bytes(nacl.signing.SigningKey(SEED).verify_key)).decode()
    return sig + msg, public


def config(tmp, sink, dns):
    """tests/gwdaemon.py's usual config, with this example's TLS, PROXY and authentication."""
    from gwdaemon import gateway_config
    from gwpaths import self_signed_cert
    cert, key = self_signed_cert(tmp, "mx.example.com")
    route = {"name": "support", "match": "support@example.com", "url": sink.url("/inbound")}
    return lambda port: gateway_config(
        port, [route], hostname="mx.example.com",
        server={"log_level": "debug", "log_trace": ["smtp"]},
        listener=[{"address": f"127.0.0.1:{port}", "proxy_protocol": True,
                   "proxy_trusted": ["127.0.0.1"]}],
        tls={"certificate": [{"cert": cert, "key": key}]},
        dns={"servers": [dns.address]},
        auth={"spf": "annotate", "dkim": "annotate", "dmarc": "annotate", "arc": "annotate"})


def reply(f):
    line = b""
    while True:
        line = f.readline()
        if not line or line[3:4] != b"-":
            return line


def converse(conn, f, cmd):
    conn.sendall(cmd + b"\r\n")
    return reply(f)


def session(port, msg, log):
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        s.sendall(f"PROXY TCP4 {CLIENT_IP} 127.0.0.1 {CLIENT_PORT} 25\r\n".encode())
        f = s.makefile("rb")
        assert reply(f).startswith(b"220")
        assert converse(s, f, b"EHLO " + HELO.encode()).startswith(b"250")
        assert converse(s, f, b"STARTTLS").startswith(b"220")
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        t = ctx.wrap_socket(s, server_hostname="mx.example.com")
        tf = t.makefile("rb")
        assert converse(t, tf, b"EHLO " + HELO.encode()).startswith(b"250")
        end = time.monotonic() + 15  # the reverse name is confirmed beside the session
        while b"reverse name of " + CLIENT_IP.encode() not in log.read_bytes():
            assert time.monotonic() < end, "no reverse lookup"
            time.sleep(0.05)
        for cmd in (b"MAIL FROM:<francois@gmail.com> BODY=8BITMIME",
                    b"RCPT TO:<support+billing@example.com>"):
            assert converse(t, tf, cmd).startswith(b"250"), cmd
        assert converse(t, tf, b"DATA").startswith(b"354")
        data = re.sub(rb"(?m)^\.", b"..", msg.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
        t.sendall(data + (b"" if data.endswith(b"\r\n") else b"\r\n") + b".\r\n")
        r = reply(tf)
        assert r.startswith(b"250"), r
        converse(t, tf, b"QUIT")


def fixed(body):
    """The payload with the values that change from run to run set to fixed ones."""
    p = json.loads(body)
    p["id"], p["received_at"] = FIXED_ID, FIXED_TIME
    for h in p["message"]["headers"]:
        if h.get("name", "").lower() == "received" and "mx.example.com" in h.get("value", ""):
            h["value"] = re.sub(r" id \S+", " id 0000000000000001",
                                re.sub(r";.*$", "; Wed, 04 Mar 2026 17:02:12 +0000", h["value"]))
    return (json.dumps(p, indent=2, ensure_ascii=False) + "\n").encode()


def delivered(out):
    from dnsserver import DNSServer
    from gwdaemon import Gateway
    from webhook_sink import Sink
    msg, public = signed_message()
    rev = ".".join(reversed(CLIENT_IP.split("."))) + ".in-addr.arpa"
    dns = DNSServer({"gmail.com": [("TXT", f"v=spf1 ip4:{CLIENT_IP} -all")],
                     "_dmarc.gmail.com": [("TXT", "v=DMARC1; p=none")],
                     "20230601._domainkey.gmail.com": [("TXT", f"v=DKIM1; k=ed25519; p={public}")],
                     rev: [("PTR", HELO)], HELO: [("A", CLIENT_IP)]})
    dns.start()
    sink = Sink()
    try:
        with tempfile.TemporaryDirectory() as d:
            tmp = pathlib.Path(d)
            with Gateway(tmp, config(tmp, sink, dns), binary=BINARY) as gw:
                session(gw.port, msg, gw.log_path)
    finally:
        sink.close()
        dns.stop()
    bodies = [b for h, b in sink.pairs()]
    assert len(bodies) == 1, len(bodies)
    (out / "delivery-gmail.json").write_bytes(fixed(bodies[0]))


def main():
    out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else HERE)
    out.mkdir(parents=True, exist_ok=True)
    parsed(out)
    delivered(out)


if __name__ == "__main__":
    main()
