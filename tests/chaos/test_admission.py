"""Admission control: beyond the in-flight bounds, refuse at once (and say so), never queue;
and never count the gateway's own overload against a provider."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest

from failsoft.events import AttemptFinished, RequestFinished
from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from failsoft.types import Target
from tests.chaos.conftest import HI


def _call(url: str, model: str = "gpt") -> str:
    with openai.OpenAI(base_url=url + "/v1", api_key="c", max_retries=0) as client:
        return client.chat.completions.create(model=model, messages=HI).model


def _until(condition: Callable[[], bool], within: float = 30.0) -> None:
    """Wait for the gateway's state to reach `condition` (checked, not slept on: a loaded
    machine may take much longer than usual to get a request in flight)."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "the gateway never reached the expected state"
        time.sleep(0.005)


def test_beyond_max_in_flight_is_refused_at_once(
    chaos: Callable[..., GatewayThread], sim: SimServer
) -> None:
    gw = chaos({"admission": {"max_in_flight": 2, "retry_after": 3}})
    finished: list[RequestFinished] = []
    gw.runtime.hub.subscribe(RequestFinished, finished.append)
    sim.set_model("gpt-4o", ttft=0.45)  # slow, but within first_token (0.6 s)
    try:
        with ThreadPoolExecutor(2) as pool:
            busy = [pool.submit(_call, gw.url) for _ in range(2)]
            limits = gw.runtime.router.state.limits
            _until(lambda: limits.in_flight == 2)  # both are in flight now
            with openai.OpenAI(base_url=gw.url + "/v1", api_key="c", max_retries=0) as client:
                try:
                    client.chat.completions.create(model="gpt", messages=HI)
                except openai.InternalServerError as exc:
                    refused = exc
                    # At once: refused while both are still waiting for their first token
                    # (0.45 s), not after either freed its place.
                    still_busy = limits.in_flight == 2 and not any(f.done() for f in busy)
                else:
                    raise AssertionError("expected a refusal")
            assert [f.result() for f in busy] == ["gpt-4o", "gpt-4o"]
    finally:
        sim.set_model("gpt-4o", ttft=0.0)
    assert still_busy
    assert refused.status_code == 503
    assert refused.code == "gateway_overloaded"
    assert refused.response.headers["retry-after"] == "3"
    assert refused.response.headers["x-should-retry"] == "true"
    shed = [f for f in finished if f.shed]
    assert len(shed) == 1
    assert shed[0].target is None
    assert shed[0].attempts == 0  # nothing was sent upstream, no provider was blamed


def test_a_target_at_its_cap_is_skipped(
    chaos: Callable[..., GatewayThread], sim: SimServer
) -> None:
    gw = chaos({"admission": {"per_target": 1}})
    attempts: list[AttemptFinished] = []
    gw.runtime.hub.subscribe(AttemptFinished, attempts.append)
    sim.set_model("gpt-4o", ttft=0.45)
    try:
        with ThreadPoolExecutor(1) as pool:
            slow = pool.submit(_call, gw.url)
            limits = gw.runtime.router.state.limits
            _until(lambda: limits.target_in_flight(Target("openai", "gpt-4o")) == 1)
            assert _call(gw.url) == "gpt-4o-mini"  # gpt-4o is busy: skipped, not failed
            assert slow.result() == "gpt-4o"
    finally:
        sim.set_model("gpt-4o", ttft=0.0)
    assert all(a.ok for a in attempts)


def test_a_relayed_stream_holds_its_slot_until_it_ends(
    chaos: Callable[..., GatewayThread], sim: SimServer
) -> None:
    gw = chaos({"admission": {"max_in_flight": 1}})
    sim.set_model("gpt-4o", chunk_delay=0.05, answer_words=20)  # a one-second stream
    try:
        with openai.OpenAI(base_url=gw.url + "/v1", api_key="c", max_retries=0) as client:
            stream = client.chat.completions.create(model="gpt", messages=HI, stream=True)
            first = next(iter(stream))  # committed and relaying
            assert first.model == "gpt-4o"
            with pytest.raises(openai.InternalServerError) as info:
                client.chat.completions.create(model="gpt", messages=HI)
            assert info.value.code == "gateway_overloaded"
            rest = list(stream)
            assert rest[-1].choices[0].finish_reason == "stop"
            # The stream has ended: its slot is free again.
            assert client.chat.completions.create(model="gpt", messages=HI).model == "gpt-4o"
    finally:
        sim.set_model("gpt-4o", chunk_delay=0.0, answer_words=12)
