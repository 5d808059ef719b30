"""The Dockerfile, checked without a container runtime: parsed for what the image must have
(slim Python 3.11+, a non-root user, the port, the stop signal, a health check), and its
CMD and HEALTHCHECK commands run on this machine, the way the container would run them."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.files import (
    ROOT,
    Stage,
    healthcheck_options,
    parse_dockerfile,
)
from tests.deploy.processes import children, failsoft_command, free_port, http_status

IMAGE_PORT = 8080


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse_dockerfile((ROOT / "Dockerfile").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def final(stages: list[Stage]) -> Stage:
    return stages[-1]


def cmd(final: Stage) -> list[str]:
    instruction = final.last("CMD")
    assert instruction is not None and instruction.exec_form is not None, "CMD in exec form"
    return instruction.exec_form


def healthcheck(final: Stage) -> list[str]:
    instruction = final.last("HEALTHCHECK")
    assert instruction is not None, "the image has a HEALTHCHECK"
    assert instruction.exec_form is not None, "HEALTHCHECK CMD in exec form (no shell needed)"
    return instruction.exec_form


def test_base_is_slim_python_311_or_newer(stages: list[Stage]) -> None:
    for stage in stages:
        match = re.fullmatch(r"python:(\d+)\.(\d+)(?:\.\d+)?-slim(?:-\w+)?", stage.base)
        assert match, f"base {stage.base!r} is not a slim Python image"
        assert (int(match[1]), int(match[2])) >= (3, 11)
    assert len(stages) >= 2 and stages[0].name, "a named build stage and a runtime stage"


def test_runs_as_a_numeric_non_root_user(final: Stage) -> None:
    user = final.last("USER")
    assert user is not None, "the final stage sets USER"
    uid, _, gid = user.value.partition(":")
    # Numeric, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
    assert uid.isdigit() and int(uid) != 0
    assert not gid or (gid.isdigit() and int(gid) != 0)
    # Nothing after USER switches back to root.
    after = final.instructions[final.instructions.index(user) :]
    assert all(i.keyword != "USER" or i is user for i in after)
    # The deployment files run as the same uid.
    assert f'user: "{uid}:{gid}"' in (ROOT / "deploy" / "compose.yaml").read_text()
    assert f"runAsUser: {uid}" in (ROOT / "deploy/kubernetes/deployment.yaml").read_text()


def test_port_stop_signal_and_cmd(final: Stage) -> None:
    exposed = [i.value.split("/")[0] for i in final.all("EXPOSE")]
    assert str(IMAGE_PORT) in exposed
    stop = final.last("STOPSIGNAL")
    assert stop is not None and stop.value == "SIGTERM"
    assert cmd(final) == [
        "failsoft", "serve", "--config", "/etc/failsoft/failsoft.yaml",
        "--host", "0.0.0.0", "--port", str(IMAGE_PORT),
    ]  # fmt: skip


def test_healthcheck_asks_healthz_with_the_standard_library(final: Stage) -> None:
    instruction = final.last("HEALTHCHECK")
    assert instruction is not None
    options = healthcheck_options(instruction.value)
    assert {"interval", "timeout", "retries"} <= options.keys()
    argv = healthcheck(final)
    assert argv[:2] == ["python", "-c"], "python from the image: slim has no curl or wget"
    assert f"127.0.0.1:{IMAGE_PORT}/healthz" in argv[2]


def test_build_context_has_what_the_dockerfile_copies(stages: list[Stage]) -> None:
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert "*" in ignore, ".dockerignore starts from nothing and lets in what is needed"
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    for stage in stages:
        for copy in stage.all("COPY"):
            if copy.value.startswith("--from="):
                continue
            *sources, _dest = copy.value.split()
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: missing"
                assert source.rstrip("/") in allowed, f"COPY {source}: excluded by .dockerignore"


def test_cmd_serves_and_healthcheck_passes_on_the_host(final: Stage, tmp_path: Path) -> None:
    """The image's CMD, with only the config path, host and port changed, serves; the
    HEALTHCHECK command, pointed at that port, exits 0, and non-zero when nothing listens."""
    config = tmp_path / "failsoft.yaml"
    config.write_text(
        # Never called: the health check needs no upstream.
        'providers:\n  openai: {dialect: openai, base_url: "http://127.0.0.1:9/v1", api_key: k}\n'
        "models:\n  gpt: [openai/gpt-4o]\n"
    )
    port = free_port()
    argv = cmd(final)
    argv[argv.index("--config") + 1] = str(config)
    argv[argv.index("--host") + 1] = "127.0.0.1"
    argv[argv.index("--port") + 1] = str(port)

    probe = healthcheck(final)
    probe[0] = sys.executable
    probe[2] = probe[2].replace(f"127.0.0.1:{IMAGE_PORT}/", f"127.0.0.1:{port}/")
    assert f":{port}/healthz" in probe[2]
    # Nothing listens yet: the check must fail, or it proves nothing.
    assert subprocess.run(probe, capture_output=True, timeout=30).returncode != 0

    with children(tmp_path) as group:
        gateway = group.start("failsoft", failsoft_command(argv), cwd=tmp_path)
        gateway.wait_until(lambda: http_status(f"http://127.0.0.1:{port}/healthz") == 200, "200")
        done = subprocess.run(probe, capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        # Standard library only: the same check with site-packages out of reach.
        isolated = [probe[0], "-I", "-S", *probe[1:]]
        done = subprocess.run(isolated, capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr


def test_postgres_driver_is_installed_by_default(stages: list[Stage]) -> None:
    """The deployment files keep history in PostgreSQL: the default image must have asyncpg."""
    build = stages[0]
    extras = next(i.value for i in build.all("ARG") if i.value.startswith("EXTRAS="))
    assert "postgres" in extras.split("=", 1)[1].split(",")
    assert any('".[${EXTRAS}]"' in i.value for i in build.all("RUN"))


def test_parser_reads_continuations_comments_and_args() -> None:
    stages = parse_dockerfile(
        "# syntax=docker/dockerfile:1\n"
        "ARG BASE=python:3.12-slim\n"
        "FROM ${BASE} AS build\n"
        "RUN a \\\n"
        "    # a comment inside\n"
        "    && b\n"
        "FROM $BASE\n"
        'HEALTHCHECK --interval=5s --timeout=2s CMD ["python", "-c", "pass"]\n'
        "USER 10001:10001\n"
    )
    assert [(s.base, s.name) for s in stages] == [
        ("python:3.12-slim", "build"),
        ("python:3.12-slim", None),
    ]
    run = stages[0].last("RUN")
    assert run is not None and run.value.split() == ["a", "&&", "b"]
    check = stages[1].last("HEALTHCHECK")
    assert check is not None and check.exec_form == ["python", "-c", "pass"]
    assert healthcheck_options(check.value) == {"interval": "5s", "timeout": "2s"}
