"""deploy/kubernetes/: every manifest valid for Kubernetes (kubernetes-validate, whose
schemas are bundled: no cluster, no network), and the manifests consistent with each other,
with the image and with failsoft's shutdown: readiness on /readyz, liveness on /healthz,
long enough a grace period for preStop plus drain."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from failsoft.config import parse_config
from tests.deploy.files import KUBERNETES, ROOT, config_text, parse_dockerfile

KUBERNETES_VERSION = "1.30.0"
"""The oldest version validated against as well as the package's default (the newest it
bundles): the manifests use nothing newer."""
DEFAULT_DRAIN = 30.0


def manifests() -> list[Path]:
    return sorted(p for p in KUBERNETES.glob("*.yaml") if p.name != "kustomization.yaml")


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def resource(kind: str) -> dict[str, Any]:
    found = [d for p in manifests() for d in documents(p) if d["kind"] == kind]
    assert len(found) == 1, f"one {kind}, found {len(found)}"
    return found[0]


@pytest.fixture(scope="module")
def pod() -> dict[str, Any]:
    spec: dict[str, Any] = resource("Deployment")["spec"]["template"]["spec"]
    return spec


@pytest.fixture(scope="module")
def container(pod: dict[str, Any]) -> dict[str, Any]:
    (found,) = pod["containers"]
    assert isinstance(found, dict)
    return found


@pytest.fixture(scope="module")
def raw_config() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(resource("ConfigMap")["data"]["failsoft.yaml"])
    return loaded


@pytest.mark.parametrize("path", manifests(), ids=lambda p: p.name)
@pytest.mark.parametrize("version", [KUBERNETES_VERSION, None], ids=["oldest", "newest"])
def test_manifest_is_valid(path: Path, version: str | None) -> None:
    target = version or kubernetes_validate.utils.latest_version()
    for document in documents(path):
        kubernetes_validate.validate(document, target, strict=True)


def test_validation_can_fail() -> None:
    """strict validation refuses what a typo makes (so the test above proves something)."""
    broken = resource("Service")
    broken = {**broken, "spec": {**broken["spec"], "selektor": {}}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_kustomization_lists_every_manifest_but_the_secret_template() -> None:
    """`kubectl apply -k` must never overwrite the real keys with the placeholders."""
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    expected = [p.name for p in manifests() if p.name != "secret.yaml"]
    assert sorted(kustomization["resources"]) == expected


def test_probes(container: dict[str, Any]) -> None:
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": 8080}
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["port"] == "http"


def test_shutdown_outlasts_prestop_and_drain(
    pod: dict[str, Any], container: dict[str, Any], raw_config: dict[str, Any]
) -> None:
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    pre_stop = float(command[1])
    assert pre_stop >= 3, "endpoints need a few seconds to drop the pod before SIGTERM"
    drain = float(raw_config["server"].get("drain", DEFAULT_DRAIN))
    assert pod["terminationGracePeriodSeconds"] >= pre_stop + drain + 10
    strategy = resource("Deployment")["spec"]["strategy"]
    assert strategy["rollingUpdate"]["maxUnavailable"] == 0


def test_security_and_resources(pod: dict[str, Any], container: dict[str, Any]) -> None:
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert {"cpu", "memory"} <= container["resources"]["requests"].keys()
    assert "memory" in container["resources"]["limits"]
    # With a read-only root, what failsoft writes goes to volumes: its working directory
    # (the image's WORKDIR: the store's spool) and /tmp.
    final = parse_dockerfile((ROOT / "Dockerfile").read_text())[-1]
    workdir = final.last("WORKDIR")
    assert workdir is not None
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert {workdir.value, "/tmp", "/etc/failsoft"} <= mounts


def test_runs_the_image_command(container: dict[str, Any]) -> None:
    final = parse_dockerfile((ROOT / "Dockerfile").read_text())[-1]
    cmd = final.last("CMD")
    assert cmd is not None
    assert container.get("args", cmd.exec_form) == cmd.exec_form
    assert "command" not in container


def test_names_match(pod: dict[str, Any], container: dict[str, Any]) -> None:
    labels = resource("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert resource("Deployment")["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert resource("Service")["spec"]["selector"].items() <= labels.items()
    pdb = resource("PodDisruptionBudget")["spec"]
    assert pdb["selector"]["matchLabels"].items() <= labels.items()
    assert resource("Deployment")["spec"]["replicas"] > pdb.get("maxUnavailable", 0)
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["config"]["configMap"]["name"] == resource("ConfigMap")["metadata"]["name"]
    (source,) = container["envFrom"]
    assert source["secretRef"]["name"] == resource("Secret")["metadata"]["name"]


def test_secret_holds_placeholders_only() -> None:
    values = resource("Secret")["stringData"]
    assert values and all(v == "REPLACE_ME" for v in values.values())
    assert "data" not in resource("Secret")


def test_config_loads_with_the_pods_environment(
    container: dict[str, Any], raw_config: dict[str, Any]
) -> None:
    """Every `${VAR}` the config reads is set (by the Secret or `env`), and the config is
    valid (keys this checkout does not know yet, from work merged separately, left out)."""
    text = resource("ConfigMap")["data"]["failsoft.yaml"]
    env = {e["name"]: e["value"] for e in container["env"]}
    env |= {name: "placeholder-" + "0" * 32 for name in resource("Secret")["stringData"]}
    needed = set(re.findall(r"\$\{(\w+)\}", text))
    assert needed <= env.keys()
    config = parse_config(config_text(raw_config), source="configmap.yaml", env=env)
    assert config.admin.token is not None
    assert config.store.url is not None and config.store.url.startswith("postgresql://")
