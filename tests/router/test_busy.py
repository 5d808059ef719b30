"""A provider whose connections are all in use is `busy`: failsoft's own limit, never the
target's failure. The request moves on to the next target at once (after the short
`admission.pool_wait`), nothing counts against the busy target's breaker, budget or health,
and when every target is busy the caller gets the usual exhausted answer naming `busy`.

Two simulators on two ports are two upstreams; `slow` and `slowant` share one upstream but
are two providers, with a pool each.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import openai
import pytest

from failsoft.config import Config, parse_config
from failsoft.events import AttemptFinished, BreakerChanged
from failsoft.policy.breaker import State
from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from failsoft.types import Target
from tests.conftest import PROVIDER_KEY
from tests.server.test_metrics import samples

HI: Any = [{"role": "user", "content": "hi"}]

CONFIG = """
providers:
  slow: {{dialect: openai, base_url: "{a}/v1", api_key: "{key}", max_connections: 1}}
  slowant: {{dialect: anthropic, base_url: "{a}", api_key: "{key}", max_connections: 1}}
  spare: {{dialect: openai, base_url: "{b}/v1", api_key: "{key}"}}
  hole: {{dialect: openai, base_url: "{hole}/v1", api_key: "{key}"}}
  first: {{dialect: openai, base_url: "{a}/v1", api_key: "{key}"}}
models:
  m: [slow/gpt-4o, spare/gpt-4o]
  solo: [slow/gpt-4o]
  claude-solo: [slowant/claude-opus-4-7]
  holed: [hole/gpt-4o, spare/gpt-4o]
  raced:
    targets: [first/gpt-4o-mini, slow/gpt-4o, spare/gpt-4o]
    deadlines: {{first_token: 0.3}}
  queued:
    targets: [slow/gpt-4o, spare/gpt-4o]
    deadlines: {{first_token: 0.3}}
admission: {{pool_wait: 0.1, retry_after: 2}}
deadlines: {{connect: 0.3, first_byte: 5, first_token: 5, idle: 5, total: 10}}
retry: {{max_attempts: 1, budget: {{ratio: 0, min_per_second: 0.1}}}}  # one token in 10 s
breaker: {{failures: 1}}
resume: {{enabled: false}}
"""


@pytest.fixture(scope="module")
def spare_sim() -> Iterator[SimServer]:
    with SimServer(api_key=PROVIDER_KEY).run_in_thread() as server:
        yield server


@pytest.fixture(scope="module")
def black_hole() -> Iterator[str]:
    """A listener that never accepts, its accept queue (backlog 0) full: connects hang."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    filler = [socket.socket() for _ in range(4)]
    for sock in filler:
        sock.setblocking(False)
        sock.connect_ex(("127.0.0.1", port))
    yield f"http://127.0.0.1:{port}"
    for sock in filler:
        sock.close()
    listener.close()


@pytest.fixture
def busy_gateway(
    sim: SimServer, spare_sim: SimServer, black_hole: str
) -> Iterator[tuple[GatewayThread, list[Any]]]:
    spare_sim.reset()
    config: Config = parse_config(
        CONFIG.format(a=sim.url, b=spare_sim.url, hole=black_hole, key=PROVIDER_KEY)
    )
    with GatewayThread(config).running() as gw:
        events: list[Any] = []
        gw.runtime.hub.subscribe(AttemptFinished, events.append)
        gw.runtime.hub.subscribe(BreakerChanged, events.append)
        yield gw, events


