"""The allocator settings of include/malloc_tune.h, as smtp-gateway(8) states them:
started without GLIBC_TUNABLES, the daemon executes itself once with its own; an
operator's GLIBC_TUNABLES is used as it is. (glibc rewrites the variable in place as
it reads it, so /proc/PID/environ shows that a value was set and whose, not every
setting in it.)"""
import pathlib

import pytest

from gwdaemon import GATEWAY, clean_env, gateway_config
from gwpaths import SANITIZED

pytestmark = [pytest.mark.skipif(not GATEWAY.exists(), reason="daemon not built"),
              pytest.mark.skipif(SANITIZED, reason="a sanitizer build keeps its own allocator")]


def tunables_of(pid):
    env = pathlib.Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return [e.split(b"=", 1)[1].decode() for e in env if e.startswith(b"GLIBC_TUNABLES=")]


def config(sink):
    return lambda port: gateway_config(port, [{"match": "*@example.com", "url": sink.url()}])


def test_own_settings_when_unset(sink, gateways):
    env = clean_env()
    env.pop("GLIBC_TUNABLES", None)
    gw = gateways.start(config(sink), env=env)
    got = tunables_of(gw.pid)
    assert len(got) == 1 and got[0].startswith("glibc.malloc.tcache_count=256"), got


def test_operator_setting_kept(sink, gateways):
    gw = gateways.start(config(sink),
                        env=clean_env({"GLIBC_TUNABLES": "glibc.malloc.tcache_count=7"}))
    assert tunables_of(gw.pid) == ["glibc.malloc.tcache_count=7"]
    with gw.smtp() as c:  # and it runs on it
        assert c.sendmail("a@client.test", ["x@example.com"], b"Subject: t\r\n\r\nx\r\n") == {}
