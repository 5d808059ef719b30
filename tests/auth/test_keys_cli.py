"""`failsoft keys` against the store running gateways read, as an operator would use it: a
key made from the shell answers in every worker of `failsoft serve --workers 2`; revoked
from the shell, every worker refuses it within about a second (measured). And two gateway
instances sharing a PostgreSQL store and Redis state follow a change made on either at
once, through Redis, with the poll set far too slow to explain it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from tests.auth.support import scratch_database, until
from tests.conftest import BASE_CONFIG, PROVIDER_KEY, make_config
from tests.fleet.support import SHARED_REDIS, unique_prefix
from tests.helpers import chat, request
from tests.services import require
from tests.test_cli import free_port
from tests.test_reload import output, serve, up

TOKEN = "admin-token-" + "k" * 32
CONFIG = """
providers:
  o: {{dialect: openai, base_url: "{sim}/v1", api_key: "${{KEY}}"}}
models:
  m: [o/gpt-4o]
retry: {{max_attempts: 1}}
store: {{url: "sqlite:///keys.db"}}
auth: {{refresh: 0.5}}
log: {{access: false}}
"""


def keys(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`failsoft keys …` run from the config's directory, as `serve` is."""
    return subprocess.run(
        [sys.executable, "-m", "failsoft", "keys", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        cwd=config.parent,
        env={**os.environ, "KEY": PROVIDER_KEY},
        timeout=60,
        check=False,
    )


def status(url: str, key: str) -> int:
    """One request on a new connection (so either worker may take it)."""
    headers = {"authorization": f"Bearer {key}"}
    return request(url + "/v1/chat/completions", body=chat("m"), headers=headers).status


def steadily(url: str, key: str, want: int, times: int = 24) -> bool:
    """`times` requests in a row get `want` (with two workers, each is all but sure to
    have taken some)."""
    return all(status(url, key) == want for _ in range(times))


def test_the_cli_drives_every_worker_of_serve(tmp_path: Path, sim: SimServer) -> None:
    config = tmp_path / "failsoft.yaml"
    config.write_text(CONFIG.format(sim=sim.url))
    made = keys(config, "create", "--name", "early", "--json")
    assert made.returncode == 0, made.stderr
    early = json.loads(made.stdout)["secret"]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with serve(config, port, "--workers", "2") as proc:
        up(url, proc, config, workers=2)
        assert steadily(url, early, 200)  # loaded at start in both workers

        made = keys(config, "create", "--name", "late", "--model", "m", "--rpm", "100000")
        assert made.returncode == 0, made.stderr
        late = made.stdout.rsplit("\n", 2)[-2].strip()  # the secret, printed last
        assert late.startswith("fs-")
        until(lambda: steadily(url, late, 200), 10, "the new key in both workers")

        listed = keys(config, "list")
        assert listed.returncode == 0 and "early" in listed.stdout and "late" in listed.stdout

        revoked = keys(config, "revoke", "late")
        assert revoked.returncode == 0, revoked.stderr
        done = time.monotonic()
        last_ok = done
        in_a_row = 0
        while in_a_row < 30:  # until 30 fresh connections in a row are refused
            code = status(url, late)
            if code == 200:
                last_ok, in_a_row = time.monotonic(), 0
            else:
                assert code == 401
                in_a_row += 1
            assert time.monotonic() - done < 10, "never refused in every worker"
        assert last_ok - done < 1.5  # auth.refresh 0.5 s, plus slack for a loaded machine
        assert steadily(url, early, 200)

        rotated = keys(config, "rotate", "early", "--json")
        assert rotated.returncode == 0, rotated.stderr
        fresh = json.loads(rotated.stdout)["secret"]
        until(lambda: steadily(url, early, 401), 10, "the old secret refused everywhere")
        assert steadily(url, fresh, 200)
    logs = output(config)
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("keys.db*"))
    for secret in (early, late, fresh):
        assert secret not in logs
        assert secret.encode() not in stored
    assert (tmp_path / "keys.db").exists()  # the relative path, from the config's directory


def test_a_memory_store_is_refused_by_the_cli(tmp_path: Path) -> None:
    config = tmp_path / "failsoft.yaml"
    config.write_text(
        CONFIG.format(sim="http://127.0.0.1:9").replace("sqlite:///keys.db", "memory://")
    )
    result = keys(config, "list")
    assert result.returncode == 1 and "/admin/keys" in result.stderr


def test_an_unreachable_store_is_one_line_without_its_password(tmp_path: Path) -> None:
    config = tmp_path / "failsoft.yaml"
    store = 'url: "postgresql://postgres:hunter2secret@127.0.0.1:1/x", timeout: 1'
    text = CONFIG.format(sim="http://127.0.0.1:9").replace('url: "sqlite:///keys.db"', store)
    config.write_text(text)
    result = keys(config, "list")
    assert result.returncode == 1
    assert "PostgreSQL 127.0.0.1:1/x" in result.stderr and "hunter2secret" not in result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture
def postgres() -> Iterator[str]:
    with scratch_database() as url:
        yield url


def test_two_instances_follow_changes_through_redis_at_once(
    tmp_path: Path, sim: SimServer, postgres: str
) -> None:
    require("Redis", "127.0.0.1", 6379)
    extra = f"""
store: {{url: "{postgres}", spool: "{tmp_path / "spool"}"}}
state: {{url: "{SHARED_REDIS}", prefix: "{unique_prefix()}"}}
auth: {{refresh: 60}}
admin: {{token: "{TOKEN}"}}
log: {{access: false}}
"""
    config = make_config(sim.url, extra)
    admin = {"authorization": f"Bearer {TOKEN}"}
    with GatewayThread(config).running() as one, GatewayThread(config).running() as two:
        for gw in (one, two):
            until(lambda gw=gw: gw.runtime.keys.notice.link.up, 10, "subscribed")  # type: ignore[misc,union-attr]
        made = request(one.url + "/admin/keys", body={"name": "fleet"}, headers=admin)
        assert made.status == 201, made.body
        secret, ident = made.json()["secret"], made.json()["id"]
        took = until(lambda: status_of(two, secret) == 200, 5, "the new key on the other one")
        assert took < 1.5  # Redis, not the 60 s poll

        gone = request(two.url + f"/admin/keys/{ident}", method="DELETE", headers=admin)
        assert gone.status == 200
        took = until(lambda: status_of(one, secret) == 401, 5, "revoked on the other one")
        assert took < 1.5

        # The CLI, against the same PostgreSQL, announces through the same Redis.
        file = tmp_path / "failsoft.yaml"
        file.write_text(BASE_CONFIG.format(sim=sim.url, key=PROVIDER_KEY, extra=extra))
        made = keys(file, "create", "--name", "from-cli", "--json")
        assert made.returncode == 0, made.stderr
        fresh = json.loads(made.stdout)["secret"]
        for gw in (one, two):
            until(lambda gw=gw: status_of(gw, fresh) == 200, 1.5, "a key from the CLI")  # type: ignore[misc]
        assert keys(file, "revoke", "from-cli").returncode == 0
        started = time.monotonic()
        for gw in (one, two):
            until(lambda gw=gw: status_of(gw, fresh) == 401, 5, "revoked from the CLI")  # type: ignore[misc]
        assert time.monotonic() - started < 1.5  # Redis again: the poll is 60 s


def status_of(gw: GatewayThread, key: str) -> int:
    headers = {"authorization": f"Bearer {key}"}
    return request(gw.url + "/v1/chat/completions", body=chat("gpt"), headers=headers).status
