"""What the deployment tests share: a recording webhook receiver and a gateway
daemon started from a config text, both on loopback, both bounded in time."""
import json
import socket
import time

import gwdaemon
from gwpaths import BUILD
from webhook_sink import Sink

BIN = BUILD / "gateway" / "smtp-gateway"


class Receiver(Sink):
    """webhook_sink.Sink answering 200 to every POST: posts are (path, JSON body), raw
    each request's headers and raw body."""

    @property
    def posts(self):
        return [(r.path, json.loads(r.body)) for r in list(self.requests)]

    @property
    def raw(self):
        return self.pairs()

    def url(self, path="/inbound"):
        return super().url(path)

    def wait_posts(self, n, timeout=30):
        self.wait_requests(n, timeout)
        return self.posts


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


class Gateway(gwdaemon.Gateway):
    """The daemon on a config text; {port} in the text is its SMTP port. stop() fails on a
    sanitizer report in its log and returns the exit status."""

    def __init__(self, tmp, text, name="gateway"):
        super().__init__(tmp, lambda port: text.replace("{port}", str(port)), name=name,
                         ready=gwdaemon.listening)

    def stop(self, timeout=60.0):
        code = self.close(timeout)
        self.check(status=None)
        return code


def message(i, sender="alice@sender.test", to="hello@example.test"):
    return (f"From: {sender}\r\nTo: {to}\r\nSubject: deploy {i}\r\n"
            f"Message-ID: <deploy-{i}@sender.test>\r\nDate: Sun, 06 Dec 2026 08:00:00 +0000\r\n"
            f"\r\nMessage {i}.\r\n").encode()
