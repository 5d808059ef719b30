"""Fixtures for the coding-agent tests: the installed agents and a simulator of their own.

The agents are installed from npm at pinned versions (tests/agents/npm.py); without Node
they skip, under CI=true they must run. Each test module runs its agent once per way the
primary fails (a module-scoped fixture) and several tests read that one run, because an
agent run costs seconds while a read costs nothing.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from failsoft.sim import SimServer
from tests.agents import npm
from tests.conftest import PROVIDER_KEY


@pytest.fixture(scope="module")
def agent_sim() -> Iterator[SimServer]:
    """A simulator for one agent's module: the per-model settings the agents need (which
    tool to call, with which command) stay out of the shared simulator."""
    with SimServer(api_key=PROVIDER_KEY).run_in_thread() as server:
        yield server


@pytest.fixture(scope="session")
def claude_code() -> list[str]:
    return npm.claude_code()


@pytest.fixture(scope="session")
def codex() -> list[str]:
    return npm.codex()


@pytest.fixture(scope="session")
def gemini_cli() -> list[str]:
    return npm.gemini_cli()