def _until(check: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def _hold(gw: GatewayThread, sim: SimServer, provider: str, call: Callable[[], Any]) -> Any:
    """Run `call` in a thread until it holds `provider`'s one connection (the simulator
    is slow to answer it); join the returned thread to let it finish."""
    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    _until(lambda: provider in gw.runtime.transport.pools)
    _until(lambda: gw.runtime.transport.pools[provider].in_use == 1)
    return thread


def test_a_busy_target_is_skipped_not_failed(
    busy_gateway: tuple[GatewayThread, list[Any]], sim: SimServer, spare_sim: SimServer
) -> None:
    gw, events = busy_gateway
    sim.set_fault("gpt-4o", {"kind": "slow_first_token", "delay": 1.0, "count": 1})
    with openai.OpenAI(base_url=gw.url + "/v1", api_key="c", max_retries=0) as client:
        held: list[str] = []

        def slow() -> None:
            held.append(client.chat.completions.create(model="solo", messages=HI).model)

        thread = _hold(gw, sim, "slow", slow)
        raw = client.chat.completions.with_raw_response.create(model="m", messages=HI)
        thread.join(10)
    assert raw.headers["x-failsoft-trail"] == "slow/gpt-4o:busy,spare/gpt-4o:200"
    assert raw.parse().model == "gpt-4o"
    assert held == ["gpt-4o"]
    assert sim.attempts("gpt-4o") == 1  # only the slow request was sent there
    assert spare_sim.attempts("gpt-4o") == 1
    state = gw.runtime.router.state
    slow_target = Target("slow", "gpt-4o")
    assert state.breakers[slow_target].state is State.CLOSED
    assert not [e for e in events if isinstance(e, BreakerChanged)]
    # The busy skip is no attempt: health, budgets and breakers never hear of it.
    assert sorted((e.target.label, e.outcome) for e in events) == [
        ("slow/gpt-4o", "200"),
        ("spare/gpt-4o", "200"),
    ]
    assert gw.runtime.health.passive.stats("slow/gpt-4o").last_failure is None
    pool = gw.runtime.transport.pools["slow"]
    _until(lambda: pool.in_use == 0)
    found = samples(gw)
    assert found[("failsoft_pool_busy_total", (("provider", "slow"),))] == 1
    assert found[("failsoft_pool_busy_total", (("provider", "spare"),))] == 0
    slow_pool = (("provider", "slow"), ("state", "limit"))
    assert found[("failsoft_upstream_connections", slow_pool)] == 1
    in_use = (("provider", "slow"), ("state", "in_use"))
    assert found[("failsoft_upstream_connections", in_use)] == 0


def test_every_target_busy_is_the_usual_exhausted_answer(
    busy_gateway: tuple[GatewayThread, list[Any]], sim: SimServer
) -> None:
    gw, events = busy_gateway
    sim.set_fault("gpt-4o", {"kind": "slow_first_token", "delay": 1.0, "count": 1})
    sim.set_fault("claude-opus-4-7", {"kind": "slow_first_token", "delay": 1.0, "count": 1})
    with (
        openai.OpenAI(base_url=gw.url + "/v1", api_key="c", max_retries=0) as oai,
        anthropic.Anthropic(base_url=gw.url, api_key="c", max_retries=0) as ant,
    ):
        threads = [
            _hold(gw, sim, "slow", lambda: oai.chat.completions.create(model="solo", messages=HI)),
            _hold(
                gw,
                sim,
                "slowant",
                lambda: ant.messages.create(model="claude-solo", max_tokens=16, messages=HI),
            ),
        ]
        with pytest.raises(openai.InternalServerError) as refused:
            oai.chat.completions.create(model="solo", messages=HI, stream=True)
        with pytest.raises(anthropic.InternalServerError) as overloaded:
            ant.messages.create(model="claude-solo", max_tokens=16, messages=HI)
        for thread in threads:
            thread.join(10)
    response = refused.value.response
    assert response.status_code == 503
    assert response.headers["x-failsoft-trail"] == "slow/gpt-4o:busy"
    assert response.headers["retry-after"] == "2"  # admission.retry_after
    assert response.headers["x-should-retry"] == "true"
    assert "busy" in refused.value.message
    response = overloaded.value.response
    assert response.status_code == 529  # Anthropic's dialect says overloaded
    assert response.headers["x-failsoft-trail"] == "slowant/claude-opus-4-7:busy"
    assert response.headers["x-should-retry"] == "true"
    assert "busy" in overloaded.value.message
    assert all(e.ok for e in events if isinstance(e, AttemptFinished))
    assert not [e for e in events if isinstance(e, BreakerChanged)]
    assert sim.attempts("gpt-4o") == 1 and sim.attempts("claude-opus-4-7") == 1


def test_connect_timeout_still_catches_a_black_holed_upstream(
    busy_gateway: tuple[GatewayThread, list[Any]], spare_sim: SimServer
) -> None:
    gw, events = busy_gateway
    with openai.OpenAI(base_url=gw.url + "/v1", api_key="c", max_retries=0) as client:
        started = time.monotonic()
        raw = client.chat.completions.with_raw_response.create(model="holed", messages=HI)
        elapsed = time.monotonic() - started
    assert raw.headers["x-failsoft-trail"] == "hole/gpt-4o:connect_timeout,spare/gpt-4o:200"
    assert elapsed < 4  # deadlines.connect (0.3 s), not first_byte (5 s)
    failed = [e for e in events if isinstance(e, AttemptFinished) and not e.ok]
    assert [(e.target.label, e.outcome) for e in failed] == [("hole/gpt-4o", "connect_timeout")]
    # A real failure of the target: its breaker (failures: 1) opens.
    assert gw.runtime.router.state.breakers[Target("hole", "gpt-4o")].state is State.OPEN
    assert gw.runtime.transport.pools["hole"].in_use == 0


def test_a_busy_race_partner_hands_on_to_the_next_target(
    busy_gateway: tuple[GatewayThread, list[Any]], sim: SimServer, spare_sim: SimServer
) -> None:
    """At the first-token limit the next target races the slow one; a partner whose pool
    is full is skipped as busy, and the one after it takes its place."""
    gw, events = busy_gateway
    sim.set_fault("gpt-4o", {"kind": "slow_first_token", "delay": 1.5, "count": 1})
    sim.set_fault("gpt-4o-mini", {"kind": "slow_first_token", "delay": 1.5, "count": 1})
    with openai.OpenAI(base_url=gw.url + "/v1", api_key="c", max_retries=0) as client:
        thread = _hold(
            gw, sim, "slow", lambda: client.chat.completions.create(model="solo", messages=HI)
        )
        raw = client.chat.completions.with_raw_response.create(model="raced", messages=HI)
        thread.join(10)
    trail = raw.headers["x-failsoft-trail"].split(",")
    assert trail[-1] == "spare/gpt-4o:200"
    assert "slow/gpt-4o:busy" in trail
    assert "first/gpt-4o-mini:first_token_timeout" in trail
    assert sim.attempts("gpt-4o") == 1  # the held request only
    slow = Target("slow", "gpt-4o")
    assert not [
        e for e in events if isinstance(e, AttemptFinished) and e.target == slow and not e.ok
    ]
    assert gw.runtime.router.state.breakers[slow].state is State.CLOSED


def test_a_busy_target_keeps_its_retry_budget(
    busy_gateway: tuple[GatewayThread, list[Any]], sim: SimServer
) -> None:
    """An SDK's retry takes a token of the target's budget (one here); when the target is
    busy nothing is sent, and the token goes back for the next retry."""
    gw, _ = busy_gateway
    sim.set_fault("gpt-4o", {"kind": "slow_first_token", "delay": 1.0, "count": 1})
    retry = {"x-stainless-retry-count": "1"}
    with openai.OpenAI(base_url=gw.url + "/v1", api_key="c", max_retries=0) as client:
        thread = _hold(
            gw, sim, "slow", lambda: client.chat.completions.create(model="solo", messages=HI)
        )
        with pytest.raises(openai.InternalServerError) as refused:
            client.chat.completions.create(model="solo", messages=HI, extra_headers=retry)
        thread.join(10)
        _until(lambda: gw.runtime.transport.pools["slow"].in_use == 0)
        raw = client.chat.completions.with_raw_response.create(
            model="solo", messages=HI, extra_headers=retry
        )
        with pytest.raises(openai.InternalServerError) as spent:
            client.chat.completions.create(model="solo", messages=HI, extra_headers=retry)
    assert refused.value.response.headers["x-failsoft-trail"] == "slow/gpt-4o:busy"
    assert raw.headers["x-failsoft-trail"] == "slow/gpt-4o:200"
    assert spent.value.response.headers["x-failsoft-trail"] == "slow/gpt-4o:budget"


@pytest.fixture
def patient_gateway(
    sim: SimServer, spare_sim: SimServer, black_hole: str
) -> Iterator[tuple[GatewayThread, list[Any]]]:
    """A long pool wait, and a silence watch that declares a target silent as soon as one
    request waits 0.3 s for its headers."""
    spare_sim.reset()
    text = CONFIG.format(a=sim.url, b=spare_sim.url, hole=black_hole, key=PROVIDER_KEY)
    text = text.replace("pool_wait: 0.1", "pool_wait: 1.0")
    text = text.replace(
        "breaker: {failures: 1}", "breaker: {failures: 1, silence: {cold: 0.3, waiting: 1}}"
    )
    with GatewayThread(parse_config(text)).running() as gw:
        events: list[Any] = []
        gw.runtime.hub.subscribe(BreakerChanged, events.append)
        yield gw, events


def test_waiting_for_a_connection_is_not_silence(
    patient_gateway: tuple[GatewayThread, list[Any]], sim: SimServer
) -> None:
    """A request still waiting for a connection has sent nothing: however long it waits,
    its target is not taken for silent."""
    gw, events = patient_gateway
    sim.set_fault("gpt-4o", {"kind": "slow_first_token", "delay": 2.0, "count": 1})
    with openai.OpenAI(base_url=gw.url + "/v1", api_key="c", max_retries=0) as client:
        thread = _hold(
            gw, sim, "slow", lambda: client.chat.completions.create(model="solo", messages=HI)
        )
        raw = client.chat.completions.with_raw_response.create(model="m", messages=HI)
        thread.join(10)
    assert raw.headers["x-failsoft-trail"] == "slow/gpt-4o:busy,spare/gpt-4o:200"
    assert events == []  # no breaker moved: not declared silent
    assert not gw.runtime.router.state.silence.flagged(Target("slow", "gpt-4o"))


def test_a_race_won_while_the_first_target_waited_for_a_connection(
    patient_gateway: tuple[GatewayThread, list[Any]], sim: SimServer
) -> None:
    """The first target waits for a connection past its first-token limit; the next one
    is started beside it and answers. The first was never sent: `busy`, not a failure."""
    gw, events = patient_gateway
    sim.set_fault("gpt-4o", {"kind": "slow_first_token", "delay": 2.0, "count": 1})
    with openai.OpenAI(base_url=gw.url + "/v1", api_key="c", max_retries=0) as client:
        thread = _hold(
            gw, sim, "slow", lambda: client.chat.completions.create(model="solo", messages=HI)
        )
        raw = client.chat.completions.with_raw_response.create(model="queued", messages=HI)
        thread.join(10)
    assert raw.headers["x-failsoft-trail"] == "slow/gpt-4o:busy,spare/gpt-4o:200"
    assert raw.headers["x-failsoft-attempts"] == "1"
    assert events == []  # slow/gpt-4o's breaker (failures: 1) did not open
    assert sim.attempts("gpt-4o") == 1
