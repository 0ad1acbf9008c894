"""STARTTLS (RFC 3207), implicit TLS (RFC 8314), SNI, TLS versions, and
AUTH PLAIN / LOGIN (RFC 4954) on submission listeners, with smtplib,
raw sockets and openssl s_client."""
import base64
import smtplib
import socket
import ssl
import subprocess
import warnings

import pytest

from smtp_harness import Client


def client_ctx():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


@pytest.fixture(scope="session")
def users():
    h = subprocess.run(["openssl", "passwd", "-6", "-salt", "saltsalt", "s3cret"],
                       capture_output=True, text=True, check=True, timeout=30).stdout.strip()
    return [("alice", h)]


def test_starttls_smtplib_and_received(start_gateway, certs):
    gw = start_gateway(certs=certs)
    with smtplib.SMTP("127.0.0.1", gw.port, timeout=10) as s:
        code, caps = s.ehlo("client.test")
        assert code == 250 and s.has_extn("starttls") and not s.has_extn("auth")
        s.starttls(context=client_ctx())
        s.ehlo("client.test")
        assert not s.has_extn("starttls")
        s.sendmail("a@client.test", ["x@example.com"], b"Subject: tls\r\n\r\nhi\r\n")
    (env, msg), = gw.deliveries()
    assert b"with ESMTPS id" in msg and b"(TLSv1.3 with cipher TLS_" in msg
    assert env["tls_protocol"] == "TLSv1.3" and env["tls_cipher"]


def test_starttls_discards_pipelined_commands(start_gateway, certs, client_of):
    """CVE-2011-0411: a NOOP sent with STARTTLS must never be answered."""
    gw = start_gateway(certs=certs)
    c = client_of(gw)
    assert c.reply()[0] == 220
    c.send(b"EHLO client.test\r\n")
    assert c.reply()[0] == 250
    c.send(b"STARTTLS\r\nNOOP\r\nMAIL FROM:<evil@client.test>\r\n")
    code, line, _ = c.reply()
    assert line.startswith("220 2.0.0")
    assert c.buf == b""
    tls = client_ctx().wrap_socket(c.sock, server_hostname="mx.test")
    t = Client(tls)
    t.send(b"MAIL FROM:<a@client.test>\r\n")
    # State was reset by the handshake: no EHLO yet, and the NOOP left no reply behind.
    assert t.reply()[1].startswith("503 5.5.1 Send HELO/EHLO first")
    t.send(b"EHLO client.test\r\n")
    code, line, lines = t.reply()
    assert code == 250 and "greets" in lines[0]
    t.send(b"STARTTLS\r\n")
    assert t.reply()[1].startswith("503 5.5.1")


def test_sni_selects_certificate(start_gateway, certs):
    gw = start_gateway(certs=certs)
    want = {name: ssl.PEM_cert_to_DER_cert(open(cert).read())
            for name, (cert, _) in zip(("mx.test", "sni.test"), certs)}
    for name in ("sni.test", "mx.test", "unknown.test"):
        assert peer_cert(gw, name) == want.get(name, want["mx.test"]), name


def test_openssl_s_client_starttls(start_gateway, certs):
    gw = start_gateway(certs=certs)
    p = subprocess.run(["openssl", "s_client", "-starttls", "smtp", "-connect",
                        f"127.0.0.1:{gw.port}", "-servername", "sni.test", "-brief", "-ign_eof"],
                       input=b"quit\r\n", capture_output=True, timeout=30)
    out = (p.stdout + p.stderr).decode(errors="replace")
    assert "Protocol version: TLSv1.3" in out and "CN = sni.test" in out, out
    assert "221 2.0.0" in out


def test_tls11_refused(start_gateway, certs):
    gw = start_gateway(certs=certs)
    ctx = client_ctx()
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.1 on purpose
        ctx.minimum_version = ssl.TLSVersion.TLSv1_1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as raw:
        c = Client(raw)
        assert c.reply()[0] == 220
        c.send(b"EHLO c.test\r\nSTARTTLS\r\n")
        assert c.reply()[0] == 250 and c.reply()[0] == 220
        with pytest.raises((ssl.SSLError, ConnectionError)):
            ctx.wrap_socket(raw, server_hostname="mx.test")
    assert gw.wait_log("tls handshake failed")


