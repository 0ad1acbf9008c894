"""A stand-in for rspamd's normal worker, for what the real one cannot do on demand:
answer slowly, never answer, or answer nonsense. It records every request's
headers and body so a test can see rspamd's protocol headers as sent.

POST /checkv2 answers with the JSON of `answer` (a clean "no action" verdict by
default). A message containing one of the `slow` markers is answered after
`delay` seconds (the handler thread sleeps; other requests are served meanwhile);
`mode = "hang"` holds every request until the stand-in closes.
"""
import http.server
import json
import threading
import time

CLEAN = {"is_skipped": False, "score": 0.5, "required_score": 15.0, "action": "no action",
         "symbols": {"MIME_GOOD": {"name": "MIME_GOOD", "score": -0.1, "metric_score": -0.1,
                                   "options": ["text/plain"]},
                     "R_STANDIN": {"name": "R_STANDIN", "score": 0.6, "metric_score": 0.6}},
         "messages": {}}


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30

    def log_message(self, fmt, *args):
        pass

    def do_POST(self):
        st = self.server.standin
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n) if n else b""
        with st.lock:
            st.requests.append((self.path, self.headers, body))
        if st.mode == "hang":
            st.closing.wait(60)
            return
        if any(m in body for m in st.slow):
            st.closing.wait(st.delay)
        out = st.answer if isinstance(st.answer, bytes) else json.dumps(st.answer).encode()
        self.send_response(st.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)


class RspamdStandin:
    def __init__(self, answer=None, slow=(b"SLOW-MARKER",), delay=2.0, mode="answer", status=200):
        self.lock = threading.Lock()
        self.closing = threading.Event()
        self.requests = []
        self.answer = CLEAN if answer is None else answer
        self.slow, self.delay, self.mode, self.status = slow, delay, mode, status
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.standin = self
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def headers_of(self, i):
        """Request i's headers as a list of (name, value), repeated names kept."""
        with self.lock:
            return list(self.requests[i][1].items())

    def close(self):
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def wait_for(pred, timeout=20.0, step=0.02):
    """Polls pred() until true; bounded. Returns its last value."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()
