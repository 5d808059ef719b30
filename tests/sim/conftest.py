"""Shared fixtures: a simulator per test, and real SDK clients pointed at it.

Sync SDK clients block the calling thread, so the simulator runs on its own loop in a
daemon thread (`run_in_thread`); async clients use the same simulator from the test's loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import anthropic
import openai
import pytest

from failsoft.sim import SimServer

from .helpers import GPT, KEY


@pytest.fixture
def sim() -> Iterator[SimServer]:
    with SimServer(models=[GPT]).run_in_thread() as server:
        yield server


@pytest.fixture
def oai(sim: SimServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=sim.url + "/v1", api_key=KEY, max_retries=0) as client:
        yield client


@pytest.fixture
def ant(sim: SimServer) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=sim.url, api_key=KEY, max_retries=0) as client:
        yield client


@pytest.fixture
async def aoai(sim: SimServer) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=sim.url + "/v1", api_key=KEY, max_retries=0) as client:
        yield client


@pytest.fixture
async def aant(sim: SimServer) -> AsyncIterator[anthropic.AsyncAnthropic]:
    async with anthropic.AsyncAnthropic(base_url=sim.url, api_key=KEY, max_retries=0) as client:
        yield client
