"""The compose topology, run as processes on this machine: the simulator (`failsoft sim`),
two `failsoft serve` instances with deploy/failsoft.yaml, HAProxy with deploy/haproxy.cfg
(only addresses changed), a private Redis and a database of its own on the local PostgreSQL.
The real openai SDK calls through HAProxy.

Needs Debian's `haproxy` and `redis-server` binaries and PostgreSQL on 127.0.0.1:5432: skips
without them, fails under CI=true (.ci/run installs HAProxy).
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import re
import resource
import shutil
import signal
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.deploy.files import DEPLOY, config_text, load_yaml
from tests.deploy.processes import (
    Child,
    Children,
    children,
    failsoft_command,
    free_port,
    http_status,
    listening,
)
from tests.services import POSTGRES_URL, require

INSTANCES = ("failsoft-1", "failsoft-2")
CALLER_KEY = "sk-caller-deploy-test"
STREAM_WORDS = 40
CHUNK_DELAY = 0.05
"""The simulator's pace for the streamed model: 40 words, 50 ms apart (about 2 s)."""

pytestmark = pytest.mark.timeout(180)


def require_binary(name: str) -> str:
    found = shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.access(p, os.X_OK)), None
    )
    if found:
        return found
    reason = f"`{name}` is not installed (Debian: apt-get install {name})"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}, and CI=true requires it")
    pytest.skip(f"{reason}; CI runs this test")