def test_min_version_13(start_gateway, certs):
    gw = start_gateway({"tls.min_version": '"1.3"', "listener.mode": '"smtps"'}, certs=certs)
    ctx = client_ctx()
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as raw:
        with pytest.raises((ssl.SSLError, ConnectionError)):
            ctx.wrap_socket(raw, server_hostname="mx.test")
    ctx12 = client_ctx()
    ctx12.maximum_version = ssl.TLSVersion.TLSv1_3
    with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as raw:
        with ctx12.wrap_socket(raw, server_hostname="mx.test") as tls:
            assert tls.version() == "TLSv1.3"


def test_smtps_implicit_tls(start_gateway, certs):
    gw = start_gateway({"listener.mode": '"smtps"'}, certs=certs)
    with smtplib.SMTP_SSL("127.0.0.1", gw.port, timeout=10, context=client_ctx()) as s:
        s.ehlo("client.test")
        assert not s.has_extn("starttls")
        s.sendmail("a@client.test", ["x@example.com"], b"Subject: smtps\r\n\r\nhi\r\n")
    (env, msg), = gw.deliveries()
    assert b"with ESMTPS" in msg


def submission(start_gateway, certs, users, **limits):
    over = {"listener.mode": '"submission"'}
    over.update({f"limits.{k}": v for k, v in limits.items()})
    return start_gateway(over, certs=certs, users=users)


def test_submission_requires_tls_then_auth(start_gateway, certs, users, client_of):
    gw = submission(start_gateway, certs, users)
    c = client_of(gw)
    assert c.reply()[0] == 220
    c.send(b"EHLO client.test\r\n")
    _, _, lines = c.reply()
    assert not any("AUTH" in ln for ln in lines)
    c.send(b"MAIL FROM:<a@client.test>\r\n")
    assert c.reply()[1].startswith("530 5.7.0")
    c.send(b"AUTH PLAIN AGFsaWNlAHMzY3JldA==\r\n")
    assert c.reply()[1].startswith("538 5.7.11")
    with smtplib.SMTP("127.0.0.1", gw.port, timeout=10) as s:
        s.ehlo("client.test")
        s.starttls(context=client_ctx())
        s.ehlo("client.test")
        assert "PLAIN" in s.esmtp_features["auth"] and "LOGIN" in s.esmtp_features["auth"]
        code, msg = s.docmd("MAIL", "FROM:<a@client.test>")
        assert code == 530 and msg.startswith(b"5.7.0")
        s.login("alice", "s3cret")
        s.sendmail("a@client.test", ["x@example.com"], b"Subject: sub\r\n\r\nhi\r\n")
        code, _ = s.docmd("AUTH", "PLAIN AGFsaWNlAHMzY3JldA==")
        assert code == 503
    (env, msg), = gw.deliveries()
    assert env["auth_user"] == "alice" and b"with ESMTPSA" in msg


def tls_session(gw, src=None):
    """A client past STARTTLS and a second EHLO; src: its source address (any of
    127.0.0.0/8 reaches the listener)."""
    raw = socket.create_connection(("127.0.0.1", gw.port), timeout=10,
                                   source_address=(src, 0) if src else None)
    c = Client(raw)
    assert c.reply()[0] == 220
    c.send(b"EHLO c.test\r\nSTARTTLS\r\n")
    assert c.reply()[0] == 250 and c.reply()[0] == 220
    t = Client(client_ctx().wrap_socket(raw, server_hostname="mx.test"))
    t.send(b"EHLO c.test\r\n")
    assert t.reply()[0] == 250
    return t


