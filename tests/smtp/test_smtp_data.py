"""DATA and BDAT content: exact bytes delivered (dot-unstuffing, Received:),
the SMTP smuggling end-of-data sequences, bare newline policies, the spill
to a temporary file."""
import re

import pytest
import yaml

from smtp_harness import TESTDATA

SMUGGLING = yaml.safe_load((TESTDATA / "smtp" / "smuggling-eod-sequences.yaml").read_text())


def open_tx(c, rcpt="someone@example.com", ehlo=b"EHLO client.test\r\n"):
    assert c.reply()[0] == 220
    c.send(ehlo + b"MAIL FROM:<a@client.test>\r\nRCPT TO:<" + rcpt.encode() + b">\r\nDATA\r\n")
    assert [c.reply()[0] for _ in range(4)] == [250, 250, 250, 354]


def test_exact_bytes_and_unstuffing(gateway, client_of):
    c = client_of(gateway)
    open_tx(c)
    body = b"Subject: dots\r\n\r\n..leading dot\r\n...two\r\n.\r\n"
    c.send(body)
    assert c.reply()[0] == 250
    (env, msg), = gateway.deliveries()
    received, rest = msg.split(b"\r\n", 1)[0], msg
    assert received.startswith(b"Received: from client.test ([127.0.0.1])")
    # The Received: header is the only thing added; the rest is unstuffed.
    m = re.match(rb"Received: .*?;\r\n\t[^\r\n]+\r\n", rest, re.S)
    assert m, msg
    assert rest[m.end():] == b"Subject: dots\r\n\r\n.leading dot\r\n..two\r\n"
    assert b"with ESMTP id " in msg and b"for <someone@example.com>" in msg
    assert env["mail_from"] == "a@client.test"
    assert env["rcpts"] == ["someone@example.com"]
    assert env["helo"] == "client.test" and env["esmtp"] is True
    assert env["size"] == len(b"Subject: dots\r\n\r\n.leading dot\r\n..two\r\n")
    assert env["client_ip"] == "127.0.0.1"


def test_helo_protocol_and_no_for_with_two_rcpts(gateway, client_of):
    c = client_of(gateway)
    assert c.reply()[0] == 220
    c.send(b"HELO old.test\r\nMAIL FROM:<a@client.test>\r\nRCPT TO:<a@example.com>\r\n"
           b"RCPT TO:<b@example.com>\r\nDATA\r\n")
    assert [c.reply()[0] for _ in range(5)] == [250, 250, 250, 250, 354]
    c.send(b"x\r\n.\r\n")
    assert c.reply()[0] == 250
    (env, msg), = gateway.deliveries()
    assert b"with SMTP id" in msg and b" for <" not in msg.split(b"\r\n\r\n")[0][:300]
    assert env["esmtp"] is False and len(env["rcpts"]) == 2


@pytest.mark.parametrize("seq", SMUGGLING["sequences"], ids=lambda s: s["id"])
def test_smuggling_sequence_never_splits(seq, gateway, client_of):
    """Inject the sequence, then a pipelined second transaction (as the tools do):
    exactly one reply for the whole thing, never a 250 for the smuggled MAIL."""
    raw = bytes.fromhex(seq["hex"])
    assert raw == seq["bytes"].encode("latin-1")
    c = client_of(gateway)
    open_tx(c)
    smuggled = (b"mail FROM:<smuggled@client.test>\r\nrcpt TO:<someone@example.com>\r\n"
                b"data\r\nSubject: smuggled\r\n\r\nsmuggled body\r\n")
    c.send(b"Subject: first\r\n\r\nTESTING as fake end-of-data sequence!" + raw +
           smuggled + b"\r\n.\r\n")
    code, line, _ = c.reply()
    # Bare CR/LF: refused; NUL variants: one message holding the smuggled text.
    assert code in (250, 550), line
    c.send(b"NOOP\r\n")
    assert c.reply()[1].startswith("250 2.0.0 Ok"), "a smuggled command was answered"
    deliveries = gateway.deliveries()
    assert len(deliveries) == (1 if code == 250 else 0)
    if code == 550:
        assert line.startswith("550 5.5.2")
    else:
        assert b"mail FROM:<smuggled@client.test>" in deliveries[0][1]


