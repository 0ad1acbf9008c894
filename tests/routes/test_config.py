"""gateway.toml loading, as a user meets it through `smtp-gateway check`.

Each tests/routes/config/NAME.toml is a case; comments in it say what to
expect:
  # expect-ok                      check exits 0
  # expect-error: L:C: text        stderr has "FILE:L:C: text" (or "FILE: text")
  # expect-warning: L:C: text      stderr has "FILE:L:C: warning: text"
  # env: NAME=value                set for the run
Adding a case is adding a file.
"""
import os
import pathlib
import re
import stat
import subprocess

import pytest

HERE = pathlib.Path(__file__).resolve().parent
CASES = sorted((HERE / "config").glob("*.toml"))


def run(gateway_bin, *args, env=None, cwd=None):
    return subprocess.run([str(gateway_bin), *args], capture_output=True, text=True,
                          timeout=30, env=env, cwd=cwd)


def expectations(path):
    text = path.read_text()
    ok = "# expect-ok" in text
    errors = re.findall(r"^# expect-error: (.*)$", text, re.M)
    warnings = re.findall(r"^# expect-warning: (.*)$", text, re.M)
    env = dict(re.findall(r"^# env: (\w+)=(.*)$", text, re.M))
    return ok, errors, warnings, env


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_config_case(gateway_bin, case):
    ok, errors, warnings, extra_env = expectations(case)
    assert ok or errors or warnings, f"{case.name} states no expectation"
    env = dict(os.environ, **extra_env)
    r = run(gateway_bin, "check", "-c", str(case), env=env)
    if ok:
        assert r.returncode == 0, r.stderr
        assert f"{case}: OK" in r.stdout
    for e in errors:
        assert r.returncode == 1, r.stdout
        want = f"{case}:{e}" if re.match(r"\d+:\d+:", e) else f"{case}: {e}"
        assert want in r.stderr, f"missing {want!r} in:\n{r.stderr}"
    for w in warnings:
        m = re.match(r"(\d+:\d+): (.*)", w)
        want = f"{case}:{m[1]}: warning: {m[2]}" if m else f"{case}: warning: {w}"
        assert want in r.stderr, f"missing {want!r} in:\n{r.stderr}"
    if errors:
        n = len([l for l in r.stderr.splitlines() if ": warning: " not in l
                 and not re.search(r": \d+ errors?$", l)])
        assert n == len(errors), f"expected exactly {len(errors)} errors:\n{r.stderr}"


def test_bundled_gateway_toml_is_valid(gateway_bin):
    root = HERE.parent.parent
    r = run(gateway_bin, "check", cwd=root)  # -c defaults to ./gateway.toml
    assert r.returncode == 0, r.stderr
    assert "127.0.0.1:2525 smtp" in r.stdout
    assert "example.test" in r.stdout


def test_missing_file(gateway_bin, tmp_path):
    r = run(gateway_bin, "check", "-c", str(tmp_path / "nope.toml"))
    assert r.returncode == 1
    assert "nope.toml" in r.stderr


