"""Interplay with the SDKs' own retries: told when a retry helps, and counted when it comes."""

from __future__ import annotations

from collections.abc import Callable

import openai
import pytest

from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from tests.chaos.conftest import HI


def test_client_retries_spend_the_budget(
    chaos: Callable[..., GatewayThread], sim: SimServer
) -> None:
    gw = chaos({"retry": {"budget": {"ratio": 0.0, "min_per_second": 0.1}}})
    retry = {"x-stainless-retry-count": "1"}
    with openai.OpenAI(base_url=gw.url + "/v1", api_key="c", max_retries=0) as client:
        trails = [
            client.chat.completions.with_raw_response.create(
                model="gpt", messages=HI, extra_headers=retry
            ).headers["x-failsoft-trail"]
            for _ in range(2)
        ]
        with pytest.raises(openai.InternalServerError) as info:
            client.chat.completions.create(model="gpt", messages=HI, extra_headers=retry)
        # A first call (not a retry) is never budgeted.
        fresh = client.chat.completions.create(model="gpt", messages=HI)
    assert trails == ["openai/gpt-4o:200", "openai/gpt-4o:budget,openai/gpt-4o-mini:200"]
    assert info.value.response.headers["x-failsoft-trail"] == (
        "openai/gpt-4o:budget,openai/gpt-4o-mini:budget"
    )
    assert fresh.model == "gpt-4o"


def test_a_spent_quota_opens_the_breaker_for_long(
    chaos: Callable[..., GatewayThread], sim: SimServer
) -> None:
    gw = chaos()
    sim.set_fault("gpt-4o", {"kind": "status", "status": 429, "body": "insufficient_quota"})
    with openai.OpenAI(base_url=gw.url + "/v1", api_key="c", max_retries=2) as client:
        first = client.chat.completions.with_raw_response.create(model="gpt", messages=HI)
        assert first.headers["x-failsoft-trail"] == "openai/gpt-4o:429,openai/gpt-4o-mini:200"
        later = client.chat.completions.with_raw_response.create(model="gpt", messages=HI)
        assert later.headers["x-failsoft-trail"] == "openai/gpt-4o:open,openai/gpt-4o-mini:200"
        # With no other target, no retry will help for minutes: the SDK is told not to.
        with pytest.raises(openai.InternalServerError) as info:
            client.chat.completions.create(model="gpt-solo", messages=HI)
    assert info.value.response.headers["x-should-retry"] == "false"
    assert sim.attempts("gpt-4o") == 1  # the quota error was never retried
