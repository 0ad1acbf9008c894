#!/usr/bin/python3
"""The benchmark suite: smtp-gateway under real load tools, checked as it is measured.

Starts an HTTP sink (nginx from Debian, its own config and prefix under the
build folder: one server answering 200 after reading the body, one 503, one
after a fixed 50 ms), starts the gateway with a benchmark configuration per
scenario, and drives it with Postfix's smtp-source and with our own
loadgen (which times each message from the end of DATA to the reply).
Postfix's smtp-sink runs in the same run as the yardstick.

Every scenario checks correctness while it measures: the sink must have
seen exactly as many POSTs as messages were accepted, and every reply must
be the expected one. A fast wrong answer fails the run.

Traffic goes to 127.0.0.1 only; every load is bounded in count and time.
Usage: tests/bench/bench.py BUILD_DIR [--quick] [--only NAME ...]
"""
import argparse
import json
import select
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "tests"))
import gwdaemon  # noqa: E402
from gwdaemon import Process, Toml, gateway_config, listening, port_open  # noqa: E402
from gwpaths import free_port, rsa_dkim_key  # noqa: E402
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
ED25519_SECRET = "whsk_AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="  # a seed 1..32: Ed25519
CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_stat(pid):
    """(cpu seconds, current RSS KB, peak RSS KB) of a process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK
    rss = hwm = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    return cpu, rss, hwm


class Nginx:
    """The HTTP sink. Three servers: 200, 503, 200 after 50 ms."""

    def __init__(self, prefix):
        self.prefix = pathlib.Path(prefix)
        self.ports = {"ok": free_port(), "fail": free_port(), "slow": free_port()}

    def __enter__(self):
        p = self.prefix
        shutil.rmtree(p, ignore_errors=True)
        (p / "tmp").mkdir(parents=True)
        echo = "/usr/share/nginx/modules/ngx_http_echo_module.so"
        if not os.path.exists(echo):
            echo = "/usr/lib/nginx/modules/ngx_http_echo_module.so"
        conf = f"""
load_module {echo};
worker_processes 1;
daemon off;
pid {p}/nginx.pid;
error_log {p}/error.log warn;
events {{ worker_connections 8192; }}
http {{
  log_format bench '$server_port $request_method $status $request_length';
  access_log {p}/access.log bench buffer=64k flush=100ms;
  client_body_temp_path {p}/tmp;
  proxy_temp_path {p}/tmp; fastcgi_temp_path {p}/tmp; uwsgi_temp_path {p}/tmp; scgi_temp_path {p}/tmp;
  client_body_buffer_size 1m;
  client_max_body_size 200m;
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  server {{ listen 127.0.0.1:{self.ports['ok']} reuseport backlog=4096;
    location / {{ echo_read_request_body; echo "ok"; }} }}
  server {{ listen 127.0.0.1:{self.ports['fail']} reuseport backlog=4096;
    location / {{ echo_read_request_body; return 503; }} }}
  server {{ listen 127.0.0.1:{self.ports['slow']} reuseport backlog=4096;
    location / {{ echo_read_request_body; echo_sleep 0.05; echo "ok"; }} }}
}}
"""
        (p / "nginx.conf").write_text(conf)
        ports = self.ports.values()
        self.proc = Process(["/usr/sbin/nginx", "-p", p, "-c", p / "nginx.conf"], p / "nginx.out",
                            ready=lambda proc: all(port_open(port) for port in ports))
        return self

    def posts(self, mode):
        """POSTs the sink has answered in this mode, from the access log."""
        time.sleep(0.3)  # the log is flushed every 100 ms
        port = str(self.ports[mode])
        try:
            lines = (self.prefix / "access.log").read_text().splitlines()
        except FileNotFoundError:
            return 0
        return sum(1 for l in lines if l.startswith(port + " POST "))

    def __exit__(self, *exc):
        self.proc.close(timeout=10)


class Gateway(gwdaemon.Gateway):
    """One smtp-gateway process with a benchmark configuration, in a folder of its own."""

    def __init__(self, binary, workdir, sink_port, workers=2, extra="", route_extra="",
                 auth_on=False, secret=SECRET):
        route = {"name": "bench", "match": "*@example.test",
                 "url": f"http://127.0.0.1:{sink_port}/inbound", "secret": secret,
                 "+": Toml(route_extra)}
        limits = {"max_connections": 20000, "max_connections_per_ip": 20000,
                  "max_message_size": "64MB", "max_transactions": 1000000,
                  "memory_threshold": "1MB"}
        # auth_on: the default authentication (annotate for all four) instead of off.
        auth = {k: "annotate" for k in gwdaemon.AUTH_OFF} if auth_on else {}
        super().__init__(pathlib.Path(tempfile.mkdtemp(prefix="gw-", dir=workdir)),
                         lambda port: gateway_config(
                             port, [route], hostname="mx.bench.test", workers=workers,
                             server={"log_level": "error"}, limits=limits,
                             auth={**auth, "+": Toml(extra)}),
                         binary=binary, ready=listening)

    def stat(self):
        return proc_stat(self.pid)

    def __exit__(self, *exc):
        self.close(timeout=15)  # a measuring tool: the figures are its output


def loadgen(build, port, *args, timeout=300):
    r = subprocess.run([str(build / "tests" / "bench" / "loadgen"), *map(str, args),
                        f"127.0.0.1:{port}"], capture_output=True, text=True, timeout=timeout)
    try:
        return json.loads(r.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        raise RuntimeError(f"loadgen failed: {r.stderr[:500]}")


def smtp_source(port, sessions, messages, size, new_conn=False, timeout=300):
    args = ["/usr/sbin/smtp-source", "-s", str(sessions), "-m", str(messages), "-l", str(size),
            "-f", "bench@client.test", "-t", "bench@example.test", f"127.0.0.1:{port}"]
    if not new_conn:
        args.insert(1, "-d")
    t0 = time.monotonic()
    r = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    secs = time.monotonic() - t0
    return {"messages": messages, "seconds": secs, "rate": messages / secs,
            "errors": r.returncode != 0 or "error" in r.stderr.lower() or
            "fatal" in r.stderr.lower(), "stderr": r.stderr[-300:]}


class SmtpSink(Process):
    """Postfix's smtp-sink, the yardstick."""

    def __init__(self, workdir):
        port = free_port()
        super().__init__(["/usr/sbin/smtp-sink", "-u", "nobody", f"127.0.0.1:{port}", "2048"],
                         pathlib.Path(workdir) / "smtp-sink.log", port=port, ready=listening)


