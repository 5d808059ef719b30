"""deploy/compose.yaml against the Compose Specification, and the compose topology's files
against each other: the failsoft config it mounts loads, HAProxy waits longer than failsoft's
deadlines, checks readiness and sends to the services compose defines."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from failsoft.config import parse_config
from tests.deploy.files import DEPLOY, ROOT, config_text, load_yaml, seconds

# The Compose Specification's JSON schema, vendored so the test needs no network:
# github.com/compose-spec/compose-spec, schema/compose-spec.json at commit
# 170098ba07d9f53c383a41bfd4c5166b0a4529a6 (2026-06-23), unchanged.
COMPOSE_SCHEMA = Path(__file__).with_name("compose-spec.json")
COMPOSE = DEPLOY / "compose.yaml"
HAPROXY = DEPLOY / "haproxy.cfg"
FAILSOFT_CONFIG = DEPLOY / "failsoft.yaml"
INSTANCES = ("failsoft-1", "failsoft-2")
DEFAULT_DRAIN = 30.0


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = load_yaml(COMPOSE)
    return loaded


@pytest.fixture(scope="module")
def raw_config() -> dict[str, Any]:
    loaded: dict[str, Any] = load_yaml(FAILSOFT_CONFIG)
    return loaded


def haproxy_settings() -> dict[str, list[str]]:
    """`keyword args` lines of haproxy.cfg, by their first one or two words."""
    found: dict[str, list[str]] = {}
    for line in HAPROXY.read_text().splitlines():
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        words = text.split()
        found.setdefault(words[0], []).append(text)
        if len(words) > 1:
            found.setdefault(" ".join(words[:2]), []).append(text)
    return found


def compose_value(value: str) -> str:
    """A compose `${VAR:-default}` as compose would expand it with VAR unset."""
    return re.sub(r"\$\{\w+:?-([^}]*)\}", r"\1", value)


def drain(raw_config: dict[str, Any]) -> float:
    return float(raw_config.get("server", {}).get("drain", DEFAULT_DRAIN))


def test_compose_file_follows_the_compose_specification() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--schemafile", str(COMPOSE_SCHEMA),
         str(COMPOSE)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_schema_check_rejects_a_broken_compose_file(tmp_path: Path) -> None:
    """The schema check can fail: a service with an unknown key is refused."""
    broken = tmp_path / "compose.yaml"
    broken.write_text("services:\n  web:\n    image: x\n    stop_grace: 40s\n")
    done = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--schemafile", str(COMPOSE_SCHEMA),
         str(broken)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode != 0


def test_topology(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {*INSTANCES, "haproxy", "redis", "postgres", "sim"} <= services.keys()
    assert services["sim"]["command"][:2] == ["failsoft", "sim"]
    for name in INSTANCES:
        service = services[name]
        assert "./failsoft.yaml:/etc/failsoft/failsoft.yaml:ro" in service["volumes"]
        assert service["read_only"] is True
        assert int(service["user"].split(":")[0]) != 0
        nofile = service["ulimits"]["nofile"]
        assert nofile["soft"] >= 65536
        assert "/readyz" in " ".join(service["healthcheck"]["test"])
    haproxy = services["haproxy"]
    assert "./haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro" in haproxy["volumes"]
    for volume in (*haproxy["volumes"], *services[INSTANCES[0]]["volumes"]):
        assert (DEPLOY / volume.split(":")[0]).exists(), volume


def test_instances_outlive_their_drain(compose: dict[str, Any], raw_config: dict[str, Any]) -> None:
    for name in INSTANCES:
        grace = seconds(compose["services"][name]["stop_grace_period"])
        assert grace >= drain(raw_config) + 5, "compose must not SIGKILL a draining instance"


def test_mounted_config_loads(compose: dict[str, Any], raw_config: dict[str, Any]) -> None:
    """failsoft.yaml with the environment compose gives the instances (keys this checkout
    does not know yet, from work merged separately, left out)."""
    env = {
        k: compose_value(str(v))
        for k, v in compose["services"]["failsoft-1"]["environment"].items()
    }
    config = parse_config(config_text(raw_config), source=str(FAILSOFT_CONFIG), env=env)
    assert config.models["gpt"].targets
    assert config.store.url is not None and config.store.url.startswith("postgresql://")
    store = urlsplit(config.store.url)
    assert store.hostname == "postgres" and store.password is None, "the password is PGPASSWORD"
    assert config.providers["openai"].base_url == "http://sim:9000/v1"


def test_haproxy_waits_longer_than_failsoft(raw_config: dict[str, Any]) -> None:
    """Timeouts shorter than `deadlines.total` would cut answers failsoft is still getting;
    `timeout tunnel` too, as HAProxy applies it to a connection once both sides stream."""
    total = float(raw_config["deadlines"]["total"])
    idle = float(raw_config["deadlines"]["idle"])
    settings = haproxy_settings()
    for which in ("server", "client", "tunnel"):
        (line,) = settings[f"timeout {which}"]
        assert seconds(line.split()[2]) > max(total, idle), line


def test_haproxy_is_sse_safe_and_checks_readiness(compose: dict[str, Any]) -> None:
    settings = haproxy_settings()
    assert "compression" not in settings, "compressing buffers event streams"
    assert not any("http-buffer-request" in line for line in settings.get("option", []))
    assert any("/readyz" in line for line in settings["http-check send"])
    assert settings["http-check expect"] == ["http-check expect status 200"]
    servers = {line.split()[2].rsplit(":", 1)[0] for line in settings["server"]}
    assert servers == set(INSTANCES)
    assert all(line.split()[-1] == "check" for line in settings["server"])
    assert all(":8080" in line for line in settings["server"])
    assert "8080:8080" in compose["services"]["haproxy"]["ports"]


def test_readme_of_the_deployment_names_every_file() -> None:
    docs = (ROOT / "docs" / "deploy.md").read_text()
    for path in [
        "Dockerfile", ".dockerignore", "deploy/compose.yaml", "deploy/failsoft.yaml",
        "deploy/haproxy.cfg", *(f"deploy/kubernetes/{p.name}" for p in sorted((DEPLOY / "kubernetes").glob("*.yaml"))),
    ]:  # fmt: skip
        assert f"`{path}`" in docs, path
