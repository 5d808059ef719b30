"""429s: Retry-After is honoured (no retry before it, no tight loop); without it, a short
backoff and one retry, then the backup; and the primary is not hammered meanwhile."""

from __future__ import annotations

import time
from collections.abc import Callable

import openai

from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from tests.chaos.conftest import HI, times


def test_retry_after_2_with_a_backup(oai: openai.OpenAI, sim: SimServer) -> None:
    sim.set_fault("gpt-4o", {"kind": "status", "status": 429, "retry_after": 2})
    first = oai.chat.completions.with_raw_response.create(model="gpt", messages=HI)
    # A backup can answer now: no waiting 2 s for the primary.
    assert first.headers["x-failsoft-trail"] == "openai/gpt-4o:429,openai/gpt-4o-mini:200"
    assert first.parse().model == "gpt-4o-mini"
    # For the next 2 s the primary is left alone: its breaker honours the Retry-After.
    started = time.monotonic()
    while time.monotonic() - started < 1.5:
        reply = oai.chat.completions.with_raw_response.create(model="gpt", messages=HI)
        assert reply.headers["x-failsoft-trail"].startswith("openai/gpt-4o:open,")
        assert reply.parse().model == "gpt-4o-mini"
        time.sleep(0.1)
    assert sim.attempts("gpt-4o") == 1
    # After it, one probe goes to the primary (still limited, so the backup answers).
    time.sleep(max(0.0, 2.1 - (time.monotonic() - started)))
    oai.chat.completions.create(model="gpt", messages=HI)
    primary = times(sim, "gpt-4o")
    assert len(primary) == 2
    assert primary[1] - primary[0] >= 1.9


def test_retry_after_2_without_a_backup_waits(oai: openai.OpenAI, sim: SimServer) -> None:
    sim.set_fault("gpt-4o", {"kind": "status", "status": 429, "retry_after": 2, "count": 1})
    started = time.monotonic()
    reply = oai.chat.completions.with_raw_response.create(model="gpt-solo", messages=HI)
    elapsed = time.monotonic() - started
    assert reply.headers["x-failsoft-trail"] == "openai/gpt-4o:429,openai/gpt-4o:200"
    primary = times(sim, "gpt-4o")
    assert len(primary) == 2
    assert primary[1] - primary[0] >= 1.95  # never earlier than the provider asked
    assert elapsed < 3.0


def test_persistent_429_without_retry_after(oai: openai.OpenAI, sim: SimServer) -> None:
    sim.set_fault("gpt-4o", {"kind": "status", "status": 429})
    reply = oai.chat.completions.with_raw_response.create(model="gpt", messages=HI)
    assert reply.headers["x-failsoft-trail"] == (
        "openai/gpt-4o:429,openai/gpt-4o:429,openai/gpt-4o-mini:200"
    )
    primary = times(sim, "gpt-4o")
    assert len(primary) == 2  # one backed-off retry, then the backup
    assert 0.0 <= primary[1] - primary[0] <= 0.2 + 0.1  # full jitter, capped at 0.2 s
    # Ten more requests: the breaker (3 failures) stops the attempts on the primary.
    for _ in range(10):
        assert oai.chat.completions.create(model="gpt", messages=HI).model == "gpt-4o-mini"
    assert sim.attempts("gpt-4o") <= 4


def test_the_sdk_is_told_when_to_retry(chaos: Callable[..., GatewayThread], sim: SimServer) -> None:
    gw = chaos()
    sim.set_fault("*", {"kind": "status", "status": 429, "retry_after": 1})
    with openai.OpenAI(base_url=gw.url + "/v1", api_key="c", max_retries=0) as client:
        try:
            client.chat.completions.create(model="gpt", messages=HI)
        except openai.InternalServerError as exc:
            headers = exc.response.headers
        else:
            raise AssertionError("expected exhaustion")
    assert headers["x-should-retry"] == "true"
    assert float(headers["retry-after-ms"]) >= 1000
    # With SDK retries on, the SDK waits as told and the call then succeeds.
    sim.clear_faults()
    sim.set_fault("*", {"kind": "status", "status": 429, "retry_after": 1, "count": 2})
    gw2 = chaos()
    started = time.monotonic()
    with openai.OpenAI(base_url=gw2.url + "/v1", api_key="c", max_retries=2) as client:
        done = client.chat.completions.create(model="gpt", messages=HI)
    assert done.model in ("gpt-4o", "gpt-4o-mini")
    assert time.monotonic() - started >= 0.9
