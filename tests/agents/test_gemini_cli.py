"""Gemini CLI (`gemini -p`) through failsoft: the Gemini primary fails, an Anthropic target
answers, and the agent runs its shell tool and finishes.

Gemini CLI reaches failsoft through `GOOGLE_GEMINI_BASE_URL` with the API-key auth type
(`security.auth.selectedType: gemini-api-key`; the `gateway` type the variable alone selects
is refused by this version's non-interactive mode); its own retries are off
(`general.maxAttempts: 1`). Until failsoft serves the Gemini caller surface
(`/v1beta/models/{model}:streamGenerateContent`) the failover tests are expected to fail;
the same client against the simulator directly shows the harness works.
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
from tests.conftest import PROVIDER_KEY

PRIMARY = "gemini/gemini-2.5-flash"
FALLBACK = "anthropic/claude-opus-4-7"
PRIMARY_MODEL, FALLBACK_MODEL = PRIMARY.split("/")[1], FALLBACK.split("/")[1]
OUTCOMES = {"overloaded": "529", "cut": "reset"}
SHELL = {"tool_name": "run_shell_command", "tool_arguments": {"command": COMMAND}}
SETTINGS = {
    "security": {"auth": {"selectedType": "gemini-api-key"}},
    "general": {
        "maxAttempts": 1,
        "retryFetchErrors": False,
        "enableAutoUpdate": False,
        "enableAutoUpdateNotification": False,
    },
    "privacy": {"usageStatisticsEnabled": False},
    "telemetry": {"enabled": False},
}


def gemini_env(home: Path, url: str, proxy: str) -> dict[str, str]:
    (home / ".gemini").mkdir(parents=True)
    (home / ".gemini" / "settings.json").write_bytes(orjson.dumps(SETTINGS))
    env = base_env(home, proxy)
    env["GOOGLE_GEMINI_BASE_URL"] = url
    env["GEMINI_API_KEY"] = CALLER_KEY
    # One process: otherwise Gemini CLI relaunches itself as a child (with a larger heap)
    # and that child, which has this variable set, does the work. A CI run once hung
    # 90 s with the child sending no request; one process less to go wrong, and what a
    # tool that wraps Gemini CLI sets (the CLI reads it in its relaunch check).
    env["GEMINI_CLI_NO_RELAUNCH"] = "true"
    return env


def direct_env(home: Path, url: str, proxy: str) -> dict[str, str]:
    """For the simulator itself, which wants the provider's key."""
    return {**gemini_env(home, url, proxy), "GEMINI_API_KEY": PROVIDER_KEY}


def gemini_command(gemini_cli: list[str], model: str) -> list[str]:
    # --yolo approves the tool call; --skip-trust: a fresh directory is not a trusted folder.
    return [*gemini_cli, "-p", TASK, "-m", model, "--yolo", "--skip-trust"]


@pytest.fixture(scope="module", params=sorted(FAULTS))
def gemini_run(
    request: pytest.FixtureRequest,
    gemini_cli: list[str],
    agent_sim: SimServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[str, AgentRun]:
    failure = request.param
    agent_sim.reset()
    agent_sim.set_model(FALLBACK_MODEL, **SHELL)
    command = gemini_command(gemini_cli, "agent")
    models = [PRIMARY_MODEL, FALLBACK_MODEL]
    plan = (PRIMARY, FALLBACK, FAULTS[failure])
    return failure, drive(agent_sim, command, gemini_env, tmp_path_factory, models, plan)


def test_gemini_cli_runs_the_tool_and_answers(gemini_run: tuple[str, AgentRun]) -> None:
    _, run = gemini_run
    assert run.returncode == 0, run.describe()
    assert f"Simulated answer from {FALLBACK_MODEL}: the tool said" in run.stdout, run.describe()
    assert OUTPUT in run.stdout, run.describe()


def test_gemini_cli_was_rescued_by_failsoft(gemini_run: tuple[str, AgentRun]) -> None:
    failure, run = gemini_run
    expected = f"{PRIMARY}:{OUTCOMES[failure]},{FALLBACK}:200"
    assert len(run.trails) >= 2, run.describe()
    assert run.trails == [expected] * len(run.trails), run.describe()
    assert run.answered_by == [FALLBACK] * len(run.trails)
    assert run.attempts == {PRIMARY_MODEL: len(run.trails), FALLBACK_MODEL: len(run.trails)}
    last = orjson.dumps(run.bodies[FALLBACK_MODEL][-1]).decode()
    assert '"tool_result"' in last and OUTPUT in last, last[-2000:]


def test_the_access_log_shows_the_trail(gemini_run: tuple[str, AgentRun]) -> None:
    failure, run = gemini_run
    expected = f"trail={PRIMARY}:{OUTCOMES[failure]},{FALLBACK}:200"
    assert any(expected in line for line in run.access), run.access


def test_gemini_cli_against_the_simulator_directly(
    gemini_cli: list[str], agent_sim: SimServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """No failsoft: what the client sends is what the simulator (and Gemini) accepts, the
    settings above keep it non-interactive and at home, and `maxAttempts: 1` means one try
    on a 529."""
    agent_sim.reset()
    agent_sim.set_model(PRIMARY_MODEL, **SHELL)
    command = gemini_command(gemini_cli, PRIMARY_MODEL)
    run = drive(agent_sim, command, direct_env, tmp_path_factory, [PRIMARY_MODEL])
    assert run.returncode == 0, run.describe()
    assert f"Simulated answer from {PRIMARY_MODEL}: the tool said" in run.stdout, run.describe()
    assert OUTPUT in run.stdout, run.describe()
    assert run.attempts == {PRIMARY_MODEL: 2}, run.describe()  # the call, then the answer
    assert run.strays == [], run.describe()

    agent_sim.reset()
    agent_sim.set_fault(PRIMARY_MODEL, {"kind": "status", "status": 529})
    run = drive(agent_sim, command, direct_env, tmp_path_factory, [PRIMARY_MODEL])
    assert run.returncode != 0, run.describe()
    assert run.attempts == {PRIMARY_MODEL: 1}, run.describe()