def test_auth_login_and_failures(start_gateway, certs, users):
    gw = submission(start_gateway, certs, users, auth_failure_delay='"200ms"',
                    max_auth_failures="2")
    t = tls_session(gw)
    b64 = lambda s: base64.b64encode(s.encode()) + b"\r\n"  # noqa: E731
    t.send(b"AUTH LOGIN\r\n")
    assert t.reply()[1] == "334 VXNlcm5hbWU6"
    t.send(b64("alice"))
    assert t.reply()[1] == "334 UGFzc3dvcmQ6"
    t.send(b64("wrong"))
    assert t.reply()[1].startswith("535 5.7.8")
    t.send(b"AUTH PLAIN\r\n")
    assert t.reply()[1] == "334 "
    t.send(b"*\r\n")
    assert t.reply()[1].startswith("501 5.7.0")
    t.send(b"AUTH PLAIN !!!\r\n")
    assert t.reply()[1].startswith("501 5.5.2")
    t.send(b"AUTH CRAM-MD5\r\n")
    assert t.reply()[1].startswith("504 5.5.4")
    t.send(b"AUTH PLAIN " + base64.b64encode(b"\0nobody\0s3cret") + b"\r\n")
    assert t.reply()[1].startswith("421 4.7.0")
    assert t.closed()
    assert gw.wait_log("limit max_auth_failures=2 reached")
    t2 = tls_session(gw)
    t2.send(b"AUTH LOGIN " + base64.b64encode(b"alice") + b"\r\n")
    assert t2.reply()[1] == "334 UGFzc3dvcmQ6"
    t2.send(b64("s3cret"))
    assert t2.reply()[1].startswith("235 2.7.0")


def test_tls_handshake_timeout(start_gateway, certs, client_of):
    gw = start_gateway({"listener.mode": '"smtps"', "limits.tls_handshake_timeout": '"1s"'},
                       certs=certs)
    c = client_of(gw)
    assert c.closed(timeout=5) and c.buf == b""
    assert gw.wait_log("timeout in state handshake")


def test_key_readable_by_others_refused(start_gateway, certs, tmp_path):
    import os
    import shutil
    key = tmp_path / "open.key"
    shutil.copy(certs[0][1], key)
    os.chmod(key, 0o644)
    gw = start_gateway(certs=[(certs[0][0], str(key))], expect_fail=True)
    assert gw.proc.returncode != 0
    assert "open.key" in gw.log()


def test_starttls_inside_transaction_refused(start_gateway, certs, client_of):
    gw = start_gateway(certs=certs)
    c = client_of(gw)
    assert c.reply()[0] == 220
    c.send(b"EHLO c.test\r\nMAIL FROM:<a@client.test>\r\nSTARTTLS\r\nSTARTTLS now\r\n")
    assert [c.reply()[1][:9] for _ in range(4)] == ["250 START", "250 2.1.0", "503 5.5.1",
                                                     "501 5.5.4"]


