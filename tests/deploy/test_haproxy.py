"""examples/haproxy/haproxy.cfg run by Debian's haproxy in front of two
gateways on loopback (its addresses rewritten, and maxconn lowered to what a
test machine's file limit allows): the client's
address crosses HAProxy in the PROXY v2 header and reaches the payload as
envelope.client.ip, and the connections spread over both gateways."""
import re
import shutil
import smtplib
import subprocess

import pytest

from deploy_lib import BIN, Gateway, Receiver, message
from gwdaemon import Process, gateway_config, listening, toml_text
from gwpaths import ROOT, free_port

EXAMPLE = ROOT / "examples" / "haproxy" / "haproxy.cfg"
CLIENT_IP = "127.0.0.2"  # the sender; HAProxy itself connects from 127.0.0.1
MESSAGES = 12



def gateway(name, url, admin_port):
    """The config text of one of the two gateways ({port}: its SMTP port)."""
    doc = gateway_config("{port}", [{"match": "*@example.test", "url": url,
                                     "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}],
                         hostname=f"{name}.example.test")
    # HAProxy only: 127.0.0.2 may not claim an address
    doc["listener"][0].update(proxy_protocol=True, proxy_trusted=["127.0.0.1/32"])
    if admin_port:
        doc["admin"] = {"address": f"127.0.0.1:{admin_port}"}
    return toml_text(doc)


def admin_supported(tmp_path):
    """Whether this build has the [admin] listener (/readyz), which the example's
    health check asks; without it the check falls back to a TCP connect."""
    cfg = tmp_path / "admin-probe.toml"
    cfg.write_text('[admin]\naddress = "127.0.0.1:1"\n[[listener]]\naddress = "127.0.0.1:1"\n')
    return subprocess.run([str(BIN), "check", "-c", str(cfg)], capture_output=True,
                          timeout=60).returncode == 0


def haproxy_config(front, backends, admin):
    """The example with loopback addresses. backends: [(smtp port, admin port or None)]."""
    text = EXAMPLE.read_text()
    assert "send-proxy-v2" in text and "bind :25" in text
    text = text.replace("bind :25", f"bind 127.0.0.1:{front}")
    text = re.sub(r"^    maxconn \d+$", "    maxconn 200", text, flags=re.M)
    servers = re.findall(r"^    server (\S+) \S+$", text, re.M)
    assert len(servers) == len(backends), servers
    for name, (smtp, adm) in zip(servers, backends):
        port = f" port {adm}" if admin else ""
        text = re.sub(rf"^    server {name} \S+$", f"    server {name} 127.0.0.1:{smtp}{port}",
                      text, flags=re.M)
    # One health-check port per gateway here (they share an address), set above.
    text = text.replace(" check port 9025", " check")
    if not admin:
        text = re.sub(r"^    (option httpchk|http-check) .*\n", "", text, flags=re.M)
    return text


@pytest.fixture
def stack(tmp_path):
    if not shutil.which("haproxy"):
        pytest.skip("haproxy is not installed (Debian package haproxy, scripts/packages.txt)")
    admin = admin_supported(tmp_path)
    rx = Receiver()
    gws, backends = [], []
    try:
        for name in ("gw1", "gw2"):
            adm = free_port() if admin else None
            gws.append(Gateway(tmp_path, gateway(name, rx.url(f"/{name}"), adm), name))
            backends.append((gws[-1].port, adm))
        front = free_port()
        cfg = tmp_path / "haproxy.cfg"
        cfg.write_text(haproxy_config(front, backends, admin))
        check = subprocess.run(["haproxy", "-c", "-f", str(cfg)], capture_output=True,
                               text=True, timeout=60)
        assert check.returncode == 0, check.stdout + check.stderr
        with Process(["haproxy", "-db", "-f", cfg], tmp_path / "haproxy.log", port=front,
                     ready=listening):
            yield front, rx, gws
    finally:
        for g in gws:
            g.stop()
        rx.close()


def test_client_address_and_load_spread(stack):
    front, rx, gws = stack
    for i in range(MESSAGES):
        with smtplib.SMTP("127.0.0.1", front, timeout=30,
                          source_address=(CLIENT_IP, 0)) as s:
            s.ehlo("client.sender.test")
            s.sendmail("alice@sender.test", ["hello@example.test"], message(i))
    posts = rx.wait_posts(MESSAGES)
    assert len(posts) == MESSAGES
    for path, body in posts:
        # The TCP peer of every gateway was HAProxy (127.0.0.1); the payload has the sender.
        assert body["envelope"]["client"]["ip"] == CLIENT_IP, body["envelope"]["client"]
        assert body["envelope"]["helo"] == "client.sender.test"
    per_gateway = {p: sum(1 for q, _ in posts if q == p) for p in ("/gw1", "/gw2")}
    # leastconn over sequential sessions alternates; each gets a fair share.
    assert min(per_gateway.values()) >= MESSAGES // 4, per_gateway
    for g in gws:
        assert g.stop() == 0