def haproxy_config(ports: dict[str, int]) -> str:
    """deploy/haproxy.cfg on loopback ports instead of compose's service names and Docker's
    DNS, and with `maxconn` lowered if this machine's hard file-descriptor limit cannot give
    HAProxy two per connection (it refuses to start then); every other line as written."""
    text = (DEPLOY / "haproxy.cfg").read_text()
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    fitting = 20000 if hard == resource.RLIM_INFINITY else min(20000, (hard - 200) // 2)
    replacements = [
        (r"(?m)^(\s*maxconn) 20000$", rf"\1 {fitting}"),
        (r"(?m)^(\s*bind) :8080$", rf"\1 127.0.0.1:{ports['front']}"),
        (r"(?m)^(\s*bind) :8404$", rf"\1 127.0.0.1:{ports['stats']}"),
        (r"(?m) resolvers docker$", ""),
        (r"(?ms)^resolvers docker\n.*?\n\n", ""),
        *(
            (rf"(?m)^(\s*server {name}) {name}:8080 ", rf"\1 127.0.0.1:{ports[name]} ")
            for name in INSTANCES
        ),
    ]
    for pattern, replacement in replacements:
        text, count = re.subn(pattern, replacement, text)
        assert count == 1, f"haproxy.cfg changed: {pattern!r} matched {count} times"
    assert "failsoft-1:" not in text and "127.0.0.11" not in text
    return text


@dataclass
class Topology:
    front: str
    stats: str
    sim: str
    instances: dict[str, Child]
    ports: dict[str, int]
    database: str

    def client(self) -> openai.OpenAI:
        return openai.OpenAI(
            base_url=self.front + "/v1", api_key=CALLER_KEY, max_retries=0, timeout=30
        )

    def servers(self) -> dict[str, tuple[str, str]]:
        """HAProxy's view of the instances: name → (status, last check result)."""
        with urllib.request.urlopen(self.stats + "/stats;csv", timeout=5) as response:
            text = response.read().decode()
        rows = csv.DictReader(io.StringIO(text.lstrip("# ")))
        return {
            row["svname"]: (row["status"], row["check_status"])
            for row in rows
            if row["pxname"] == "failsoft" and row["svname"] in INSTANCES
        }


def wait_for(condition: Any, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"no {what} within {timeout}s")


def postgres(statement: str, database: str = "") -> Any:
    import asyncpg

    async def run() -> Any:
        url = POSTGRES_URL if not database else POSTGRES_URL.rsplit("/", 1)[0] + "/" + database
        connection = await asyncpg.connect(url, timeout=5)
        try:
            return await connection.fetch(statement)
        finally:
            await connection.close()

    return asyncio.run(run())


@pytest.fixture
def database() -> Iterator[str]:
    """A database of this test's own on the shared PostgreSQL (dropped afterwards)."""
    require("PostgreSQL", "127.0.0.1", 5432)
    name = f"failsoft_deploy_{uuid.uuid4().hex[:12]}"
    postgres(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        postgres(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def start_redis(group: Children) -> int:
    binary = require_binary("redis-server")
    port = free_port()
    redis = group.start(
        "redis",
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    )
    redis.wait_until(lambda: listening(port), "Redis listening")
    return port


def start_instance(
    group: Children, name: str, port: int, config: Path, env: dict[str, str]
) -> Child:
    compose = load_yaml(DEPLOY / "compose.yaml")
    # The image's CMD, with loopback and this test's port and config file.
    argv = ["failsoft", "serve", "--config", str(config), "--host", "127.0.0.1"]
    argv += ["--port", str(port)]
    assert compose["services"][name]["volumes"] == [
        "./failsoft.yaml:/etc/failsoft/failsoft.yaml:ro"
    ]
    return group.start(name, failsoft_command(argv), env=env)


@pytest.fixture
def topology(tmp_path: Path, database: str) -> Iterator[Topology]:
    haproxy = require_binary("haproxy")
    with children(tmp_path) as group:
        redis_port = start_redis(group)
        ports = {name: free_port() for name in ("sim", "front", "stats", *INSTANCES)}
        compose = load_yaml(DEPLOY / "compose.yaml")
        sim_argv = list(compose["services"]["sim"]["command"])
        sim_argv[sim_argv.index("--host") + 1] = "127.0.0.1"
        sim_argv[sim_argv.index("--port") + 1] = str(ports["sim"])
        sim = group.start("sim", failsoft_command(sim_argv))
        sim_url = f"http://127.0.0.1:{ports['sim']}"
        sim.wait_until(lambda: http_status(sim_url + "/v1/models") == 200, "simulator")
        pace = (
            f'{{"model": "gpt-4o", "chunk_delay": {CHUNK_DELAY}, "answer_words": {STREAM_WORDS}}}'
        )
        request = urllib.request.Request(
            sim_url + "/_sim/models",
            data=pace.encode(),
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200

        config = tmp_path / "failsoft.yaml"
        config.write_text(config_text(load_yaml(DEPLOY / "failsoft.yaml")))
        env = {
            "FAILSOFT_SIM_URL": sim_url,
            "FAILSOFT_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "FAILSOFT_POSTGRES_URL": POSTGRES_URL.rsplit("/", 1)[0] + "/" + database,
            "FAILSOFT_PUBLIC_URL": f"http://127.0.0.1:{ports['front']}",
            "FAILSOFT_ADMIN_TOKEN": "deploy-test-admin-token-0123456789abcdef",
        }
        instances = {
            name: start_instance(group, name, ports[name], config, env) for name in INSTANCES
        }
        for name, child in instances.items():
            url = f"http://127.0.0.1:{ports[name]}/readyz"
            child.wait_until(lambda url=url: http_status(url) == 200, "readiness")

        cfg = tmp_path / "haproxy.cfg"
        cfg.write_text(haproxy_config(ports))
        lb = group.start("haproxy", [haproxy, "-db", "-f", str(cfg)])
        found = Topology(
            front=f"http://127.0.0.1:{ports['front']}",
            stats=f"http://127.0.0.1:{ports['stats']}",
            sim=sim_url,
            instances=instances,
            ports=ports,
            database=database,
        )

        def both_checked() -> bool:
            if not listening(ports["stats"]):
                return False
            servers = found.servers()
            return servers.keys() == set(INSTANCES) and all(
                check.startswith("L7OK") for _, check in servers.values()
            )

        lb.wait_until(both_checked, "health checks passed on both instances")
        yield found


def ask(client: openai.OpenAI, model: str, text: str) -> tuple[str, str, dict[str, str]]:
    """(answer, served by, headers) of one non-streaming call."""
    raw = client.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": text}]
    )
    completion = raw.parse()
    answer = completion.choices[0].message.content
    assert answer, completion
    return answer, raw.headers["x-served-by"], dict(raw.headers)


def stream(client: openai.OpenAI, text: str) -> tuple[list[float], str, dict[str, str]]:
    """(arrival times of the content events, the text, response headers) of one streamed
    call."""
    times: list[float] = []
    parts: list[str] = []
    with client.chat.completions.with_streaming_response.create(
        model="gpt", messages=[{"role": "user", "content": text}], stream=True
    ) as response:
        headers = dict(response.headers)
        for chunk in response.parse():
            if chunk.choices and chunk.choices[0].delta.content:
                times.append(time.monotonic())
                parts.append(chunk.choices[0].delta.content)
    return times, "".join(parts), headers


def test_two_instances_behind_haproxy(topology: Topology) -> None:
    with topology.client() as client:
        # Both instances take traffic (leastconn: round robin among equally idle ones).
        served = {ask(client, "claude", f"question {n}")[1] for n in range(6)}
        assert served == set(INSTANCES)

        # Streams pass through unbuffered: the first words arrive while the simulator is
        # still producing the rest (40 words, 50 ms apart).
        times, text, headers = stream(client, "tell me a story")
        assert len(text.split()) >= STREAM_WORDS - 5
        assert times[-1] - times[0] >= 0.5 * CHUNK_DELAY * (STREAM_WORDS - 1)
        # What a proxy that buffers by default (nginx) needs to see, passed through.
        assert headers["x-accel-buffering"] == "no"
        assert headers["content-type"].startswith("text/event-stream")

        # Redis: an answer cached by one instance is served by the other.
        first = f"http://127.0.0.1:{topology.ports['failsoft-1']}/v1"
        second = f"http://127.0.0.1:{topology.ports['failsoft-2']}/v1"
        question = [{"role": "user", "content": f"cached {uuid.uuid4().hex}"}]
        with openai.OpenAI(base_url=first, api_key=CALLER_KEY, max_retries=0) as one:
            raw = one.chat.completions.with_raw_response.create(
                model="gpt-cached", messages=question
            )
            assert raw.headers["x-failsoft-cache"] == "MISS"
        with openai.OpenAI(base_url=second, api_key=CALLER_KEY, max_retries=0) as two:
            raw = two.chat.completions.with_raw_response.create(
                model="gpt-cached", messages=question
            )
            assert raw.headers["x-failsoft-cache"] == "HIT"

    # PostgreSQL: the instances keep their history in the test's own database.
    wait_for(
        lambda: (
            postgres(
                "SELECT count(*) AS n FROM information_schema.tables "
                "WHERE table_name LIKE 'failsoft_%'",
                topology.database,
            )[0]["n"]
            > 0
        ),
        "failsoft tables in PostgreSQL",
    )


def test_requests_survive_a_killed_instance(topology: Topology) -> None:
    victim = topology.instances["failsoft-1"]
    victim.signal(signal.SIGKILL)
    victim.process.wait(10)
    with topology.client() as client:
        # At once, before HAProxy's health check notices: a refused connection is retried
        # on the other instance (retries + redispatch).
        for n in range(6):
            answer, served_by, _ = ask(client, "claude", f"after the crash {n}")
            assert served_by == "failsoft-2" and answer
        _, text, headers = stream(client, "still there?")
        assert headers["x-served-by"] == "failsoft-2" and text
        wait_for(
            lambda: topology.servers()["failsoft-1"][0] == "DOWN",
            "failsoft-1 marked down by the health check",
        )
        assert topology.servers()["failsoft-2"][0] == "UP"
        answer, served_by, _ = ask(client, "gpt", "and now?")
        assert served_by == "failsoft-2" and answer


def test_a_terminated_instance_finishes_its_stream(topology: Topology) -> None:
    """A rolling update's SIGTERM: the stream the instance is serving ends complete, HAProxy
    takes the instance out of rotation, and new requests go to the other instance."""
    with topology.client() as client:
        parts: list[str] = []
        with client.chat.completions.with_streaming_response.create(
            model="gpt", messages=[{"role": "user", "content": "a long one"}], stream=True
        ) as response:
            served_by = response.headers["x-served-by"]
            other = next(name for name in INSTANCES if name != served_by)
            for chunk in response.parse():
                if chunk.choices and chunk.choices[0].delta.content:
                    if not parts:
                        topology.instances[served_by].signal(signal.SIGTERM)
                    parts.append(chunk.choices[0].delta.content)
        assert len("".join(parts).split()) >= STREAM_WORDS - 5, "the stream ended complete"
        wait_for(
            # "DOWN", not merely "not UP": "UP 1/2" is a server one failed check into going
            # down, still in rotation (it drains with its listener open, answering 503 on
            # /readyz, so a request in that gap is still served by it).
            lambda: topology.servers()[served_by][0] == "DOWN",
            f"{served_by} out of rotation",
        )
        for n in range(3):
            answer, now_served_by, _ = ask(client, "claude", f"after the update {n}")
            assert now_served_by == other and answer
    # uvicorn exits by re-raising the SIGTERM it handled, once the stream has ended; within
    # the drain period (with a margin), as the platform kills it after that.
    drain = load_yaml(DEPLOY / "failsoft.yaml")["server"].get("drain", 30)
    assert topology.instances[served_by].process.wait(drain + 15) in (0, -signal.SIGTERM)
