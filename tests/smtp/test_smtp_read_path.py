"""A plain session reads what has arrived in one go, not 4 KB per wake-up.

libevent 2.1 reads at most 4096 bytes per read event, each after an FIONREAD
ioctl: a message already in the socket's queue cost one epoll_wait, one ioctl
and one readv per 4 KB. When libevent's read filled that cap, the session now
takes the rest itself, one readv per 64 KB step, up to input_high_water
(gateway/smtp/smtp_session.c top_up_input). Counted with strace (counts, not
timings); skipped where strace cannot attach. The bytes must arrive intact.
"""
import re
import socket
import struct
import time

import pytest

from smtp_harness import STRACE, Client, strace_attach

SIZE = 256 * 1024


def message(size):
    lines = [b"Subject: big\r\n\r\n"]
    n = 0
    while sum(map(len, lines)) < size:
        lines.append(b"line %06d abcdefghijklmnopqrstuvwxyz0123456789\r\n" % n)
        n += 1
    return b"".join(lines)


def send_one(gw, tmp_path, body):
    """Sends body in one write after DATA's 354; (strace lines of the session's reads)."""
    c = Client(gw.connect())
    assert c.reply()[0] == 220
    c.send(b"EHLO client.test\r\nMAIL FROM:<a@client.test>\r\nRCPT TO:<x@example.com>\r\n"
           b"DATA\r\n")
    assert [c.reply()[0] for _ in range(4)] == [250, 250, 250, 354]
    out = tmp_path / "strace.txt"
    st = strace_attach(gw.proc.pid, out, "ioctl,readv,read")
    try:
        c.send(body + b".\r\n")
        assert c.reply(timeout=30)[0] == 250
    finally:
        st.terminate()
        st.wait(timeout=10)
    c.send(b"QUIT\r\n")
    assert c.reply()[0] == 221
    (env, msg), = gw.deliveries()
    assert msg.endswith(b"\r\n" + body), "the message arrived changed"
    return out.read_text().splitlines()


def read_sizes(lines):
    return [int(m.group(1)) for ln in lines
            if (m := re.search(r"readv?\(.*\) = (\d+)$", ln))]


@pytest.mark.skipif(not STRACE, reason="strace is not installed")
def test_queued_message_is_read_in_few_calls(start_gateway, tmp_path):
    gw = start_gateway({"server.workers": "1", "limits.input_high_water": '"1MB"'})
    lines = send_one(gw, tmp_path, message(SIZE))
    wakeups = [ln for ln in lines if "FIONREAD" in ln]  # one per libevent read
    sizes = read_sizes(lines)
    assert sum(sizes) >= SIZE
    # 4 KB per wake-up would be 64 of them; reads of the queue take far fewer.
    assert len(wakeups) <= SIZE // 4096 // 4, (len(wakeups), sizes[:40])
    assert max(sizes) > 4096, sizes[:40]


def read_requests(lines):
    """What each readv asked for (the sum of its iov_len)."""
    return [sum(int(n) for n in re.findall(r"iov_len=(\d+)", ln)) for ln in lines
            if ln.split("(", 1)[0].endswith("readv")]


@pytest.mark.skipif(not STRACE, reason="strace is not installed")
def test_reads_stay_within_input_high_water(start_gateway, tmp_path):
    """The session's own reads never hold more unread input than the bound allows: they
    come after libevent's 4 KB read and ask for the bound less what is held (at most
    16 KB - 4 KB here), where one that ignored what is held would ask for 16 KB."""
    cap = 16 * 1024
    gw = start_gateway({"server.workers": "1", "limits.input_high_water": '"16KB"'})
    lines = send_one(gw, tmp_path, message(SIZE))
    sizes, asked = read_sizes(lines), read_requests(lines)
    assert sum(sizes) >= SIZE
    assert max(sizes) <= cap, max(sizes)
    ours = [n for n in asked if n > 4096]
    assert ours and max(ours) <= cap - 4096, asked[:40]


def test_reset_during_data_is_a_connection_error(start_gateway):
    """A client that resets its connection mid-DATA: the session's own read may take the
    reset from the socket (which reports it once); it is still logged as the connection
    error it is, not as an orderly end, and the session goes."""
    import socket
    import struct
    gw = start_gateway({"server.workers": "1"})
    for _ in range(3):  # the reset lands before, during or after the session's reads
        sock = gw.connect()
        c = Client(sock)
        assert c.reply()[0] == 220
        c.send(b"EHLO client.test\r\nMAIL FROM:<a@client.test>\r\nRCPT TO:<x@example.com>\r\n"
               b"DATA\r\n")
        assert [c.reply()[0] for _ in range(4)] == [250, 250, 250, 354]
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.send(message(SIZE))
        sock.close()  # RST: unread bytes on our side, linger 0
    for _ in range(500):  # bounded: 10 s
        if gw.log().count("connection error") >= 3:
            break
        time.sleep(0.02)
    assert gw.log().count("connection error") == 3, gw.tail()
    assert not gw.deliveries()  # nothing half-received was delivered
