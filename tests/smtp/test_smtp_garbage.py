"""Robustness: seeded random streams of SMTP fragments (commands, bare CR/LF,
dots, BDAT sizes, NULs, long lines) against one gateway. It must answer a
clean session afterwards and exit 0 on SIGTERM without a sanitizer report
(checked by the fixture's teardown)."""
import socket

from smtp_harness import Client
import gwrandom

FRAGMENTS = [
    b"EHLO x\r\n", b"HELO y\r\n", b"MAIL FROM:<a@client.test>\r\n", b"MAIL FROM:<>\r\n",
    b"RCPT TO:<a@example.com>\r\n", b"RCPT TO:<b@other.test>\r\n", b"RCPT TO:<x@nowhere>\r\n",
    b"DATA\r\n", b"BDAT 5\r\n", b"BDAT 0 LAST\r\n", b"BDAT 3 LAST\r\n", b"BDAT x\r\n",
    b"RSET\r\n", b"NOOP\r\n", b"VRFY a\r\n", b"STARTTLS\r\n", b"AUTH PLAIN AAAA\r\n",
    b".\r\n", b"\r\n.\r\n", b"\n.\n", b"\r.\r", b"..\r\n", b"\x00", b"\r", b"\n",
    b"x" * 3000, b"\xff\xfe", b"MAIL FROM:<\xc3\xa9@x.test> SMTPUTF8\r\n", b"QUIT\r\n",
    b"SIZE=99999999999999999999999\r\n", b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
]


def test_random_streams(start_gateway):
    gw = start_gateway({"limits.max_errors": "1000", "limits.idle_timeout": '"2s"',
                        "limits.data_timeout": '"2s"'})
    rng = gwrandom.rng(20261129)
    for _ in range(60):
        stream = b"".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(1, 80)))
        with socket.create_connection(("127.0.0.1", gw.port), timeout=5) as s:
            try:
                s.sendall(stream)
                s.shutdown(socket.SHUT_WR)
                s.settimeout(3)
                while s.recv(65536):
                    pass
            except OSError:
                pass
    with socket.create_connection(("127.0.0.1", gw.port), timeout=5) as raw:
        c = Client(raw)
        assert c.reply()[0] == 220
        c.send(b"EHLO client.test\r\nMAIL FROM:<a@client.test>\r\nRCPT TO:<a@example.com>\r\n"
               b"DATA\r\nSubject: after\r\n\r\n.\r\n")
        assert [c.reply()[0] for _ in range(5)] == [250, 250, 250, 354, 250]
    assert gw.proc.poll() is None


def test_long_ehlo_first_line_cut_not_dropped(start_gateway, client_of):
    """A long hostname and a 255-octet EHLO argument: the greeting line of the EHLO reply
    is cut to RFC 5321's 512 octets, never dropped (clients read it as the first line)."""
    host = ".".join(["h" * 60] * 4)  # 243 octets
    gw = start_gateway({"server.hostname": f'"{host}"'})
    c = client_of(gw)
    assert c.reply()[0] == 220
    arg = "a" * 255
    c.send(f"EHLO {arg}\r\n".encode())
    code, _, lines = c.reply()
    assert code == 250
    assert lines[0].startswith(f"250-{host} greets aaaa"), lines[0][:80]
    assert all(len(ln) + 2 <= 512 for ln in lines)
    assert "PIPELINING" in lines[1]
