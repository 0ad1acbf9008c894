"""The real daemon (build/gateway/smtp-gateway, webhook delivery) end to end:
SMTP in, one HTTP POST out, the HTTP answer back as the SMTP answer."""
import http.server
import json
import smtplib
import subprocess
import threading
import time

import pytest

from smtp_harness import BUILD, free_port

DAEMON = BUILD / "gateway" / "smtp-gateway"


@pytest.fixture
def hook():
    """A local webhook: answers the status in .status, keeps the bodies it got."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            n = int(self.headers.get("Content-Length", 0))
            srv.bodies.append(self.rfile.read(n))
            self.send_response(srv.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a):
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    srv.status, srv.bodies = 200, []
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


@pytest.mark.skipif(not DAEMON.exists(), reason="daemon not built")
def test_daemon_posts_and_answers(hook, tmp_path):
    port = free_port()
    cfg = tmp_path / "gateway.toml"
    cfg.write_text(f"""[server]
hostname = "mx.test"
workers = 1
allow_root = true
[[listener]]
address = "127.0.0.1:{port}"
[auth]
spf = "off"
dkim = "off"
dmarc = "off"
arc = "off"
[webhook]
retry_budget = "0s"
[[route]]
match = "*@example.com"
url = "http://127.0.0.1:{hook.server_port}/hook"
""")
    log = open(tmp_path / "log", "wb")
    proc = subprocess.Popen([str(DAEMON), "-c", str(cfg)], stdout=log, stderr=log)
    try:
        for _ in range(200):
            if "ready:" in (tmp_path / "log").read_text():
                break
            time.sleep(0.02)
        with smtplib.SMTP("127.0.0.1", port, timeout=20) as s:
            s.sendmail("a@client.test", ["x@example.com"], b"Subject: real\r\n\r\nhello\r\n")
            hook.status = 503
            with pytest.raises(smtplib.SMTPDataError) as e:
                s.sendmail("a@client.test", ["x@example.com"], b"Subject: two\r\n\r\nno\r\n")
            assert e.value.smtp_code >= 400  # the webhook module owns the exact mapping
        body = json.loads(hook.bodies[0])
        assert body["envelope"]["mail_from"] == "a@client.test"
        assert body["envelope"]["rcpt_to"] == ["x@example.com"]
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0
        log.close()
