"""deploy/kubernetes/: every manifest parses (python3-yaml) and the pieces
agree: selectors and labels, the ports of the ConfigMap's gateway.toml and
of the containers, the Service and the probes, the Secret behind
secret_file, the drain inside the grace period; and the ConfigMap's
gateway.toml passes `smtp-gateway check`."""
import re
import subprocess
import tomllib

import pytest
import yaml

from deploy_lib import BIN
from gwpaths import ROOT

K8S = ROOT / "deploy" / "kubernetes"


def duration_s(text):
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(float(n) * units[u] for n, u in re.findall(r"(\d+)(ms|s|m|h)", text))


@pytest.fixture(scope="module")
def objs():
    kust = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert kust["kind"] == "Kustomization"
    listed = kust["resources"]
    on_disk = sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
    assert sorted(listed) == on_disk, "every manifest is in the kustomization, and only those"
    out = {}
    for name in listed:
        for doc in yaml.safe_load_all((K8S / name).read_text()):
            assert doc["kind"] not in out, f"two {doc['kind']}"
            out[doc["kind"]] = doc
    assert set(out) == {"ConfigMap", "Secret", "Deployment", "Service", "PodDisruptionBudget",
                        "HorizontalPodAutoscaler"}
    out["kustomization"] = kust
    return out


@pytest.fixture(scope="module")
def pod(objs):
    return objs["Deployment"]["spec"]["template"]


@pytest.fixture(scope="module")
def gw(pod):
    return next(c for c in pod["spec"]["containers"] if c["name"] == "smtp-gateway")


@pytest.fixture(scope="module")
def toml(objs):
    return tomllib.loads(objs["ConfigMap"]["data"]["gateway.toml"])


def port_of(address):
    return int(address.rsplit(":", 1)[1])


def container_port(container, name):
    return next(p["containerPort"] for p in container["ports"] if p["name"] == name)


def test_selectors_match_the_pods(objs, pod):
    labels = pod["metadata"]["labels"]
    dep = objs["Deployment"]
    for sel in (dep["spec"]["selector"]["matchLabels"], objs["Service"]["spec"]["selector"],
                objs["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"]):
        assert sel and all(labels.get(k) == v for k, v in sel.items()), sel
    target = objs["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", dep["metadata"]["name"])
    assert objs["HorizontalPodAutoscaler"]["spec"]["minReplicas"] <= dep["spec"]["replicas"]
    # The PDB leaves at least one replica serving.
    assert objs["PodDisruptionBudget"]["spec"]["maxUnavailable"] < dep["spec"]["replicas"]


def test_ports_agree(objs, gw, toml):
    listeners = toml["listener"]
    assert len(listeners) == 1
    smtp = container_port(gw, "smtp")
    assert port_of(listeners[0]["address"]) == smtp
    svc = objs["Service"]["spec"]
    assert svc["type"] == "LoadBalancer"
    (p,) = svc["ports"]
    assert p["port"] == 25 and p["targetPort"] in ("smtp", smtp)
    # The balancer sends PROXY headers, so the listener expects them from trusted sources.
    annotations = objs["Service"]["metadata"]["annotations"]
    assert any("proxy" in k and "protocol" in k.replace("proxyprotocol", "proxy-protocol")
               for k in annotations)
    assert listeners[0]["proxy_protocol"] is True and listeners[0]["proxy_trusted"]


def test_probes_point_at_the_admin_listener(objs, pod, gw, toml):
    admin = container_port(gw, "admin")
    assert port_of(toml["admin"]["address"]) == admin
    assert not toml["admin"]["address"].startswith("127."), "the kubelet probes the pod address"
    ready, live = gw["readinessProbe"]["httpGet"], gw["livenessProbe"]["httpGet"]
    assert ready["path"] == "/readyz" and live["path"] == "/healthz"
    assert ready["port"] in ("admin", admin) and live["port"] in ("admin", admin)
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(admin)
    # The admin port is not on the public Service.
    assert all(p["targetPort"] not in ("admin", admin) for p in objs["Service"]["spec"]["ports"])


