"""The webhook receiver of every test that runs the daemon: a fault-injecting sink.

A real HTTP/1.1 server (http.server.ThreadingHTTPServer) on 127.0.0.1, plain
or TLS. Each request takes the next Action of the sink's plan (or the
default one): answer any status with any body and headers, after a delay;
hang without answering; close before answering; or close in the middle of
the response. Every request (headers, body, connection number) is recorded,
and TCP connections are counted so keep-alive can be checked. A load run
(tests/attack/) keeps only the counts: Sink(keep_bodies=False).
"""
import http.server
import json
import pathlib
import socket
import ssl
import subprocess
import threading
import time


class Action:
    """What the sink does with one request."""

    def __init__(self, status=200, body=b"", headers=None, delay=0.0, mode="answer"):
        self.status = status
        self.body = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.headers = headers or {}
        self.delay = delay
        self.mode = mode  # answer | hang | close | close_mid


class Request:
    def __init__(self, handler, body, conn_no):
        self.path = handler.path
        self.method = handler.command
        self.headers = handler.headers
        self.body = body
        self.conn_no = conn_no
        self.time = time.time()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes

    def setup(self):
        self.timeout = self.server.sink.idle_timeout  # an idle keep-alive connection's end
        super().setup()
        with self.server.sink.lock:
            self.server.sink.connections += 1
            self.conn_no = self.server.sink.connections

    def log_message(self, fmt, *args):
        pass

    def do_POST(self):
        sink = self.server.sink
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n) if n else b""
        action = sink.next_action(self.path)
        with sink.lock:
            sink.posted += 1
            sink.posted_bytes += len(body)
            sink.requests.append(Request(self, body if sink.keep_bodies else b"", self.conn_no))
            sink.active += 1
            sink.max_active = max(sink.max_active, sink.active)
        sink.got.set()
        try:
            self._act(action)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client stopped reading: what some tests want
        finally:
            with sink.lock:
                sink.active -= 1

    do_GET = do_POST

    def _act(self, a):
        sink = self.server.sink
        if a.delay:
            sink.stop.wait(a.delay)
        if a.mode == "hang":
            sink.stop.wait(30)
            self.close_connection = True
            return
        if a.mode == "close":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(a.status)
        for k, v in a.headers.items():
            self.send_header(k, v)
        if a.mode == "close_mid":
            self.send_header("Content-Length", str(len(a.body) + 1000))
            self.end_headers()
            self.wfile.write(a.body[: len(a.body) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_header("Content-Length", str(len(a.body)))
        self.end_headers()
        self.wfile.write(a.body)


class Sink:
    """idle_timeout: seconds an idle kept-alive connection stays open; keep_bodies=False
    records each request without its body (the counts posted and posted_bytes stay)."""

    def __init__(self, tls=None, idle_timeout=10, keep_bodies=True):
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.idle_timeout, self.keep_bodies = idle_timeout, keep_bodies
        self.requests = []
        self.posted = 0
        self.posted_bytes = 0
        self.connections = 0
        self.active = 0
        self.max_active = 0
        self.plan = []
        self.default = Action(200)
        self.answer = None  # path -> Action or None (the default)
        self.got = threading.Event()  # set by every request
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.sink = self
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.scheme = "https" if tls is not None else "http"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path="/hook", host="127.0.0.1"):
        return f"{self.scheme}://{host}:{self.port}{path}"

    def pairs(self):
        """[(headers as a dict, body)] of the requests so far."""
        with self.lock:
            return [(dict(r.headers), r.body) for r in self.requests]

    def payloads(self):
        """The JSON bodies received so far, decoded."""
        return [json.loads(b) for h, b in self.pairs()
                if h.get("Content-Type", "").startswith("application/json")]

    def wait_requests(self, n, timeout=20.0):
        """Waits (bounded) until n requests have arrived; returns how many have."""
        end = time.monotonic() + timeout
        while len(self.requests) < n and time.monotonic() < end:
            time.sleep(0.02)
        return len(self.requests)

    def next_action(self, path="/"):
        """The plan's next Action, else answer(path) when set (a sink that answers by
        path), else the default."""
        with self.lock:
            if self.plan:
                return self.plan.pop(0)
        return (self.answer(path) if self.answer else None) or self.default

    def close(self):
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


class Acceptor:
    """A listening socket on 127.0.0.1 and a thread accepting on it: each connection is
    served by self._serve(sock) in a thread of its own; stop_ev ends them all."""

    def _listen(self, backlog):
        self.stop_ev = threading.Event()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(backlog)
        self.sock.settimeout(0.2)
        self.threads = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stop_ev.is_set():
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            t = threading.Thread(target=self._serve, args=(c,), daemon=True)
            t.start()
            self.threads.append(t)


class RawReceiver(Acceptor):
    """A raw-socket HTTP receiver: reads each request whole (headers and
    Content-Length body), then calls behave(sock, receiver), which writes
    whatever it wants; the connection is closed when behave returns, unless it
    returns "keep" (then the next request on it is read). Counts requests and
    connections; stop() wakes behaviours that wait on self.stop_ev."""

    def __init__(self, behave):
        self.behave = behave
        self.requests = 0
        self.connections = 0
        self.open_conns = 0
        self.errors = []
        self.lock = threading.Lock()
        self._listen(64)

    def port(self):
        return self.sock.getsockname()[1]

    def url(self, path="/hook"):
        return f"http://127.0.0.1:{self.port()}{path}"

    @staticmethod
    def read_request(c, buf=b""):
        """(request bytes, leftover) or (None, b"") when the peer closed first."""
        while b"\r\n\r\n" not in buf:
            chunk = c.recv(65536)
            if not chunk:
                return None, b""
            buf += chunk
        head, _, body = buf.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(body) < length:
            chunk = c.recv(65536)
            if not chunk:
                return None, b""
            body += chunk
        return head + b"\r\n\r\n" + body[:length], body[length:]

    def _serve(self, c):
        with self.lock:
            self.connections += 1
            self.open_conns += 1
        try:
            c.settimeout(30)
            left = b""
            while not self.stop_ev.is_set():
                req, left = self.read_request(c, left)
                if req is None:
                    break
                with self.lock:
                    self.requests += 1
                if self.behave(c, self) != "keep":
                    break
        except OSError as e:
            self.errors.append(repr(e))
        finally:
            with self.lock:
                self.open_conns -= 1
            c.close()

    def close(self):
        self.stop_ev.set()
        self.thread.join(5)
        for t in self.threads:
            t.join(5)
        self.sock.close()


def make_pki(d: pathlib.Path):
    """A test CA, a server certificate for 127.0.0.1 and a client certificate (openssl CLI)."""
    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)

    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", str(d / "ca.key"), "-out", str(d / "ca.pem"), "-days", "2",
        "-subj", "/CN=smtp-gateway test CA")
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
                      ("client", "extendedKeyUsage=clientAuth")):
        run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", str(d / f"{name}.key"), "-out", str(d / f"{name}.csr"),
            "-subj", f"/CN={name}")
        (d / f"{name}.ext").write_text(ext + "\n")
        run("x509", "-req", "-in", str(d / f"{name}.csr"), "-CA", str(d / "ca.pem"),
            "-CAkey", str(d / "ca.key"), "-CAcreateserial", "-days", "2",
            "-extfile", str(d / f"{name}.ext"), "-out", str(d / f"{name}.pem"))
    return d


