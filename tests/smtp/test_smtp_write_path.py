"""Replies on a plain socket are written straight to it, not from a write event.

libevent writes a bufferevent's output from the write event: each reply armed
EPOLLOUT (epoll_ctl), waited for it (epoll_wait) and disarmed it (epoll_ctl)
before its writev. The session now writes a reply itself when its output
buffer is empty (gateway/smtp/smtp_conn.c smtp_session_flush), so a plain
session with nothing backed up never registers EPOLLOUT. Counted with strace
(counts, not timings); skipped where strace cannot attach. Back-pressure
(output_high_water) and pipelined groups in one write are
test_smtp_data.py's.
"""
import pytest

from smtp_harness import STRACE, Client, strace_attach


def attach(pid, out):
    return strace_attach(pid, out, "epoll_ctl,writev,write")


@pytest.mark.skipif(not STRACE, reason="strace is not installed")
def test_plain_replies_need_no_write_event(start_gateway, tmp_path):
    gw = start_gateway({"server.workers": "1"})
    c = Client(gw.connect())
    assert c.reply()[0] == 220
    out = tmp_path / "strace.txt"
    st = attach(gw.proc.pid, out)
    try:
        c.send(b"EHLO client.test\r\n")
        assert c.reply()[0] == 250
        n = 10
        for i in range(n):  # one command at a time, as smtp-source sends them
            for cmd, code in ((b"MAIL FROM:<a@client.test>", 250),
                              (b"RCPT TO:<a@example.com>", 250), (b"DATA", 354),
                              (b"Subject: %d\r\n\r\nbody\r\n." % i, 250)):
                c.send(cmd + b"\r\n")
                assert c.reply()[0] == code
        c.send(b"QUIT\r\n")
        assert c.reply()[0] == 221
    finally:
        st.terminate()
        st.wait(timeout=10)
    lines = out.read_text().splitlines()
    replies = [ln for ln in lines if "writev(" in ln or ("write(" in ln and '"2' in ln)]
    armed = [ln for ln in lines if "epoll_ctl(" in ln and "EPOLLOUT" in ln]
    assert len(replies) >= 4 * n + 2, lines[:40]
    assert armed == [], armed[:10]


@pytest.mark.skipif(not STRACE, reason="strace is not installed")
def test_cached_checks_answer_without_watching(tmp_path, sink, gateways):
    """With sender authentication on and every answer in the caches, the checks end
    inside the end of data: the session answers then, without registering for the
    client's FIN (EPOLLRDHUP) and removing it again, two epoll_ctl per message."""
    from dnsserver import DNSServer
    from gwdaemon import gateway_config
    zone = {"client.test": [("TXT", "v=spf1 ip4:127.0.0.1 -all")],
            "_dmarc.client.test": [("TXT", "v=DMARC1; p=none")]}
    with DNSServer(zone) as dns:
        gw = gateways.start(lambda port: gateway_config(
            port, [{"match": "*@example.com", "url": sink.url()}], dns={"servers": [dns.address]},
            auth={"spf": "annotate", "dkim": "annotate", "dmarc": "annotate",
                  "arc": "annotate"}))
        msg = b"From: a@client.test\r\nTo: x@example.com\r\nSubject: t\r\n\r\nbody\r\n"
        with gw.smtp() as c:
            c.sendmail("a@client.test", ["x@example.com"], msg)  # fills the caches
            out = tmp_path / "strace.txt"
            st = attach(gw.proc.pid, out)
            try:
                for _ in range(10):
                    assert c.sendmail("a@client.test", ["x@example.com"], msg) == {}
            finally:
                st.terminate()
                st.wait(timeout=10)
    assert sink.wait_requests(11) == 11
    import json
    assert [json.loads(r.body)["auth"]["spf"]["result"] for r in sink.requests] == ["pass"] * 11
    watched = [ln for ln in out.read_text().splitlines()
               if "epoll_ctl(" in ln and "EPOLLRDHUP" in ln and "EPOLL_CTL_DEL" not in ln]
    assert watched == [], watched[:10]
