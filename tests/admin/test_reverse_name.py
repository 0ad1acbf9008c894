"""envelope.client.reverse_name (issue 13): the client's PTR name, confirmed
forward (FCrDNS), looked up through gateway/dns while the session runs; null
when there is no PTR, when the name does not lead back to the address, or
when DNS fails. Clients come through a PROXY header so that their addresses
are not loopback (loopback is never looked up)."""
import json
import pathlib
import socket
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from admin_lib import Daemon, Sink, wait_for  # noqa: E402
from dnsserver import DNSServer  # noqa: E402
from gwdaemon import gateway_config, toml_text  # noqa: E402

ZONE = {
    # confirmed: PTR -> name -> the same address
    "7.2.0.192.in-addr.arpa": [("PTR", "mail.client.test")],
    "mail.client.test": [("A", "192.0.2.7")],
    # a PTR whose name points elsewhere
    "8.2.0.192.in-addr.arpa": [("PTR", "liar.client.test")],
    "liar.client.test": [("A", "198.51.100.1")],
    # several PTR names, the second confirms
    "9.2.0.192.in-addr.arpa": [("PTR", "first.client.test"), ("PTR", "second.client.test")],
    "second.client.test": [("A", "192.0.2.9")],
    # IPv6
    "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa":
        [("PTR", "v6.client.test")],
    "v6.client.test": [("AAAA", "2001:db8::1")],
    # 192.0.2.10 has no PTR; 192.0.2.11's PTR times out
}


def config(sink, dns, lookup=True, spam=None):
    doc = gateway_config("@SMTP@", [{"match": "*@good.test", "url": sink.url("/200")}],
                         hostname="mx.test",
                         server={"log_level": "debug", "log_trace": ["smtp"]},
                         admin={"address": "127.0.0.1:@ADMIN@"},
                         dns={"servers": [dns.address], "timeout": "300ms", "tries": 1,
                              "reverse_lookup": lookup})
    doc["listener"][0].update(proxy_protocol=True, proxy_trusted=["127.0.0.1"])
    if spam:
        doc["spam"] = spam
    return toml_text(doc)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    sink = Sink()
    dns = DNSServer(ZONE, timeout=["11.2.0.192.in-addr.arpa"])
    dns.start()
    d = Daemon(tmp_path_factory.mktemp("rdns"), config(sink, dns))
    yield d, sink, dns
    d.stop()
    dns.stop()
    sink.close()


def converse(sock, line):
    sock.sendall(line + b"\r\n")
    buf = b""
    while not buf.endswith(b"\r\n") or buf.split(b"\r\n")[-2][3:4] == b"-":
        chunk = sock.recv(4096)
        assert chunk, buf
        buf += chunk
    return buf


def deliver_from(d, sink, ip, wait_line):
    fam = "TCP6" if ":" in ip else "TCP4"
    dst = "::1" if ":" in ip else "127.0.0.1"
    n = len(sink.requests)
    with socket.create_connection(("127.0.0.1", d.port), timeout=10) as s:
        s.sendall(f"PROXY {fam} {ip} {dst} 40000 25\r\n".encode())
        assert s.recv(512).startswith(b"220")
        # the lookup runs beside the session: wait for its end before the message
        assert wait_for(lambda: wait_line in d.log()), d.log()[-2000:]
        assert converse(s, b"EHLO client.test").startswith(b"250")
        assert converse(s, b"MAIL FROM:<a@sender.test>").startswith(b"250")
        assert converse(s, b"RCPT TO:<x@good.test>").startswith(b"250")
        assert converse(s, b"DATA").startswith(b"354")
        assert converse(s, b"Subject: r\r\n\r\nhello\r\n.").startswith(b"250")
    assert wait_for(lambda: len(sink.requests) > n)
    return json.loads(sink.requests[n].body)["envelope"]["client"]


@pytest.mark.parametrize("ip,line,name", [
    ("192.0.2.7", "reverse name of 192.0.2.7: mail.client.test", "mail.client.test"),
    ("192.0.2.9", "reverse name of 192.0.2.9: second.client.test", "second.client.test"),
    ("2001:db8::1", "reverse name of 2001:db8::1: v6.client.test", "v6.client.test"),
    ("192.0.2.8", "reverse name of 192.0.2.8: none confirmed", None),
    ("192.0.2.10", "reverse name of 192.0.2.10: none confirmed", None),
    ("192.0.2.11", "reverse name of 192.0.2.11: none confirmed", None),
])
def test_reverse_name(world, ip, line, name):
    d, sink, _ = world
    client = deliver_from(d, sink, ip, line)
    assert client["ip"] == ip
    assert client["reverse_name"] == name


def test_off_means_no_query(tmp_path):
    sink = Sink()
    dns = DNSServer(ZONE)
    dns.start()
    d = Daemon(tmp_path, config(sink, dns, lookup=False))
    try:
        client = deliver_from(d, sink, "192.0.2.7", "connect ip=192.0.2.7")
        assert client["reverse_name"] is None
        assert dns.count() == 0
    finally:
        d.stop()
        dns.stop()
        sink.close()


@pytest.mark.parametrize("ip,line,hostname", [
    ("192.0.2.7", "reverse name of 192.0.2.7: mail.client.test", ["mail.client.test"]),
    ("192.0.2.8", "reverse name of 192.0.2.8: none confirmed", []),
])
def test_rspamd_gets_the_verified_name(tmp_path, ip, line, hostname):
    """rspamd's Hostname header is the forward-confirmed name, and absent without
    one (a wrong name would mislead its checks; absent, it scores RDNS_NONE)."""
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "spam"))
    from rspamd_standin import RspamdStandin

    sink, standin = Sink(), RspamdStandin()
    dns = DNSServer(ZONE)
    dns.start()
    spam = {"spam": "annotate", "rspamd_url": f"{standin.url}/"}
    d = Daemon(tmp_path, config(sink, dns, spam=spam))
    try:
        deliver_from(d, sink, ip, line)
        h = standin.headers_of(0)
        assert [v for k, v in h if k.lower() == "hostname"] == hostname
        assert [v for k, v in h if k.lower() == "ip"] == [ip]
    finally:
        d.stop()
        dns.stop()
        sink.close()
        standin.close()