def measure(gw, fn):
    """Runs fn() against a gateway; adds CPU per 1,000 messages and peak RSS."""
    cpu0, _, _ = gw.stat()
    res = fn()
    cpu1, rss, hwm = gw.stat()
    res["cpu_s_per_1000"] = (cpu1 - cpu0) / max(res["messages"], 1) * 1000
    res["peak_rss_mb"] = hwm / 1024
    return res


def check(res, nginx, mode, want_posts, want_code=250):
    """Correctness while measuring: the POST count, and every reply."""
    problems = []
    posts = nginx.posts(mode) - res.pop("_posts_before", 0)
    res["posts"] = posts
    if posts != want_posts:
        problems.append(f"sink saw {posts} POSTs, expected {want_posts}")
    if "replies" in res:
        bad = {k: v for k, v in res["replies"].items() if int(k) != want_code}
        if bad or res.get("failed_sessions"):
            problems.append(f"unexpected replies {bad}, failed sessions "
                            f"{res.get('failed_sessions')}")
    if res.get("errors"):
        problems.append("smtp-source reported errors: " + res.get("stderr", ""))
    res["ok"] = not problems
    res["problems"] = problems
    return res


def scenarios(a):
    q = a.quick
    n5 = 4000 if q else 20000
    nr = 1000 if q else 5000
    return [
        # name, gateway options, driver, sink mode, expected code
        ("sink-20x5KB", None, ("source", 20, n5, 5120), None, 250),
        # The same yardstick driven by loadgen: a ratio compares two servers under one client
        # (loadgen pipelines and does less per message than smtp-source, so smtp-sink runs
        # about 1.5x faster under it; a loadgen figure over the smtp-source yardstick flatters).
        ("sink-20x5KB-loadgen", None, ("loadgen", "-s", 20, "-m", n5), None, 250),
        # ... and for the scenarios whose load differs: the same sessions and message.
        ("sink-100x5KB", None, ("source", 100, n5, 5120), None, 250),
        ("sink-20x100KB", None, ("source", 20, 2000 if q else 10000, 102400), None, 250),
        ("sink-20x29KB-multipart", None, ("loadgen", "-s", 20, "-m", 2000 if q else 10000, "-F",
                                          HERE / "multipart.eml"), None, 250),
        ("sink-20x8KB-delivered", None, ("loadgen", "-s", 20, "-m", n5, "-F",
                                         HERE / "delivered.eml"), None, 250),
        ("sink-1x5KB-latency", None, ("loadgen", "-s", 1, "-m", 2000), None, 250),
        ("1x5KB-latency", {}, ("loadgen", "-s", 1, "-m", 2000), "ok", 250),
        ("20x5KB", {}, ("source", 20, n5, 5120), "ok", 250),
        ("20x5KB-loadgen", {}, ("loadgen", "-s", 20, "-m", n5), "ok", 250),
        ("20x5KB-1worker", {"workers": 1}, ("source", 20, n5, 5120), "ok", 250),
        # format = "raw": the message POSTed as it came, no MIME parsing and no JSON: the
        # gateway's own floor for SMTP plus one signed POST per message.
        ("20x5KB-raw", {"route_extra": 'format = "raw"'}, ("loadgen", "-s", 20, "-m", n5),
         "ok", 250),
        # The same floor under smtp-source, the client of the 20 x 5 KB target: no change to
        # the MIME stage can take the JSON path above it.
        ("20x5KB-raw-source", {"route_extra": 'format = "raw"'}, ("source", 20, n5, 5120),
         "ok", 250),
        # The route signed with an Ed25519 key (whsk_) instead of HMAC.
        ("20x5KB-ed25519", {"secret": ED25519_SECRET}, ("loadgen", "-s", 20, "-m", n5), "ok",
         250),
        ("100x5KB", {}, ("source", 100, n5, 5120), "ok", 250),
        ("20x100KB", {}, ("source", 20, 2000 if q else 10000, 102400), "ok", 250),
        ("20x29KB-multipart", {}, ("loadgen", "-s", 20, "-m", 2000 if q else 10000, "-F",
                                   HERE / "multipart.eml"), "ok", 250),
        # A message as a mailbox receives it (tests/bench/delivered.eml): 34 header fields
        # (five Received, Authentication-Results, ARC, DKIM-Signature, list fields) over about
        # 5 KB of text. The 5 KB message above has 7; each field is a JSON member, and those
        # the payload builds members from are a GMime header object too (payload_scan.c).
        ("20x8KB-delivered", {}, ("loadgen", "-s", 20, "-m", n5, "-F", HERE / "delivered.eml"),
         "ok", 250),
        ("new-conn-per-msg", {}, ("source-newconn", 20, 2000 if q else 10000, 5120), "ok", 250),
        ("503-sink", {"route_extra": 'retry_budget = "0s"\ncircuit_breaker_threshold = 0'},
         ("loadgen", "-s", 20, "-m", 2000, "-e", 451), "fail", 451),
        ("50ms-sink-200", {"route_extra": "max_in_flight = 1000"},
         ("loadgen", "-s", 200, "-m", 4000 if q else 20000), "slow", 250),
        ("10MB", {}, ("loadgen", "-s", 4, "-m", 20, "-l", 10 * 1024 * 1024), "ok", 250),
        # One at a time, so peak RSS is one message's cost (target: under 3x its size).
        ("50MB-one", {}, ("loadgen", "-s", 1, "-m", 3, "-l", 50 * 1024 * 1024), "ok", 250),
        # DKIM verification on (route dkim = "enforce": a signature that did not pass would
        # be refused, so 250 for every message proves each one verified); the key is served
        # by tests/dnsserver.py on loopback, one message signed once and sent again and again.
        ("dkim-20x5KB", {}, ("loadgen-dkim", "-s", 20, "-m", n5), "ok", 250),
        # Spam verdicts from rspamd (docs/spam.md): a real rspamd (tests/spam/rspamd_fixture.py,
        # one normal worker, no network), route spam = "enforce" with spam_failure = "tempfail",
        # so 250 for every message proves rspamd answered for each. Then rspamd alone, driven
        # by rspamc with as many requests in parallel, on the very same message file.
        ("rspamd-20x5KB", {}, ("loadgen-rspamd", "-s", 20, "-m", nr), "ok", 250),
        ("rspamc-20x5KB", None, ("rspamc", 20, nr), None, 250),
        # The default authentication (annotate: spf, dkim, dmarc, arc) against unbound, a
        # local caching resolver (tests/bench/authzone.py): five sender domains, each with
        # SPF through a two-deep include chain, DMARC p=reject and its own DKIM key, two of
        # them ARC-sealed; every body of a short run first must say spf, dkim and dmarc pass.
        # Then the same with the gateway's DNS cache off and its DKIM key cache at 1.
        ("auth-20x5KB", {}, ("loadgen-auth", "-s", 20, "-m", n5), "ok", 250),
        ("auth-20x5KB-nocache", {"cache": False}, ("loadgen-auth", "-s", 20, "-m", n5), "ok",
         250),
    ]