def write(tmp_path, text, name="g.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


ROUTE = '[[route]]\nmatch = "*@example.com"\nurl = "http://127.0.0.1:9/"\n'


def refused_until_private(gateway_bin, cfg, path, mode, message):
    """`check` refuses cfg while the file at path has this mode, saying message; at mode
    600 it accepts it."""
    os.chmod(path, mode)
    r = run(gateway_bin, "check", "-c", str(cfg))
    assert r.returncode == 1
    assert message in r.stderr
    os.chmod(path, 0o600)
    r = run(gateway_bin, "check", "-c", str(cfg))
    assert r.returncode == 0, r.stderr


def test_secret_file_must_be_private(gateway_bin, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("whsec_c2VjcmV0\nwhsec_b3RoZXI=\n")
    cfg = write(tmp_path, ROUTE + f'secret_file = "{secret}"\n')
    refused_until_private(gateway_bin, cfg, secret, 0o644,
                          f"{cfg}:4:15: '{secret}' may be read by others (mode 644)")


def test_secret_file_missing(gateway_bin, tmp_path):
    cfg = write(tmp_path, ROUTE + f'secret_file = "{tmp_path}/none"\n')
    r = run(gateway_bin, "check", "-c", str(cfg))
    assert r.returncode == 1
    assert "No such file or directory" in r.stderr


def test_tls_key_must_be_private(gateway_bin, tmp_path):
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("x")
    key.write_text("x")
    os.chmod(key, 0o640)
    cfg = write(tmp_path, f'[[tls.certificate]]\ncert = "{cert}"\nkey = "{key}"\n')
    r = run(gateway_bin, "check", "-c", str(cfg))
    assert r.returncode == 1
    assert "may be read by others (mode 640)" in r.stderr


@pytest.mark.parametrize("size,ok", [("512KB", True), ("25MB", True), ("1GiB", True),
                                     ("2048", True), ("512", False), ("25XB", False), ("-1MB", False),
                                     ("3GB", False)])
def test_sizes(gateway_bin, tmp_path, size, ok):
    cfg = write(tmp_path, f'[limits]\nmax_message_size = "{size}"\n')
    r = run(gateway_bin, "check", "-c", str(cfg))
    assert (r.returncode == 0) == ok, r.stderr


@pytest.mark.parametrize("d,ok", [("30s", True), ("5m", True), ("1h", True), ("1m30s", True),
                                  ("500ms", False), ("30", False), ("s", False),
                                  ("2h", False)])
def test_durations(gateway_bin, tmp_path, d, ok):
    # idle_timeout accepts 1s .. 1h
    cfg = write(tmp_path, f'[limits]\nidle_timeout = "{d}"\n')
    r = run(gateway_bin, "check", "-c", str(cfg))
    assert (r.returncode == 0) == ok, r.stderr


def test_every_error_is_reported_not_just_the_first(gateway_bin, tmp_path):
    cfg = write(tmp_path, "[limits]\nmax_errors = 0\nmax_recipients = 0\nmax_transactions = 0\n")
    r = run(gateway_bin, "check", "-c", str(cfg))
    assert r.returncode == 1
    assert r.stderr.count("must be between") == 3
    assert "3 errors" in r.stderr


def test_config_doc_is_current(gateway_bin):
    """docs/configuration.md is generated from the key table: it must not drift."""
    root = HERE.parent.parent
    r = run(gateway_bin, "config-doc")
    assert r.returncode == 0
    assert (root / "docs" / "configuration.md").read_text() == r.stdout, \
        "docs/configuration.md is stale: build/gateway/smtp-gateway config-doc > docs/configuration.md"


def test_help_and_version(gateway_bin):
    r = run(gateway_bin, "--help")
    assert r.returncode == 0 and "usage: smtp-gateway" in r.stdout and "check" in r.stdout
    r = run(gateway_bin, "--version")
    assert r.returncode == 0 and re.match(r"smtp-gateway \d+\.\d+\.\d+", r.stdout)
    r = run(gateway_bin, "frobnicate")
    assert r.returncode == 2 and "unknown command" in r.stderr


def fifo_config(tmp_path, which):
    """A configuration naming one FIFO where a file belongs; the rest real files."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    files = {}
    for name, mode in (("secret", 0o600), ("hash", 0o600), ("cert", 0o644), ("key", 0o600),
                       ("ca", 0o644), ("psl", 0o644)):
        p = tmp_path / name
        p.write_text({"secret": "whsec_c2VjcmV0\n", "hash": "$6$salt$x\n",
                      "psl": "com\n"}.get(name, "-----BEGIN X-----\n"))
        os.chmod(p, mode)
        files[name] = fifo if name == which else p
    text = (f'[auth]\ndmarc_psl_file = "{files["psl"]}"\n\n'
            f'[[tls.certificate]]\ncert = "{files["cert"]}"\nkey = "{files["key"]}"\n\n'
            f'[[user]]\nname = "u"\npassword_hash_file = "{files["hash"]}"\n\n'
            + ROUTE + f'secret_file = "{files["secret"]}"\nca_file = "{files["ca"]}"\n')
    return write(tmp_path, text), fifo


@pytest.mark.parametrize("which", ["secret", "hash", "cert", "key", "ca", "psl", "config"])
def test_fifo_named_file_refused_not_hung(gateway_bin, tmp_path, which):
    """A FIFO named where a file belongs (or as gateway.toml itself) is refused at once:
    opened non-blocking and checked with fstat, never read waiting for a writer."""
    cfg, fifo = fifo_config(tmp_path, which)
    r = run(gateway_bin, "check", "-c", str(fifo if which == "config" else cfg))
    assert r.returncode == 1, r.stdout
    assert f"'{fifo}' is not a regular file" in r.stderr, r.stderr


def test_named_directory_and_device_refused(gateway_bin, tmp_path):
    cfg = write(tmp_path, ROUTE + 'secret_file = "/dev/zero"\n')
    r = run(gateway_bin, "check", "-c", str(cfg))
    assert r.returncode == 1 and "'/dev/zero' is not a regular file" in r.stderr, r.stderr
    r = run(gateway_bin, "check", "-c", str(tmp_path))
    assert r.returncode == 1 and "is not a regular file" in r.stderr, r.stderr


def make_cert(d, name):
    cert, key = d / f"{name}.crt", d / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                    f"/CN={name}", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=30)
    os.chmod(key, 0o600)
    return cert, key


def test_check_loads_tls_files(gateway_bin, tmp_path):
    """check loads what it names: the certificate and key must parse and match, a CA
    file must hold a certificate; a file that merely exists is not enough."""
    cert, key = make_cert(tmp_path, "a")
    _, other_key = make_cert(tmp_path, "b")
    junk = tmp_path / "junk.pem"
    junk.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    os.chmod(junk, 0o600)

    def check(c, k, ca):
        cfg = write(tmp_path, f'[[tls.certificate]]\ncert = "{c}"\nkey = "{k}"\n\n'
                    f'[webhook]\nca_file = "{ca}"\n\n' + ROUTE)
        return run(gateway_bin, "check", "-c", str(cfg))

    r = check(cert, key, cert)
    assert r.returncode == 0, r.stderr
    r = check(cert, other_key, cert)
    assert r.returncode == 1 and "TLS files refused" in r.stderr and str(other_key) in r.stderr
    r = check(junk, key, cert)
    assert r.returncode == 1 and f"certificate {junk}" in r.stderr, r.stderr
    r = check(cert, key, junk)
    assert r.returncode == 1 and f"ca_file {junk} holds no PEM certificate" in r.stderr, r.stderr
    r = check(cert, junk, cert)
    assert r.returncode == 1 and f"key {junk}" in r.stderr, r.stderr


def test_inline_secret_in_readable_file_warns(gateway_bin, tmp_path):
    """A secret written inline in a gateway.toml that group or others can read: warned
    (with the _file/_env way out); the same file at mode 600 gives no warning."""
    cfg = write(tmp_path, ROUTE + 'secret = "whsec_c2VjcmV0"\nbearer_token = "tok"\n'
                '\n[[user]]\nname = "u"\npassword_hash = "$6$salt$x"\n')
    os.chmod(cfg, 0o644)
    r = run(gateway_bin, "check", "-c", str(cfg))
    assert r.returncode == 0, r.stderr
    for key, pos in (("secret", "4:10"), ("bearer_token", "5:16"), ("password_hash", "9:17")):
        assert (f"{cfg}:{pos}: warning: '{key}' is written inline in a file others can read "
                f"(mode 644): use {key}_file (mode 600) or {key}_env") in r.stderr, r.stderr
    os.chmod(cfg, 0o600)
    r = run(gateway_bin, "check", "-c", str(cfg))
    assert r.returncode == 0 and "written inline" not in r.stderr, r.stderr


def test_client_key_must_be_private(gateway_bin, tmp_path):
    """The webhook's TLS client key is refused when others can read it, like the server's."""
    cert, key = make_cert(tmp_path, "client")
    cfg = write(tmp_path, f'[webhook]\nclient_cert = "{cert}"\nclient_key = "{key}"\n\n' + ROUTE)
    refused_until_private(gateway_bin, cfg, key, 0o640,
                          f"client_key: '{key}' may be read by others (mode 640): chmod 600 it")
