"""Codex CLI (`codex exec`) through failsoft: the OpenAI Responses primary fails, an
Anthropic target answers, and the agent still runs its tool and finishes.

Codex speaks the Responses API only (`wire_api = "responses"`); its own retries are off
(`request_max_retries = 0`, `stream_max_retries = 0`), so the rescue is failsoft's.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from failsoft.sim import SimServer
from tests.agents.harness import (
    CALLER_KEY,
    COMMAND,
    FAULTS,
    OUTPUT,
    TASK,
    AgentRun,
    base_env,
    drive,
)

PRIMARY = "responses/gpt-5-codex"
FALLBACK = "anthropic/claude-opus-4-7"
PRIMARY_MODEL, FALLBACK_MODEL = PRIMARY.split("/")[1], FALLBACK.split("/")[1]
OUTCOMES = {"overloaded": "529", "cut": "200"}
"""The trail token failsoft gives each primary failure."""

CODEX_CONFIG = """\
model = "agent"
model_provider = "failsoft"
approval_policy = "never"
sandbox_mode = "danger-full-access"
check_for_update_on_startup = false
web_search = "disabled"
tool_output_token_limit = 10000

[model_providers.failsoft]
name = "failsoft"
base_url = "{url}/v1"
wire_api = "responses"
env_key = "FAILSOFT_API_KEY"
request_max_retries = 0
stream_max_retries = 0

[features]
plugins = false         # else it syncs plugins from github.com and chatgpt.com at start

[analytics]
enabled = false

[otel]
exporter = "none"
"""


def codex_env(home: Path, url: str, proxy: str) -> dict[str, str]:
    codex_home = home / ".codex"
    codex_home.mkdir(parents=True)
    (codex_home / "config.toml").write_text(CODEX_CONFIG.format(url=url))
    env = base_env(home, proxy)
    env["CODEX_HOME"] = str(codex_home)
    env["FAILSOFT_API_KEY"] = CALLER_KEY
    return env


@pytest.fixture(scope="module", params=sorted(FAULTS))
def codex_run(
    request: pytest.FixtureRequest,
    codex: list[str],
    agent_sim: SimServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[str, AgentRun]:
    failure = request.param
    agent_sim.reset()
    agent_sim.set_model(FALLBACK_MODEL, tool_name="exec_command", tool_arguments={"cmd": COMMAND})
    command = [*codex, "exec", "--strict-config", "--skip-git-repo-check", TASK]
    models = [PRIMARY_MODEL, FALLBACK_MODEL]
    plan = (PRIMARY, FALLBACK, FAULTS[failure])
    return failure, drive(agent_sim, command, codex_env, tmp_path_factory, models, plan)


def test_codex_runs_the_tool_and_answers(codex_run: tuple[str, AgentRun]) -> None:
    _, run = codex_run
    assert run.returncode == 0, run.describe()
    assert f"Simulated answer from {FALLBACK_MODEL}: the tool said" in run.stdout, run.describe()
    assert OUTPUT in run.stdout, run.describe()


def test_codex_was_rescued_by_failsoft(
    codex_run: tuple[str, AgentRun], agent_sim: SimServer
) -> None:
    """Every model request tried the primary once (Codex did not retry), then the fallback
    answered: the tool call, then the answer to its result."""
    failure, run = codex_run
    expected = f"{PRIMARY}:{OUTCOMES[failure]},{FALLBACK}:200"
    answered = FALLBACK
    if failure == "cut":
        # With Codex's default reasoning the primary's stream commits with its reasoning
        # item, then breaks; the fallback answers afresh in that same stream (a sub-request
        # of its own, `<id>-a`), so the request's trail and target are the primary's.
        expected, answered = f"{PRIMARY}:200", PRIMARY
    assert len(run.trails) >= 2, run.describe()
    assert run.trails == [expected] * len(run.trails), run.describe()
    assert run.answered_by == [answered] * len(run.trails)
    assert run.attempts == {PRIMARY_MODEL: len(run.trails), FALLBACK_MODEL: len(run.trails)}


def test_the_tool_result_reached_the_fallback(codex_run: tuple[str, AgentRun]) -> None:
    """The command ran on this machine and its output went back, translated, to Claude."""
    _, run = codex_run
    assert run.bodies[FALLBACK_MODEL], run.describe()
    last = orjson.dumps(run.bodies[FALLBACK_MODEL][-1]).decode()
    assert '"tool_result"' in last and OUTPUT in last, last[-2000:]


def test_codex_sent_nothing_elsewhere(codex_run: tuple[str, AgentRun]) -> None:
    """With `[features] plugins = false` (see CODEX_CONFIG), Codex only talks to failsoft."""
    _, run = codex_run
    assert run.strays == [], run.describe()


def test_the_access_log_shows_the_trail(codex_run: tuple[str, AgentRun]) -> None:
    failure, run = codex_run
    expected = f"trail={PRIMARY}:{OUTCOMES[failure]},{FALLBACK}:200"
    assert any(expected in line for line in run.access), run.access


def test_the_sub_agent_namespace_reached_the_fallback_flattened(
    codex_run: tuple[str, AgentRun],
) -> None:
    """Codex's default sub-agent tools (one `namespace` tool) go to Claude as tools of their
    own, `<namespace>__<name>` (docs/translation.md)."""
    _, run = codex_run
    names = [tool["name"] for tool in run.bodies[FALLBACK_MODEL][0].get("tools") or ()]
    assert any(name.startswith("multi_agent_v1__") for name in names), names