def test_slow_password_hash_does_not_stall_the_loop(start_gateway, certs, client_of):
    """bcrypt at cost 12 takes a long while: with one worker, another session must be
    answered while the hash runs (the check is on its own thread)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt
    slow = crypt.crypt("s3cret", crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << 12))
    gw = start_gateway({"listener.mode": '"submission"', "server.workers": "1"}, certs=certs,
                       users=[("slow", slow)])
    a = tls_session(gw)
    b = client_of(gw)
    assert b.reply()[0] == 220
    a.send(b"AUTH PLAIN " + base64.b64encode(b"\0slow\0s3cret") + b"\r\n")
    b.send(b"NOOP\r\n")
    assert b.reply()[1].startswith("250 2.0.0")
    a.sock.setblocking(False)
    try:
        pending = a.sock.recv(1)
    except (BlockingIOError, ssl.SSLWantReadError):
        pending = b""
    a.sock.setblocking(True)
    assert pending == b"", "the AUTH answer came before the other session's NOOP"
    assert a.reply(timeout=60)[1].startswith("235 2.7.0")


def peer_cert(gw, name):
    with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as raw:
        c = Client(raw)
        assert c.reply()[0] == 220
        c.send(b"EHLO c.test\r\nSTARTTLS\r\n")
        assert c.reply()[0] == 250 and c.reply()[0] == 220
        with client_ctx().wrap_socket(raw, server_hostname=name) as tls:
            return tls.getpeercert(binary_form=True)


def test_sighup_reloads_certificates(start_gateway, certs):
    import signal
    from smtp_harness import toml_config
    gw = start_gateway(certs=certs)
    der = [ssl.PEM_cert_to_DER_cert(open(c).read()) for c, _ in certs]
    assert peer_cert(gw, "unknown.test") == der[0]
    gw.rewrite(text=toml_config(gw.port, {}, certs=list(reversed(certs))))
    gw.signal(signal.SIGHUP)
    assert gw.wait_log("configuration reloaded")
    assert peer_cert(gw, "unknown.test") == der[1]


def slow_hash(cost=12):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt
    return crypt.crypt("s3cret", crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << cost))


def test_auth_checks_bounded(start_gateway, certs):
    """limits.max_auth_checks = 1: while one slow check runs, another AUTH gets 454 4.7.0
    (and the busy counter), instead of one more thread per AUTH."""
    gw = start_gateway({"listener.mode": '"submission"', "limits.max_auth_checks": "1"},
                       certs=certs, users=[("slow", slow_hash(14))])
    a, b = tls_session(gw), tls_session(gw)
    a.send(b"AUTH PLAIN " + base64.b64encode(b"\0slow\0s3cret") + b"\r\n")
    assert gw.wait_log("-> auth-check")
    b.send(b"AUTH PLAIN " + base64.b64encode(b"\0slow\0s3cret") + b"\r\n")
    assert b.reply(timeout=30)[1].startswith("454 4.7.0")
    assert a.reply(timeout=60)[1].startswith("235 2.7.0")
    b.send(b"AUTH PLAIN " + base64.b64encode(b"\0slow\0s3cret") + b"\r\n")
    assert b.reply(timeout=60)[1].startswith("235 2.7.0"), "a slot is free again"
    assert gw.wait_log("limit max_auth_checks=1 reached")
    gw.stop()
    assert "auth_checks_busy=1" in gw.log()



@pytest.mark.parametrize("tls", [False, True])
def test_submission_refused_bdat_reads_its_chunk(tls, start_gateway, certs, users, client_of):
    """BDAT refused before STARTTLS (530 5.7.0) or before AUTH (530 5.7.0): its chunk is
    read and dropped, never run as commands (the chunk here is "NOOP\\r\\n")."""
    gw = submission(start_gateway, certs, users)
    if tls:
        c = tls_session(gw)
    else:
        c = client_of(gw)
        assert c.reply()[0] == 220
        c.send(b"EHLO x\r\n")
        assert c.reply()[0] == 250
    c.send(b"BDAT 6\r\nNOOP\r\nQUIT\r\n")
    assert c.reply()[1].startswith("530 5.7.0")
    assert c.reply()[1].startswith("221"), "the chunk's NOOP was run as a command"


@pytest.mark.parametrize("mech", [b"PLAIN", b"LOGIN"])
def test_auth_overlong_response_ends_exchange(mech, start_gateway, certs, users):
    """RFC 4954 4 and 6: an over-long response line to 334 gets 500 5.5.6 and ends the
    exchange; the next line is a command again, never read as base64."""
    gw = submission(start_gateway, certs, users)
    t = tls_session(gw)
    t.send(b"AUTH " + mech + b"\r\n")
    assert t.reply()[1].startswith("334")
    t.send(b"A" * 5000 + b"\r\nNOOP\r\n")
    assert t.reply()[1].startswith("500 5.5.6")
    assert t.reply()[1].startswith("250 2.0.0"), "NOOP was read as an AUTH response"
    t.send(b"AUTH PLAIN " + base64.b64encode(b"\0alice\0s3cret") + b"\r\n")
    assert t.reply(timeout=30)[1].startswith("235 2.7.0")


def s_client_tls12(gw, cipher):
    p = subprocess.run(["openssl", "s_client", "-starttls", "smtp", "-connect",
                        f"127.0.0.1:{gw.port}", "-tls1_2", "-cipher", cipher, "-brief",
                        "-ign_eof"], input=b"quit\r\n", capture_output=True, timeout=30)
    return p.returncode, (p.stdout + p.stderr).decode(errors="replace")


def test_tls12_forward_secret_aead_only(start_gateway, certs, tmp_path):
    """TLS 1.2 offers the Mozilla "intermediate" suites only: with an RSA and an ECDSA
    certificate, static-RSA and CBC suites are refused, ECDHE-GCM accepted."""
    import os
    cert, key = tmp_path / "rsa.crt", tmp_path / "rsa.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=rsa.test", "-addext", "subjectAltName=DNS:rsa.test",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    os.chmod(key, 0o600)
    gw = start_gateway(certs=[(str(cert), str(key))])
    for cipher in ("AES128-SHA", "AES256-GCM-SHA384", "ECDHE-RSA-AES128-SHA",
                   "DHE-RSA-AES128-SHA"):
        rc, out = s_client_tls12(gw, cipher)
        assert rc != 0 and "221 2.0.0" not in out, (cipher, out)
    assert gw.wait_log("tls handshake failed")
    for cipher in ("ECDHE-RSA-AES128-GCM-SHA256", "DHE-RSA-AES256-GCM-SHA384"):
        rc, out = s_client_tls12(gw, cipher)
        assert f"Ciphersuite: {cipher}" in out and "221 2.0.0" in out, (cipher, out)
    gw_ec = start_gateway(certs=certs)
    rc, out = s_client_tls12(gw_ec, "ECDHE-ECDSA-AES128-SHA")
    assert rc != 0 and "221 2.0.0" not in out, out
    rc, out = s_client_tls12(gw_ec, "ECDHE-ECDSA-AES128-GCM-SHA256")
    assert "Ciphersuite: ECDHE-ECDSA-AES128-GCM-SHA256" in out and "221 2.0.0" in out, out


def test_fifo_key_refused_at_start(start_gateway, certs, tmp_path):
    """A TLS key that is a FIFO: the daemon refuses it at once instead of hanging in open()."""
    import os
    fifo = tmp_path / "key.fifo"
    os.mkfifo(fifo, 0o600)
    gw = start_gateway(certs=[(certs[0][0], str(fifo))], expect_fail=True)
    assert gw.proc.returncode != 0
    assert f"'{fifo}' is not a regular file" in gw.log()


@pytest.mark.parametrize("what", ["secret_file", "config"])
def test_sighup_onto_fifo_keeps_signals(what, start_gateway, certs, tmp_path):
    """SIGHUP onto a configuration naming a FIFO (or being one): the reload fails at once,
    the old configuration stays, and SIGTERM still drains and exits 0."""
    import os
    import signal
    from smtp_harness import toml_config
    gw = start_gateway(certs=certs)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o600)
    if what == "config":
        gw.config.unlink()
        os.mkfifo(gw.config, 0o600)
    else:
        gw.rewrite(text=toml_config(gw.port, {}, certs=certs) + f'secret_file = "{fifo}"\n')
    gw.signal(signal.SIGHUP)
    assert gw.wait_log("reload failed; keeping the running configuration")
    assert "is not a regular file" in gw.log()
    with smtplib.SMTP("127.0.0.1", gw.port, timeout=10) as s:
        assert s.noop()[0] == 250
    assert gw.stop() == 0
    assert "signal 15: draining" in gw.log()


def plain(user, pw):
    return b"AUTH PLAIN " + base64.b64encode(b"\0" + user + b"\0" + pw) + b"\r\n"


def test_auth_failures_counted_per_address(start_gateway, certs, users):
    """Failures count per client address across sessions: with max_auth_failures = 2 per
    session and max_auth_failures_per_ip = 3, the hammering address's third failure (in its
    second session) blocks it: 454 4.7.0 before any check, even with the right password and
    in a new session; another address still authenticates."""
    gw = submission(start_gateway, certs, users, auth_failure_delay='"0s"',
                    max_auth_failures="2", max_auth_failures_per_ip="3",
                    auth_failure_window='"1h"')
    a = tls_session(gw, "127.0.0.2")
    a.send(plain(b"alice", b"wrong"))
    assert a.reply()[1].startswith("535 5.7.8")
    a.send(plain(b"alice", b"wrong"))
    assert a.reply()[1].startswith("421 4.7.0")
    assert a.closed()
    a = tls_session(gw, "127.0.0.2")
    a.send(plain(b"alice", b"wrong"))
    assert a.reply()[1].startswith("535 5.7.8"), "the third failure of the address"
    a.send(plain(b"alice", b"s3cret"))
    assert a.reply()[1].startswith("454 4.7.0 Too many failed authentications")
    a = tls_session(gw, "127.0.0.2")
    a.send(plain(b"alice", b"s3cret"))
    assert a.reply()[1].startswith("454 4.7.0 Too many failed authentications")
    assert gw.wait_log("limit max_auth_failures_per_ip=3 reached ip=127.0.0.2")
    b = tls_session(gw, "127.0.0.3")
    b.send(plain(b"alice", b"s3cret"))
    assert b.reply(timeout=30)[1].startswith("235 2.7.0")
    gw.stop()
    assert "auth_ip_blocked=2" in gw.log()


def test_auth_checks_per_address_leave_room_for_others(start_gateway, certs):
    """One address flooding slow password checks holds at most max_auth_checks_per_ip of
    the pool: its next AUTH gets 454 4.7.0 while another address's check is taken."""
    gw = start_gateway({"listener.mode": '"submission"', "limits.max_auth_checks": "4",
                        "limits.max_auth_checks_per_ip": "1"},
                       certs=certs, users=[("slow", slow_hash(13))])
    a1, a2 = tls_session(gw, "127.0.0.2"), tls_session(gw, "127.0.0.2")
    b = tls_session(gw, "127.0.0.3")
    a1.send(plain(b"slow", b"s3cret"))
    assert gw.wait_log("-> auth-check")
    a2.send(plain(b"slow", b"s3cret"))
    assert a2.reply(timeout=30)[1].startswith("454 4.7.0")
    assert gw.wait_log("limit max_auth_checks_per_ip=1 reached ip=127.0.0.2")
    b.send(plain(b"slow", b"s3cret"))
    assert b.reply(timeout=120)[1].startswith("235 2.7.0")
    assert a1.reply(timeout=120)[1].startswith("235 2.7.0")
    a2.send(plain(b"slow", b"s3cret"))
    assert a2.reply(timeout=120)[1].startswith("235 2.7.0"), "the address's slot is free again"


