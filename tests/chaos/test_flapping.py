"""A primary that goes down and comes back under steady traffic: the breaker opens, the
backup answers everything, only a few probes reach the primary while it is down, and
traffic is back on the primary within seconds of its recovery."""

from __future__ import annotations

import time

import openai
import pytest

from failsoft.events import BreakerChanged
from failsoft.sim import SimServer
from tests.chaos.conftest import HI
from tests.helpers import request


def test_flapping_primary(oai: openai.OpenAI, sim: SimServer) -> None:
    outage = (1.0, 4.0)  # seconds from the start
    answered: list[tuple[float, str]] = []
    started = time.monotonic()
    down = up = False
    while (now := time.monotonic() - started) < 7.0:
        if not down and now >= outage[0]:
            sim.set_fault("gpt-4o", {"kind": "status", "status": 529})
            down_at = time.time()
            down = True
        if down and not up and now >= outage[1]:
            sim.clear_faults()
            up_at = time.time()
            up = True
        reply = oai.chat.completions.create(model="gpt", messages=HI)  # never raises
        answered.append((time.monotonic() - started, reply.model))
        time.sleep(0.04)
    # Every request was answered.
    assert len(answered) > 100
    during = [t for t in (r.time for r in sim.requests("gpt-4o")) if down_at <= t < up_at]
    # 3 failures open the breaker; then one probe per open period (0.5 s, 1 s, 2 s, 2 s).
    assert len(during) <= 8, f"{len(during)} attempts reached the primary while it was down"
    first_back = min(t for t, model in answered if t >= outage[1] and model == "gpt-4o")
    assert first_back - outage[1] <= 2.5  # the breaker's longest open period, plus slack
    late = [model for t, model in answered if t >= first_back]
    assert all(model == "gpt-4o" for model in late)


def test_a_probe_closes_the_breaker_at_its_first_token(chaos, sim: SimServer) -> None:  # type: ignore[no-untyped-def]
    """A probe with a long answer must not hold every other request off the target."""
    from concurrent.futures import ThreadPoolExecutor

    gw = chaos({"breaker": {"failures": 1, "open_for": 0.3}})
    sim.set_fault("gpt-4o", {"kind": "status", "status": 529, "count": 1})
    with openai.OpenAI(base_url=gw.url + "/v1", api_key="c", max_retries=0) as client:
        assert client.chat.completions.create(model="gpt", messages=HI).model == "gpt-4o-mini"
        time.sleep(0.35)  # the open period is over: the next request is the probe
        sim.set_model("gpt-4o", chunk_delay=0.08, answer_words=12)  # a one-second answer
        try:
            with ThreadPoolExecutor(1) as pool:
                probe = pool.submit(client.chat.completions.create, model="gpt", messages=HI)
                time.sleep(0.3)  # the probe has its first token, not yet its whole answer
                sim.set_model("gpt-4o", chunk_delay=0.0)
                other = client.chat.completions.with_raw_response.create(model="gpt", messages=HI)
                assert other.headers["x-failsoft-trail"] == "openai/gpt-4o:200"
                assert not probe.done()
                assert probe.result().model == "gpt-4o"
        finally:
            sim.set_model("gpt-4o", chunk_delay=0.0, answer_words=12)


def test_a_cancelled_probe_releases_its_slot(chaos, sim: SimServer) -> None:  # type: ignore[no-untyped-def]
    """The caller of the half-open probe gives up: the next request must be able to probe."""
    # The gateway would wait 5 s for the probe: only the cancellation can free its slot.
    gw = chaos(
        {
            "breaker": {"failures": 1, "open_for": 0.2},
            "deadlines": {"first_byte": 5, "first_token": 5},
        }
    )
    sim.set_fault("gpt-4o", {"kind": "status", "status": 529, "count": 1})
    with openai.OpenAI(base_url=gw.url + "/v1", api_key="c", max_retries=0) as client:
        assert client.chat.completions.create(model="gpt", messages=HI).model == "gpt-4o-mini"
    time.sleep(0.25)
    sim.set_fault("gpt-4o", {"kind": "hang"})
    with (
        openai.OpenAI(
            base_url=gw.url + "/v1", api_key="c", max_retries=0, timeout=0.3
        ) as impatient,
        pytest.raises(openai.APITimeoutError),
    ):
        impatient.chat.completions.create(model="gpt", messages=HI)  # this one is the probe
    time.sleep(0.2)  # the gateway notices the caller left and cancels the probe
    sim.clear_faults()
    with openai.OpenAI(base_url=gw.url + "/v1", api_key="c", max_retries=0) as client:
        again = client.chat.completions.with_raw_response.create(model="gpt", messages=HI)
    assert again.headers["x-failsoft-trail"] == "openai/gpt-4o:200"


def test_an_open_breaker_half_opens_on_time_without_traffic(chaos, sim: SimServer) -> None:  # type: ignore[no-untyped-def]
    """What people see (the health monitor's breaker events, /metrics) must not say "open"
    after the open period, though no request came to ask."""
    gw = chaos({"breaker": {"failures": 1, "open_for": 0.3}})
    changes: list[BreakerChanged] = []
    gw.runtime.hub.subscribe(BreakerChanged, changes.append)
    sim.set_fault("gpt-4o", {"kind": "status", "status": 529, "count": 1})
    with openai.OpenAI(base_url=gw.url + "/v1", api_key="c", max_retries=0) as client:
        assert client.chat.completions.create(model="gpt", messages=HI).model == "gpt-4o-mini"
    opened = time.monotonic()
    time.sleep(0.6)  # nothing asks meanwhile
    assert [(c.target.model, c.state) for c in changes] == [
        ("gpt-4o", "open"),
        ("gpt-4o", "half_open"),
    ]
    metrics = request(gw.url + "/metrics", method="GET").body.decode()
    line = 'failsoft_breaker_state{model="gpt-4o",provider="openai"}'
    assert f"{line} 1.0" in metrics  # 1: half open
    assert sim.attempts("gpt-4o") == 1
    assert time.monotonic() - opened < 1.0


def test_requests_with_nowhere_else_to_go_are_not_refused_behind_a_probe(  # type: ignore[no-untyped-def]
    chaos, sim: SimServer
) -> None:
    """A half-open target that was merely quiet, and several requests that have no other
    target: the first is the probe, up to `failures` others go through beside it as trials
    (refused, each would fail its caller for certain)."""
    from concurrent.futures import ThreadPoolExecutor

    gw = chaos({"breaker": {"failures": 5, "open_for": 0.2}})
    sim.set_fault("gpt-4o", {"kind": "status", "status": 529, "retry_after": 0.1, "count": 1})
    with openai.OpenAI(base_url=gw.url + "/v1", api_key="c", max_retries=0) as client:
        with pytest.raises(openai.APIStatusError):
            client.chat.completions.create(model="gpt-solo", messages=HI)
        time.sleep(0.3)  # half-open now
        sim.set_model("gpt-4o", ttft=0.3)  # the probe is still on its way when the others ask
        try:
            with ThreadPoolExecutor(6) as pool:
                calls = [
                    pool.submit(
                        client.chat.completions.with_raw_response.create,
                        model="gpt-solo",
                        messages=HI,
                    )
                    for _ in range(6)
                ]
                replies = [call.result() for call in calls]
        finally:
            sim.set_model("gpt-4o", ttft=0.0)
    assert [r.parse().model for r in replies] == ["gpt-4o"] * 6
    assert sim.attempts("gpt-4o") == 7
