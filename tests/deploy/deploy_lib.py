"""What the deployment tests share: a recording webhook receiver and a gateway
daemon started from a config text, both on loopback, both bounded in time."""
import http.server
import json
import socket
import subprocess
import threading
import time

from gwpaths import BUILD, free_port

BIN = BUILD / "gateway" / "smtp-gateway"


class Receiver:
    """An HTTP server on 127.0.0.1 that answers 200 and keeps (path, JSON body), and
    each request's headers and raw body in raw."""

    def __init__(self):
        self.posts = []
        self.raw = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                outer.raw.append((dict(self.headers.items()), body))
                outer.posts.append((self.path, json.loads(body)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.srv.server_address[1]
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path="/inbound"):
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_posts(self, n, timeout=30):
        deadline = time.monotonic() + timeout
        while len(self.posts) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.posts)

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def wait_listening(port, proc=None, log=None, timeout=15, host="127.0.0.1"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"exited {proc.returncode}: {log.read_text() if log else ''}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on {host}:{port}: {log.read_text() if log else ''}")


class Gateway:
    """The daemon on a config text; {port} in the text is its SMTP port."""

    def __init__(self, tmp, text, name="gateway"):
        self.port = free_port()
        self.config = tmp / f"{name}.toml"
        self.config.write_text(text.replace("{port}", str(self.port)))
        self.log = tmp / f"{name}.log"
        with open(self.log, "wb") as fh:
            self.proc = subprocess.Popen([str(BIN), "-c", str(self.config)], stdout=fh,
                                         stderr=subprocess.STDOUT)
        wait_listening(self.port, self.proc, self.log)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=60)
        return self.proc.returncode


def message(i, sender="alice@sender.test", to="hello@example.test"):
    return (f"From: {sender}\r\nTo: {to}\r\nSubject: deploy {i}\r\n"
            f"Message-ID: <deploy-{i}@sender.test>\r\nDate: Sun, 06 Dec 2026 08:00:00 +0000\r\n"
            f"\r\nMessage {i}.\r\n").encode()