def test_auth_failures_drain_over_the_window(start_gateway, certs, users):
    """max_auth_failures_per_ip drains over auth_failure_window: blocked at once, allowed
    again once a whole window has passed (a lower bound only, never a timing assertion)."""
    import time
    gw = submission(start_gateway, certs, users, auth_failure_delay='"0s"',
                    max_auth_failures_per_ip="1", auth_failure_window='"2s"')
    a = tls_session(gw, "127.0.0.4")
    a.send(plain(b"alice", b"wrong"))
    assert a.reply()[1].startswith("535 5.7.8")
    a.send(plain(b"alice", b"s3cret"))
    assert a.reply()[1].startswith("454 4.7.0 Too many failed")
    time.sleep(2.5)
    a.send(plain(b"alice", b"s3cret"))
    assert a.reply(timeout=30)[1].startswith("235 2.7.0")


def test_auth_ip_table_full_fails_closed(start_gateway, certs, users):
    """auth_ip_table_size bounds the addresses tracked: when an address finds every way of
    its set holding failures, its AUTH is refused (454 4.7.0), never checked unrecorded."""
    gw = submission(start_gateway, certs, users, auth_failure_delay='"0s"',
                    auth_ip_table_size="64", auth_failure_window='"1h"')
    refused = 0
    for i in range(1, 201):
        t = tls_session(gw, f"127.0.1.{i}")
        t.send(plain(b"alice", b"wrong"))
        line = t.reply(timeout=30)[1]
        assert line.startswith(("535 5.7.8", "454 4.7.0 Temporary")), line
        refused += line.startswith("454")
        t.close()
        if refused:
            break
    assert refused, "200 failing addresses never filled a 64-entry table"
    assert gw.wait_log("limit auth_ip_table_size=64 reached")