@pytest.mark.parametrize("seq", SMUGGLING["sequences"], ids=lambda s: s["id"])
def test_smuggling_sequence_normalized_is_one_message(seq, start_gateway, client_of):
    gw = start_gateway({"limits.bare_newlines": '"normalize"'})
    c = client_of(gw)
    open_tx(c)
    raw = bytes.fromhex(seq["hex"])
    c.send(b"Subject: first\r\n\r\nbefore" + raw + b"mail FROM:<smuggled@client.test>\r\n"
           b"after\r\n.\r\n")
    code, line, _ = c.reply()
    assert code == 250, line
    c.send(b"NOOP\r\n")
    assert c.reply()[1].startswith("250 2.0.0 Ok")
    (env, msg), = gw.deliveries()
    body = msg.split(b"\r\n\r\n", 1)[1]
    assert b"mail FROM:<smuggled@client.test>" in body
    # Normalised: no bare CR or LF is left in what is delivered.
    assert b"\n" not in body.replace(b"\r\n", b"") and b"\r" not in body.replace(b"\r\n", b"")


def test_pipelined_second_transaction_is_legitimate(gateway, client_of):
    """smtpsmug 'pipelining': with PIPELINING advertised, a second transaction sent
    right after CRLF.CRLF is a separate message (two deliveries, two replies)."""
    c = client_of(gateway)
    open_tx(c)
    c.send(b"Subject: one\r\n\r\none\r\n.\r\nMAIL FROM:<b@client.test>\r\n"
           b"RCPT TO:<x@example.com>\r\nDATA\r\nSubject: two\r\n\r\ntwo\r\n.\r\n")
    assert [c.reply()[0] for _ in range(5)] == [250, 250, 250, 354, 250]
    msgs = [m for _, m in gateway.deliveries()]
    assert len(msgs) == 2 and msgs[0].endswith(b"one\r\n") and msgs[1].endswith(b"two\r\n")


def test_spill_to_file_keeps_bytes(start_gateway, client_of):
    gw = start_gateway({"limits.memory_threshold": '"4KB"'})
    c = client_of(gw)
    open_tx(c)
    lines = [(b"%06d " % i) + b"y" * 70 for i in range(3000)]
    body = b"Subject: big\r\n\r\n" + b"\r\n".join(lines) + b"\r\n"
    c.send(body + b".\r\n")
    assert c.reply(timeout=20)[0] == 250
    (env, msg), = gw.deliveries()
    assert msg.endswith(body) and env["size"] == len(body)
    assert gw.wait_log("limit memory_threshold=4096: message spilled to a file")


def test_bdat_exact_bytes(gateway, client_of):
    c = client_of(gateway)
    assert c.reply()[0] == 220
    c.send(b"EHLO client.test\r\nMAIL FROM:<a@client.test>\r\nRCPT TO:<a@example.com>\r\n")
    assert [c.reply()[0] for _ in range(3)] == [250, 250, 250]
    part1 = b"Subject: chunks\r\n\r\n.not unstuffed\r\n"
    part2 = b"binary\x00ok\r\n"
    c.send(b"BDAT %d\r\n" % len(part1) + part1 + b"BDAT %d LAST\r\n" % len(part2) + part2)
    assert c.reply()[1].startswith("250 2.0.0")
    assert c.reply()[0] == 250
    (env, msg), = gateway.deliveries()
    assert msg.endswith(part1 + part2)
    assert env["size"] == len(part1 + part2)


def test_bdat_bare_lf_rejected_across_chunks(gateway, client_of):
    c = client_of(gateway)
    assert c.reply()[0] == 220
    c.send(b"EHLO client.test\r\nMAIL FROM:<a@client.test>\r\nRCPT TO:<a@example.com>\r\n")
    assert [c.reply()[0] for _ in range(3)] == [250, 250, 250]
    # CR at the end of one chunk and LF at the start of the next is a CRLF.
    c.send(b"BDAT 3\r\nab\rBDAT 4 LAST\r\n\nc\r\n")
    assert c.reply()[0] == 250
    assert c.reply()[0] == 250
    assert len(gateway.deliveries()) == 1
    c.send(b"MAIL FROM:<a@client.test>\r\nRCPT TO:<a@example.com>\r\nBDAT 4 LAST\r\na\nb\r\n")
    assert [c.reply()[0] for _ in range(3)] == [250, 250, 550]
    assert len(gateway.deliveries()) == 1