def test_drain_fits_the_grace_period(pod, gw, toml):
    pre = gw["lifecycle"]["preStop"]["exec"]["command"]
    assert pre[0] == "sleep"
    drain = duration_s(toml.get("limits", {}).get("drain_timeout", "30s"))
    assert pod["spec"]["terminationGracePeriodSeconds"] > int(pre[1]) + drain


def test_config_and_secret_mounts(objs, pod, gw, toml):
    mounts = {m["name"]: m["mountPath"] for m in gw["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert gw["args"] == ["-c", mounts["config"] + "/gateway.toml"]
    assert volumes["config"]["configMap"]["name"] == objs["ConfigMap"]["metadata"]["name"]
    secret_file = toml["route"][0]["secret_file"]
    mount = next(p for n, p in mounts.items() if secret_file.startswith(p + "/"))
    # The init container copies the Secret's key there, mode 0400.
    (init,) = pod["spec"]["initContainers"]
    assert init["command"][:3] == ["install", "-m", "0400"] and init["command"][4] == secret_file
    init_mounts = {m["name"]: m["mountPath"] for m in init["volumeMounts"]}
    source = init["command"][3]
    src_vol = next(n for n, p in init_mounts.items() if source.startswith(p + "/"))
    assert init_mounts[next(n for n, p in mounts.items() if p == mount)] == mount
    secret = objs["Secret"]
    assert volumes[src_vol]["secret"]["secretName"] == secret["metadata"]["name"]
    assert source.rsplit("/", 1)[1] in secret["stringData"]
    assert src_vol not in mounts, "the group-readable Secret volume stays out of the gateway"


def test_pod_is_unprivileged(pod, gw, objs):
    sc = pod["spec"]["securityContext"]
    assert sc["runAsNonRoot"] is True and sc["runAsUser"] != 0
    for c in pod["spec"]["containers"] + pod["spec"]["initContainers"]:
        assert c["securityContext"]["allowPrivilegeEscalation"] is False
        assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
        assert c["image"] == objs["kustomization"]["images"][0]["name"]
    assert gw["resources"]["requests"]["cpu"], "the HPA's utilisation needs a CPU request"


def test_configmap_gateway_toml_checks(objs, pod, tmp_path):
    """The files as the kubelet lays them out: the ConfigMap's key a symlink into a
    ..data directory, the secret copied by the init container's own command."""
    text = objs["ConfigMap"]["data"]["gateway.toml"]
    secret_in = tmp_path / "secrets-in" / "webhook-secret"
    secret_in.parent.mkdir()
    secret_in.write_text(objs["Secret"]["stringData"]["webhook-secret"])
    secret_in.chmod(0o440)
    secret = tmp_path / "secrets" / "webhook-secret"
    (init,) = pod["spec"]["initContainers"]
    cmd = [a.replace("/secrets-in/", f"{secret_in.parent}/")
           .replace("/run/smtp-gateway/secrets/", f"{secret.parent}/") for a in init["command"]]
    secret.parent.mkdir()
    subprocess.run(cmd, check=True, timeout=60)
    text = text.replace("/run/smtp-gateway/secrets/webhook-secret", str(secret))
    probe = tmp_path / "probe.toml"
    probe.write_text('[admin]\naddress = "127.0.0.1:1"\n[[listener]]\naddress = "127.0.0.1:1"\n')
    if subprocess.run([str(BIN), "check", "-c", str(probe)], capture_output=True,
                      timeout=60).returncode != 0:
        # This build predates the [admin] listener: check the rest.
        text = re.sub(r"\[admin\]\naddress = .*\n", "", text)
    data = tmp_path / "config" / "..2026_12_06_00_00_00.000000001"
    data.mkdir(parents=True)
    (data / "gateway.toml").write_text(text)
    (data / "gateway.toml").chmod(0o644)
    (tmp_path / "config" / "..data").symlink_to(data.name)
    cfg = tmp_path / "config" / "gateway.toml"
    cfg.symlink_to("..data/gateway.toml")
    p = subprocess.run([str(BIN), "check", "-c", str(cfg)], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "warning" not in p.stderr, p.stderr