def dkim_setup(workdir):
    """(DNSServer started, gateway options, the signed 5 KB message file)."""
    import dkim
    from dnsserver import DNSServer
    key_pem, pub = rsa_dkim_key(workdir)
    line = b"The quarterly numbers are attached below, as discussed on Monday.\r\n"
    msg = (b"From: Alice <alice@client.test>\r\nTo: bench@example.test\r\n"
           b"Subject: dkim bench\r\nMessage-ID: <bench@client.test>\r\n\r\n"
           + line * (5120 // len(line)))
    msg = dkim.sign(msg, b"sel", b"client.test", key_pem,
                    include_headers=[b"from", b"to", b"subject", b"message-id"]) + msg
    eml = pathlib.Path(workdir) / "dkim.eml"
    eml.write_bytes(msg)
    dns = DNSServer({"sel._domainkey.client.test": [("TXT", f"v=DKIM1; k=rsa; p={pub}")]})
    dns.start()
    opts = {"extra": f'[dns]\nservers = ["{dns.address}"]\ntimeout = "2s"\n',
            "route_extra": 'dkim = "enforce"'}
    return dns, opts, eml


def bench_eml(workdir, name="plain.eml"):
    """A 5 KB text message, the same for the gateway and for rspamc."""
    line = b"The quarterly numbers are attached below, as discussed on Monday.\r\n"
    msg = (b"From: Alice <alice@client.test>\r\nTo: bench@example.test\r\n"
           b"Subject: rspamd bench\r\nMessage-ID: <bench@client.test>\r\n"
           b"Date: Sun, 06 Dec 2026 07:00:00 +0000\r\n\r\n" + line * (5120 // len(line)))
    eml = pathlib.Path(workdir) / name
    eml.write_bytes(msg)
    return eml


def rspamd_for(a):
    """One rspamd for the rspamd scenarios of the run (started on first use)."""
    if getattr(a, "rspamd", None) is None:
        sys.path.insert(0, str(ROOT / "tests" / "spam"))
        from rspamd_fixture import Rspamd
        hs = a.build / "bench-rspamd-hs"  # hyperscan's cache: only the first run compiles
        hs.mkdir(exist_ok=True)
        r = Rspamd(pathlib.Path(a.workdir), hs)
        try:
            r.start(timeout=180)
        except BaseException as e:  # the fixture skips (pytest) when rspamd cannot start
            raise RuntimeError(f"rspamd did not start: {e}")
        a.rspamd = r
    return a.rspamd


def rspamc_run(a, parallel, messages):
    """rspamd alone: rspamc scans a directory of copies of the bench message."""
    r = rspamd_for(a)
    d = pathlib.Path(a.workdir) / "rspamc"
    d.mkdir(exist_ok=True)
    msg = bench_eml(a.workdir).read_bytes()
    for i in range(messages):
        (d / f"{i}.eml").write_bytes(msg)
    t0 = time.monotonic()
    # The envelope the gateway passes for loadgen's messages, so rspamd runs the same rules.
    p = subprocess.run(["rspamc", "-h", f"127.0.0.1:{r.port}", "-n", str(parallel), "-t", "60",
                        "--ip", "127.0.0.1", "--helo", "client.test", "--from",
                        "bench@client.test", "--rcpt", "bench@example.test", str(d)],
                       capture_output=True, text=True, timeout=600)
    secs = time.monotonic() - t0
    answered = p.stdout.count("Action: ")
    res = {"messages": messages, "seconds": secs, "rate": messages / secs}
    res["ok"] = p.returncode == 0 and answered == messages
    res["problems"] = [] if res["ok"] else [f"rspamc: {answered} answers, rc {p.returncode}, "
                                            f"{p.stderr[-300:]}"]
    return res


def run_scenario(a, nginx, sink, name, gwopts, driver, mode, code):
    build = a.build
    kind = driver[0]
    if kind == "rspamc":
        return rspamc_run(a, *driver[1:])
    if gwopts is None:  # the smtp-sink yardstick
        if kind == "source":
            res = smtp_source(sink.port, *driver[1:])
        else:
            res = loadgen(build, sink.port, *driver[1:])
        res["ok"] = not res.get("errors") and not res.get("unexpected")
        return res
    opts = dict(gwopts)
    dns = None
    if kind == "loadgen-dkim":
        dns, dkim_opts, eml = dkim_setup(a.workdir)
        opts.update(dkim_opts)
        driver = ("loadgen", *driver[1:], "-F", eml)
        kind = "loadgen"
    if kind == "loadgen-auth":
        return auth_run(a, nginx, opts, driver, mode, code)
    if kind == "loadgen-rspamd":
        r = rspamd_for(a)
        opts["extra"] = (f'[spam]\nspam = "enforce"\nrspamd_url = "{r.url}"\n'
                         'spam_failure = "tempfail"\n')
        driver = ("loadgen", *driver[1:], "-F", bench_eml(a.workdir))
        kind = "loadgen"
    try:
        return run_gateway(a, nginx, opts, driver, kind, mode, code)
    finally:
        if dns:
            dns.stop()


def auth_verify(a, zone, opts):
    """Problems in the webhook bodies of two messages per sender domain, sent through a
    gateway with the scenario's options to tests/webhook_sink.py: a benchmark where
    authentication silently fails is worthless."""
    from webhook_sink import Sink
    from authzone import check_payload
    sink = Sink()
    try:
        with Gateway(a.binary, a.workdir, sink.port, **opts) as gw:
            n = 2 * len(zone.files)
            res = loadgen(a.build, gw.port, "-s", 1, "-m", n, *zone.loadgen_args())
            sink.wait_requests(n, timeout=30)
        bodies = sink.payloads()
    finally:
        sink.close()
    problems = [] if len(bodies) == n and res.get("replies") == {"250": n} else [
        f"check run: {len(bodies)} bodies of {n}, replies {res.get('replies')}"]
    for p in bodies:
        problems += check_payload(p, p["envelope"]["mail_from"].rpartition("@")[2])
    return problems


def auth_run(a, nginx, opts, driver, mode, code):
    """An auth scenario: its zone and resolver, the check run, then the measured run with
    the resolver's query counts per message."""
    from authzone import AuthZone
    with AuthZone(a.workdir) as zone:
        opts["extra"] = zone.dns_toml(cache=opts.pop("cache", True))
        opts["auth_on"] = True
        problems = auth_verify(a, zone, dict(opts))
        q0, u0 = zone.client_queries(), zone.upstream_queries()
        driver = ("loadgen", *driver[1:], *zone.loadgen_args())
        res = run_gateway(a, nginx, opts, driver, "loadgen", mode, code)
        n = max(res["messages"], 1)
        res["resolver"] = "unbound" if zone.unbound else "dnslib"
        res["dns_queries_per_msg"] = (zone.client_queries() - q0) / n
        res["upstream_queries_per_msg"] = (zone.upstream_queries() - u0) / n
    if problems:
        res["ok"] = False
        res["problems"] = res.get("problems", []) + problems[:5]
    return res


def run_gateway(a, nginx, opts, driver, kind, mode, code):
    build = a.build
    with Gateway(a.binary, a.workdir, nginx.ports[mode], workers=opts.pop("workers", 2),
                 **opts) as gw:
        before = nginx.posts(mode)
        if kind == "source":
            res = measure(gw, lambda: smtp_source(gw.port, *driver[1:]))
        elif kind == "source-newconn":
            res = measure(gw, lambda: smtp_source(gw.port, *driver[1:], new_conn=True))
        else:
            res = measure(gw, lambda: loadgen(build, gw.port, *driver[1:]))
        res["_posts_before"] = before
        want_posts = res["messages"]
        return check(res, nginx, mode, want_posts, code)


def idle_scenario(a, nginx, n):
    """RSS per idle connection: hold n sessions open after their greeting."""
    with Gateway(a.binary, a.workdir, nginx.ports["ok"]) as gw:
        time.sleep(0.3)
        _, rss0, _ = gw.stat()
        p = subprocess.Popen([str(a.build / "tests" / "bench" / "loadgen"), "-i", str(n),
                              f"127.0.0.1:{gw.port}"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
        ready, _, _ = select.select([p.stdout], [], [], 120)
        line = p.stdout.readline() if ready else ""
        time.sleep(0.5)
        _, rss1, hwm = gw.stat()
        p.stdin.close()
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
        ok = line.strip() == f'{{"idle": {n}, "failed": 0}}'
        per = (rss1 - rss0) * 1024 / n
        return {"messages": 0, "idle": n, "rss_before_mb": rss0 / 1024,
                "rss_after_mb": rss1 / 1024, "bytes_per_conn": per, "ok": ok,
                "problems": [] if ok else [f"only got: {line!r}"]}


def yardstick(results, drivers, sinks, name):
    """The smtp-sink result under the very load of scenario name (same client, sessions and
    message), else under the same client's 20 x 5 KB: (its name, its rate, whether the load
    was the same), or (None, None, False)."""
    driver = drivers[name]
    for sink_name, sink_driver in sinks.items():
        if sink_driver == driver and sink_name in results:
            return sink_name, results[sink_name]["rate"], True
    base = "sink-20x5KB" if driver[0].startswith("source") else "sink-20x5KB-loadgen"
    return (base, results[base]["rate"], False) if base in results else (None, None, False)


def table(results, drivers, sinks):
    """drivers: gateway scenario -> its load; sinks: smtp-sink scenario -> its load. "of sink"
    is over smtp-sink under the same load (yardstick())."""
    print(f"\n{'scenario':24} {'msgs':>7} {'msg/s':>9} {'of sink':>8} {'p50 ms':>8} "
          f"{'p99 ms':>8} {'max ms':>8} {'cpu s/1k':>9} {'peak MB':>8}  ok")
    for name, r in results.items():
        if "idle" in r:
            print(f"{name:24} {r['idle']:>7} idle connections: "
                  f"{r['bytes_per_conn'] / 1024:.1f} KB RSS each  {'ok' if r['ok'] else 'FAIL'}")
            continue
        sink_name, sink_rate, same = yardstick(results, drivers, sinks, name) \
            if name in drivers else (None, None, False)
        frac = f"{r['rate'] / sink_rate:.2f}" if sink_rate else ""
        if sink_rate:
            r["of_sink"], r["yardstick"] = r["rate"] / sink_rate, sink_name
        print(f"{name:24} {r['messages']:>7} {r['rate']:>9.0f} {frac:>8} "
              f"{r.get('p50_ms', float('nan')):>8.2f} {r.get('p99_ms', float('nan')):>8.2f} "
              f"{r.get('max_ms', float('nan')):>8.2f} {r.get('cpu_s_per_1000', float('nan')):>9.3f} "
              f"{r.get('peak_rss_mb', float('nan')):>8.1f}  "
              f"{'ok' if r['ok'] else 'FAIL: ' + '; '.join(r.get('problems', []))}"
              + (f"  dns q/msg {r['dns_queries_per_msg']:.3f} at {r['resolver']}, upstream "
                 f"{r['upstream_queries_per_msg']:.3f}" if "resolver" in r else "")
              + (f"  (of {sink_name}: another load)" if sink_rate and not same else ""))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build", type=pathlib.Path)
    ap.add_argument("--quick", action="store_true", help="smaller counts")
    ap.add_argument("--only", nargs="*", help="scenario names")
    ap.add_argument("--idle", type=int, default=10000)
    a = ap.parse_args()
    a.build = a.build.resolve()
    a.binary = a.build / "gateway" / "smtp-gateway"
    a.workdir = pathlib.Path(tempfile.mkdtemp(prefix="gw-bench-"))
    a.rspamd = None
    deadline = time.monotonic() + 600
    results = {}
    with Nginx(a.build / "bench-nginx") as nginx, SmtpSink(a.workdir) as sink:
        for name, gwopts, driver, mode, code in scenarios(a):
            if a.only and name not in a.only:
                continue
            if time.monotonic() > deadline:
                print(f"{name}: skipped, the suite's 10 minutes are up", file=sys.stderr)
                continue
            try:
                results[name] = run_scenario(a, nginx, sink, name, gwopts, driver, mode, code)
            except Exception as e:  # a scenario that breaks is a failed scenario
                results[name] = {"messages": 0, "rate": 0, "ok": False, "problems": [str(e)]}
            print(f"{name}: {json.dumps(results[name])}", file=sys.stderr)
        if not a.only or "idle" in a.only:
            results[f"idle-{a.idle}"] = idle_scenario(a, nginx, a.idle)
    if getattr(a, "rspamd", None) is not None:
        a.rspamd.stop()
    drivers = {name: driver for name, gwopts, driver, _, _ in scenarios(a) if gwopts is not None}
    sinks = {name: driver for name, gwopts, driver, _, _ in scenarios(a)
             if gwopts is None and name.startswith("sink-")}
    table(results, drivers, sinks)
    out = a.build / "bench.json"
    out.write_text(json.dumps(results, indent=2))
    print(f"\nresults: {out}")
    shutil.rmtree(a.workdir, ignore_errors=True)
    return 0 if all(r["ok"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
