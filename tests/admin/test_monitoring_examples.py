"""examples/monitoring/ (issue 13): the Grafana dashboard is JSON Grafana can
import and the alert rules are a Prometheus rule file; every metric either
names is exposed by a live /metrics scrape, so neither can drift from the
code."""
import json
import pathlib
import re
import sys

import yaml

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from admin_lib import Daemon  # noqa: E402
from gwdaemon import gateway_config, toml_text  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
EXAMPLES = ROOT / "examples" / "monitoring"
NAME = re.compile(r"\bsmtp_gateway_[a-z0-9_]+")
HISTOGRAM_PARTS = ("_bucket", "_sum", "_count")

CONFIG = toml_text(gateway_config(
    "@SMTP@", [{"match": "*@good.test", "url": "http://127.0.0.1:1/hook"}], hostname="mx.test",
    admin={"address": "127.0.0.1:@ADMIN@"}))


def exposed(text):
    """The metric names of a scrape: each # TYPE, with a histogram's series names."""
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            names.add(name)
            if kind == "histogram":
                names.update(name + p for p in HISTOGRAM_PARTS)
    return names


def dashboard_exprs():
    dash = json.loads((EXAMPLES / "grafana-dashboard.json").read_text())
    assert dash["panels"], "a dashboard without panels"
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    assert all(t["datasource"]["type"] == "prometheus" for t in dash["panels"])
    return exprs


def alert_exprs():
    rules = yaml.safe_load((EXAMPLES / "alerts.yml").read_text())
    out = []
    for group in rules["groups"]:
        for r in group["rules"]:
            assert r["alert"] and r["expr"] and r["annotations"]["summary"]
            out.append(r["expr"])
    return out


def test_alerts_cover_the_issue():
    text = " ".join(alert_exprs())
    for needle in ("smtp_gateway_circuit_breaker_open", 'code=~"4..', 'code=~"5..',
                   "smtp_gateway_webhook_duration_seconds_bucket", "readyz"):
        assert needle in text, needle


def test_every_metric_used_is_exposed(tmp_path):
    d = Daemon(tmp_path, CONFIG)
    try:
        status, text = d.get("/metrics")
    finally:
        d.stop()
    assert status == 200
    live = exposed(text)
    used = {n for e in dashboard_exprs() + alert_exprs() for n in NAME.findall(e)}
    assert len(used) >= 10
    assert not used - live, f"not in /metrics: {sorted(used - live)}"
