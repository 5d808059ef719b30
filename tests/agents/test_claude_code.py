"""Claude Code (`claude -p`) through failsoft: the Anthropic primary fails and another target
answers; the agent runs its Bash tool and finishes.

Claude Code runs as a new user would run it: experimental betas on (its default, so
requests carry `context_management` and a mid-conversation system message), its own
retries off (`CLAUDE_CODE_MAX_RETRIES=0`) so the rescue is failsoft's, and nothing sent but
the model requests (`CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC`, ...).

The OpenAI fallback is the acceptance case of issue 14; until failsoft translates what Claude
Code sends, it is expected to fail. The Anthropic fallback shows the harness itself works.
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

PRIMARY = "anthropic/claude-opus-4-7"
FALLBACKS = {"openai": "openai/gpt-4o", "anthropic": "anthropic/claude-sonnet-4-5"}
OUTCOMES = {"overloaded": "529", "cut": "reset"}
"""The trail token failsoft gives each primary failure."""
RESULT = {"openai": '"role":"tool"', "anthropic": '"tool_result"'}
"""How the tool's result shows in the fallback's request, per dialect."""
CASES = [
    pytest.param((dialect, failure), id=f"{failure}-to-{dialect}")
    for dialect in ("openai", "anthropic")
    for failure in sorted(FAULTS)
]


def claude_env(home: Path, url: str, proxy: str) -> dict[str, str]:
    env = base_env(home, proxy)
    env.update(
        ANTHROPIC_BASE_URL=url,
        ANTHROPIC_API_KEY=CALLER_KEY,
        ANTHROPIC_MODEL="agent",
        ANTHROPIC_DEFAULT_HAIKU_MODEL="agent",  # side requests, when there are any
        CLAUDE_CONFIG_DIR=str(home / ".claude"),
        CLAUDE_CODE_MAX_RETRIES="0",
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
        DISABLE_AUTOUPDATER="1",
        DISABLE_TELEMETRY="1",
        DISABLE_ERROR_REPORTING="1",
    )
    return env


@pytest.fixture(scope="module", params=CASES)
def claude_run(
    request: pytest.FixtureRequest,
    claude_code: list[str],
    agent_sim: SimServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[str, str, AgentRun]:
    dialect, failure = request.param
    fallback = FALLBACKS[dialect]
    models = [PRIMARY.split("/")[1], fallback.split("/")[1]]
    agent_sim.reset()
    agent_sim.set_model(
        models[1],
        tool_name="Bash",
        tool_arguments={"command": COMMAND, "description": "Print a greeting"},
    )
    command = [*claude_code, "-p", TASK, "--allowedTools", "Bash", "--output-format", "text"]
    plan = (PRIMARY, fallback, FAULTS[failure])
    run = drive(agent_sim, command, claude_env, tmp_path_factory, models, plan)
    return dialect, failure, run


def test_claude_code_runs_the_tool_and_answers(
    claude_run: tuple[str, str, AgentRun],
) -> None:
    dialect, _, run = claude_run
    model = FALLBACKS[dialect].split("/")[1]
    assert run.returncode == 0, run.describe()
    assert f"Simulated answer from {model}: the tool said" in run.stdout, run.describe()
    assert OUTPUT in run.stdout, run.describe()


def test_claude_code_was_rescued_by_failsoft(
    claude_run: tuple[str, str, AgentRun],
) -> None:
    """Every model request tried the primary once (Claude Code did not retry), then the
    fallback answered: the Bash call, then the answer to its result."""
    dialect, failure, run = claude_run
    fallback = FALLBACKS[dialect]
    expected = f"{PRIMARY}:{OUTCOMES[failure]},{fallback}:200"
    assert len(run.trails) >= 2, run.describe()
    assert run.trails == [expected] * len(run.trails), run.describe()
    assert run.answered_by == [fallback] * len(run.trails)
    counts = list(run.attempts.values())
    assert counts == [len(run.trails), len(run.trails)], run.describe()


def test_the_tool_result_reached_the_fallback(
    claude_run: tuple[str, str, AgentRun],
) -> None:
    """The command ran on this machine and its output went back to the fallback."""
    dialect, _, run = claude_run
    bodies = run.bodies[FALLBACKS[dialect].split("/")[1]]
    assert bodies, run.describe()
    last = orjson.dumps(bodies[-1]).decode()
    assert RESULT[dialect] in last and OUTPUT in last, last[-2000:]


def test_claude_code_sent_nothing_elsewhere(claude_run: tuple[str, str, AgentRun]) -> None:
    _, _, run = claude_run
    assert run.strays == [], run.describe()


def test_the_access_log_shows_the_trail(claude_run: tuple[str, str, AgentRun]) -> None:
    dialect, failure, run = claude_run
    expected = f"trail={PRIMARY}:{OUTCOMES[failure]},{FALLBACKS[dialect]}:200"
    assert any(expected in line for line in run.access), run.access