def test_backpressure_client_that_does_not_read(start_gateway):
    """Pipelined HELPs from a client that reads nothing for a while (small receive
    buffer): the server stops reading at its output high-water mark (the log and the
    counter say so) instead of buffering without bound, then answers all. Replies go
    straight to the socket while it takes them, so the kernel's send buffer (up to
    tcp_wmem's maximum) fills first: the replies are made to outgrow it."""
    import socket
    import threading
    import time
    from smtp_harness import Client
    gateway = start_gateway({"limits.output_high_water": '"4KB"'})
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.connect(("127.0.0.1", gateway.port))
    c = Client(raw)
    try:
        assert c.reply()[0] == 220
        with open("/proc/sys/net/ipv4/tcp_wmem") as f:
            wmem_max = int(f.read().split()[2])
        n = 3 * wmem_max // 2 // 80 + 2000  # HELP's reply is about 90 octets
        sender = threading.Thread(target=c.send, args=(b"HELP\r\n" * n,))
        sender.start()
        assert gateway.wait_log("limit output_high_water: reading paused", timeout=10)
        time.sleep(0.2)
        got = 0
        while got < n:
            assert c.reply(timeout=20)[0] == 214
            got += 1
        sender.join(timeout=20)
        assert not sender.is_alive()
    finally:
        c.close()
    gateway.stop()
    paused = [ln for ln in gateway.log().splitlines() if "counters " in ln][0]
    assert " paused_output_high_water=0 " not in paused + " ", paused


def test_spill_failure_is_451(start_gateway, client_of, tmp_path):
    gw = start_gateway({"limits.memory_threshold": '"4KB"'},
                       env={"TMPDIR": str(tmp_path / "does-not-exist")})
    c = client_of(gw)
    open_tx(c)
    c.send(b"Subject: x\r\n\r\n" + (b"z" * 70 + b"\r\n") * 200 + b".\r\n")
    assert c.reply()[1].startswith("451 4.3.0")
    assert gw.wait_log("message store failed")
    assert gw.deliveries() == []


def test_received_header_filters_helo(gateway, client_of):
    c = client_of(gateway)
    open_tx(c, ehlo=b"EHLO evil(name)\r\n")
    c.send(b"x\r\n.\r\n")
    assert c.reply()[0] == 250
    (env, msg), = gateway.deliveries()
    assert msg.startswith(b"Received: from evil?name? ([127.0.0.1])")
    assert env["helo"] == "evil(name)"


def test_pipelined_replies_leave_in_one_write(gateway, client_of):
    """RFC 2920: the replies to a pipelined group are batched: on loopback one
    write arrives as one segment, so a single recv() holds all of them."""
    c = client_of(gateway)
    assert c.reply()[0] == 220
    c.send(b"EHLO client.test\r\n")
    assert c.reply()[0] == 250
    c.send(b"MAIL FROM:<a@client.test>\r\nRCPT TO:<a@example.com>\r\n"
           b"RCPT TO:<b@example.com>\r\nDATA\r\n")
    c.sock.settimeout(5)
    first = c.sock.recv(65536)
    assert first.count(b"\r\n") == 4, first
    assert first.startswith(b"250 2.1.0") and first.endswith(b"354 End data with <CR><LF>.<CR><LF>\r\n")


@pytest.mark.parametrize("bdat", [False, True])
def test_data_deadline_stops_a_trickling_client(bdat, start_gateway, client_of):
    """One octet every 0.3 s never lets data_timeout (1 s) run out; data_deadline (2 s)
    ends the phase with 421 4.4.2 however the content trickles."""
    import time
    gw = start_gateway({"limits.data_timeout": '"1s"', "limits.data_deadline": '"2s"'})
    c = client_of(gw)
    assert c.reply()[0] == 220
    c.send(b"EHLO client.test\r\nMAIL FROM:<a@client.test>\r\nRCPT TO:<a@example.com>\r\n" +
           (b"BDAT 100 LAST\r\n" if bdat else b"DATA\r\n"))
    assert [c.reply()[0] for _ in range(3)] == [250, 250, 250]
    if not bdat:
        assert c.reply()[0] == 354
    start = time.monotonic()
    for _ in range(30):  # 9 s at most
        try:
            c.send(b"x")
        except OSError:
            break
        if c.closed(timeout=0.3):
            break
    assert time.monotonic() - start < 6
    assert c.buf.startswith(b"421 4.4.2"), c.buf
    assert gw.wait_log("limit data_deadline=2000ms exceeded")
    gw.stop()
    assert "timeouts=1" in gw.log()


