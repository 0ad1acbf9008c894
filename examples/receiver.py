#!/usr/bin/env python3
"""An example webhook receiver for smtp-gateway (Python standard library only).

It verifies the Standard Webhooks signature (webhook-id, webhook-timestamp,
webhook-signature "v1,<base64 HMAC-SHA256>") with the secret(s) given by
--secret or the WEBHOOK_SECRET environment variable (several separated by
spaces, for rotation), prints what arrived, and answers 200 -- or the status
given by --status, optionally with the SMTP words the gateway should use
({"smtp": {"code", "status", "message"}}, see docs/webhook.md).

    WEBHOOK_SECRET=whsec_... python3 examples/receiver.py --port 8080
    python3 examples/receiver.py --status 404 --smtp-code 550 \\
        --smtp-status 5.1.1 --smtp-message "No such ticket"

Without a secret it accepts unsigned requests and says so. Only "v1"
(HMAC, whsec_) signatures can be checked with the standard library; for
Ed25519 ("v1a", whsk_/whpk_ keys) use examples/receiver.js.
"""
import argparse
import base64
import hashlib
import hmac
import http.server
import json
import os
import sys
import threading
import time
from collections import OrderedDict

MAX_BODY = 64 * 1024 * 1024  # refuse larger requests with 413
SEEN_MAX = 10000  # ids remembered for duplicate detection


def decode_secret(s):
    if not s.startswith("whsec_"):
        raise ValueError(f"not a whsec_ secret: {s[:10]}...")
    return base64.b64decode(s[len("whsec_"):])


def verify(keys, headers, body, tolerance):
    """Returns None when the request is authentic, else the reason it is not."""
    msg_id = headers.get("webhook-id")
    ts = headers.get("webhook-timestamp")
    sigs = headers.get("webhook-signature", "")
    if not msg_id or not ts or not sigs:
        return "missing webhook-id, webhook-timestamp or webhook-signature"
    try:
        ts_i = int(ts)
    except ValueError:
        return "bad webhook-timestamp"
    if abs(time.time() - ts_i) > tolerance:
        return "timestamp outside the tolerance (replay?)"
    signed = f"{msg_id}.{ts}.".encode() + body
    for key in keys:
        want = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        for sig in sigs.split(" "):
            version, _, value = sig.partition(",")
            if version == "v1" and hmac.compare_digest(value, want):
                return None
    return "no signature matches"


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "smtp-gateway-example-receiver"

    def log_message(self, fmt, *args):
        if not self.server.opts.quiet:
            sys.stderr.write("receiver: " + fmt % args + "\n")

    def answer(self, status, obj=None):
        body = json.dumps(obj).encode() if obj is not None else b""
        self.send_response(status)
        if obj is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        opts = self.server.opts
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.close_connection = True
            return self.answer(413)
        body = self.rfile.read(length)
        if self.server.keys:
            why = verify(self.server.keys, self.headers, body, opts.tolerance)
            if why:
                print(f"receiver: REJECTED {self.headers.get('webhook-id')}: {why}", flush=True)
                return self.answer(401, {"smtp": {"code": 550, "status": "5.7.1",
                                                  "message": "Webhook signature check failed"}})
        else:
            print("receiver: WARNING: no secret configured, signature not checked", flush=True)
        self.show(body)
        smtp = None
        if opts.smtp_code or opts.smtp_message:
            smtp = {"smtp": {k: v for k, v in (("code", opts.smtp_code),
                                                ("status", opts.smtp_status),
                                                ("message", opts.smtp_message)) if v}}
        self.answer(opts.status, smtp)

    def show(self, body):
        msg_id = self.headers.get("webhook-id", "(unsigned)")
        seen = self.server.seen
        with self.server.seen_lock:
            dup = msg_id in seen
            seen[msg_id] = True
            while len(seen) > SEEN_MAX:
                seen.popitem(last=False)
        kind = self.headers.get("Content-Type", "")
        print(f"receiver: {'DUPLICATE ' if dup else ''}{msg_id} {kind} {len(body)} bytes",
              flush=True)
        if self.server.opts.quiet:
            return
        if kind.startswith("application/json"):
            try:
                print(json.dumps(json.loads(body), indent=2, ensure_ascii=False), flush=True)
                return
            except ValueError:
                pass
        # format "raw": the envelope and auth results are the body's X-Gateway-Envelope and
        # X-Gateway-Auth fields, covered by the signature (the X-Gateway-* request headers
        # repeat them unsigned: do not trust those)
        print(body.decode("utf-8", "replace"), flush=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--secret", action="append", default=[],
                   help="whsec_ secret (repeatable); default: $WEBHOOK_SECRET")
    p.add_argument("--status", type=int, default=200, help="HTTP status to answer")
    p.add_argument("--smtp-code", type=int, help="SMTP code for the gateway's reply")
    p.add_argument("--smtp-status", help="enhanced status code, e.g. 5.1.1")
    p.add_argument("--smtp-message", help="SMTP reply text")
    p.add_argument("--tolerance", type=int, default=300, help="timestamp tolerance (s)")
    p.add_argument("--quiet", action="store_true", help="one line per request")
    opts = p.parse_args(argv)
    secrets = opts.secret or os.environ.get("WEBHOOK_SECRET", "").split()
    server = http.server.ThreadingHTTPServer((opts.host, opts.port), Handler)
    server.daemon_threads = True
    server.opts = opts
    server.keys = [decode_secret(s) for s in secrets]
    server.seen = OrderedDict()
    server.seen_lock = threading.Lock()
    print(f"receiver: listening on http://{opts.host}:{server.server_address[1]}/ "
          f"({len(server.keys)} secret(s))", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