def server_context(pki: pathlib.Path, require_client_cert=False):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(pki / "server.pem"), str(pki / "server.key"))
    if require_client_cert:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(str(pki / "ca.pem"))
    return ctx


class H2Sink(Acceptor):
    """An HTTP/2-only TLS sink (ALPN "h2", python3-h2): answers every stream
    with `status`, records each request's headers and body, counts
    connections and the streams open at once."""

    def __init__(self, pki, status=200, delay=0.0):
        import h2.config  # noqa: F401 (fail early when python3-h2 is missing)
        ctx = server_context(pki)
        ctx.set_alpn_protocols(["h2"])
        self.ctx = ctx
        self.status = status
        self.delay = delay
        self.lock = threading.Lock()
        self.requests = []
        self.connections = 0
        self.alpn = []
        self.active = 0
        self.max_active = 0
        self._listen(16)
        self.port = self.sock.getsockname()[1]

    def url(self, path="/hook"):
        return f"https://127.0.0.1:{self.port}{path}"

    def _serve(self, raw):
        import h2.config
        import h2.connection
        import h2.events
        raw.settimeout(5)
        try:
            conn_sock = self.ctx.wrap_socket(raw, server_side=True)
        except (OSError, ssl.SSLError):
            raw.close()
            return
        conn_sock.settimeout(0.05)  # wake up to send the delayed answers
        with self.lock:
            self.connections += 1
            self.alpn.append(conn_sock.selected_alpn_protocol())
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        conn.initiate_connection()
        conn_sock.sendall(conn.data_to_send())
        streams = {}
        pending = []
        try:
            while not self.stop_ev.is_set():
                try:
                    data = conn_sock.recv(65536)
                except socket.timeout:
                    data = None
                if data == b"":
                    break
                for ev in conn.receive_data(data) if data else []:
                    if isinstance(ev, h2.events.RequestReceived):
                        streams[ev.stream_id] = [dict((k.decode() if isinstance(k, bytes) else k,
                                                       v.decode() if isinstance(v, bytes) else v)
                                                      for k, v in ev.headers), b""]
                        with self.lock:
                            self.active += 1
                            self.max_active = max(self.max_active, self.active)
                    elif isinstance(ev, h2.events.DataReceived):
                        streams[ev.stream_id][1] += ev.data
                        conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                    elif isinstance(ev, h2.events.StreamEnded):
                        pending.append((time.monotonic() + self.delay, ev.stream_id))
                now = time.monotonic()
                for due, sid in [p for p in pending if p[0] <= now]:
                    pending.remove((due, sid))
                    headers, body = streams.pop(sid)
                    with self.lock:
                        self.requests.append((headers, body))
                        self.active -= 1
                    conn.send_headers(sid, [(":status", str(self.status)),
                                            ("content-length", "0")], end_stream=True)
                conn_sock.sendall(conn.data_to_send())
        except (OSError, ssl.SSLError):
            pass
        finally:
            conn_sock.close()

    def close(self):
        self.stop_ev.set()
        self.thread.join(timeout=5)
        for t in self.threads:
            t.join(timeout=10)
        self.sock.close()