@pytest.mark.parametrize("bdat", [False, True])
def test_data_deadline_stops_a_client_that_never_pauses(bdat, start_gateway, client_of):
    """A client that sends content as fast as it can, with no pause for the
    data_timeout timer to fire in, still gets 421 4.4.2 at data_deadline: the
    deadline is checked on every read, not only when the timer runs. The bound
    (10 s for a 2 s deadline) is a hang bound; the octets are printed."""
    import threading
    import time
    gw = start_gateway({"limits.data_deadline": '"2s"', "limits.max_message_size": '"1MB"'})
    c = client_of(gw)
    assert c.reply()[0] == 220
    size = 1 << 40  # one BDAT chunk that never ends either
    c.send(b"EHLO client.test\r\nMAIL FROM:<a@client.test>\r\nRCPT TO:<a@example.com>\r\n" +
           (b"BDAT %d LAST\r\n" % size if bdat else b"DATA\r\n"))
    assert [c.reply()[0] for _ in range(3)] == [250, 250, 250]
    if not bdat:
        assert c.reply()[0] == 354
    # 64 KB of bare LFs: never an end of data, and the slowest octets for the
    # decoder, so the daemon (not this client) is the bottleneck: its socket
    # never runs dry, and a timer that only fires in a pause never fires.
    chunk = b"\n" * 65536
    stop, sent, lock = threading.Event(), [0], threading.Lock()
    start = time.monotonic()

    def writer():
        try:
            for _ in range(1 << 18):  # bounded: 16 GB, or 15 s
                if stop.is_set() or time.monotonic() - start > 15:
                    return
                c.sock.sendall(chunk)
                with lock:
                    sent[0] += len(chunk)
        except OSError:
            pass
    # Two writers keep the daemon's socket readable all the time.
    ts = [threading.Thread(target=writer, daemon=True) for _ in range(2)]
    c.sock.settimeout(40)
    for t in ts:
        t.start()
    try:
        code, text, _ = c.reply(timeout=40)
    finally:
        took = time.monotonic() - start
        stop.set()
        for t in ts:
            t.join(40)
    print(f"421 after {took:.1f} s, {sent[0] >> 20} MB sent")
    assert (code, text[:9]) == (421, "421 4.4.2"), text
    assert took < 10, f"the deadline was only seen after {took:.1f} s"
    assert gw.wait_log("limit data_deadline=2000ms exceeded")
    m = re.search(r"limit data_deadline=2000ms exceeded ip=\S+ octets=(\d+)", gw.log())
    print(f"octets accepted before the 421: {int(m.group(1)) >> 20} MB")
    assert int(m.group(1)) <= sent[0]


def test_max_delivery_memory_refuses_data_and_bdat(start_gateway, client_of):
    """While the deliveries in flight hold max_delivery_memory (the double
    holds 1 MB per delivery; one hangs), DATA and the first BDAT get 451 4.3.1
    at once, before any content; the transaction stays and the session goes
    on; once nothing is held, DATA gets 354 again."""
    import signal
    gw = start_gateway({"limits.max_delivery_memory": '"1MB"', "limits.drain_timeout": '"1s"'})
    a = client_of(gw)
    assert a.reply()[0] == 220
    a.send(b"EHLO client.test\r\nMAIL FROM:<a@client.test>\r\nRCPT TO:<x@hang.test>\r\n"
           b"DATA\r\nSubject: held\r\n\r\nx\r\n.\r\n")
    assert [a.reply()[0] for _ in range(4)] == [250, 250, 250, 354]
    assert gw.wait_log("message submitted")  # its answer never comes: 1 MB held
    b = client_of(gw)
    assert b.reply()[0] == 220
    b.send(b"EHLO client.test\r\nMAIL FROM:<a@client.test>\r\nRCPT TO:<a@example.com>\r\n"
           b"DATA\r\n")
    assert [b.reply()[0] for _ in range(3)] == [250, 250, 250]
    assert b.reply()[1].startswith("451 4.3.1")
    # BDAT: the chunk is read (never taken for commands), then 451 4.3.1
    b.send(b"BDAT 12 LAST\r\nNOOP\r\nNOOP\r\nNOOP\r\n")
    assert b.reply()[1].startswith("451 4.3.1")
    assert b.reply()[1].startswith("250")  # the NOOP after the chunk: in sync
    assert "limit max_delivery_memory=1048576 reached at DATA" in gw.log()
    assert len(gw.deliveries()) == 1  # only the held one
    gw.signal(signal.SIGTERM)
    assert gw.proc.wait(timeout=10) == 0
    assert "refused_max_delivery_memory_at_data=2" in gw.log()


def test_data_accepted_when_delivery_memory_is_free(start_gateway, client_of):
    """The other side of the DATA-time check: the same budget, nothing held
    (each delivery answered), every DATA gets 354."""
    gw = start_gateway({"limits.max_delivery_memory": '"1MB"'})
    c = client_of(gw)
    assert c.reply()[0] == 220
    c.send(b"EHLO client.test\r\n")
    assert c.reply()[0] == 250
    for _ in range(3):
        c.send(b"MAIL FROM:<a@client.test>\r\nRCPT TO:<a@example.com>\r\nDATA\r\n")
        assert [c.reply()[0] for _ in range(3)] == [250, 250, 354]
        c.send(b"Subject: free\r\n\r\nx\r\n.\r\n")
        assert c.reply()[0] == 250
    assert len(gw.deliveries()) == 3
