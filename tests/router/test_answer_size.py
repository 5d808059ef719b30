"""An upstream answer that never ends cannot grow the gateway (`server.max_answer_bytes`).

Issue 17: an endless answer to a non-streaming call grew the gateway by 8.5 GB in under a
minute, and with `always_stream: false` a 1 GB JSON body was read whole. Scaled down here
with a 1 MiB cap: the attempt fails as `too_large` (in `x-failsoft-trail`), the next target
answers, and the memory the gateway allocated meanwhile stays near the cap (tracemalloc's
peak: the gateway runs in this process). A streaming caller whose stream was already
committed gets the dialect's in-band error event, never a silent end.
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable, Iterator

import anthropic
import openai
import pytest

from failsoft.config import parse_config
from failsoft.policy.breaker import State
from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from failsoft.types import Target
from tests.conftest import BASE_CONFIG, CALLER_KEY, PROVIDER_KEY

CAP = 1 << 20
LIMITS = f"server: {{max_answer_bytes: {CAP}}}"
HI = [{"role": "user", "content": "hello"}]
BOUND = 8 * CAP
"""What the gateway may allocate at its peak while reading an endless answer: the cap,
what it is joined into, and the rest of a request's working set. Without the cap the
growth has no bound at all (the default cap is 64 MiB)."""


def _plain(sim_url: str) -> str:
    """BASE_CONFIG with every provider answering non-streaming calls as plain JSON."""
    text = BASE_CONFIG.format(sim=sim_url, key=PROVIDER_KEY, extra=LIMITS)
    return text.replace(
        f'api_key: "{PROVIDER_KEY}"}}', f'api_key: "{PROVIDER_KEY}", always_stream: false}}'
    )


@pytest.fixture(params=["assembled", "plain"])
def gw(
    request: pytest.FixtureRequest, sim: SimServer, make_gateway: Callable[..., GatewayThread]
) -> GatewayThread:
    if request.param == "plain":
        config = parse_config(_plain(sim.url))
        assert not config.providers["openai"].always_stream
        return make_gateway(config=config)
    return make_gateway(LIMITS)


@pytest.fixture
def oai(gw: GatewayThread) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gw.url + "/v1", api_key=CALLER_KEY, max_retries=0) as c:
        yield c


@pytest.fixture
def ant(gw: GatewayThread) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=gw.url, api_key=CALLER_KEY, max_retries=0) as c:
        yield c


class Peak:
    """tracemalloc's peak over a block, above what was allocated when it began."""

    def __enter__(self) -> Peak:
        gc.collect()
        tracemalloc.start()
        self.base = tracemalloc.get_traced_memory()[0]
        self.growth = 0
        return self

    def __exit__(self, *exc: object) -> None:
        self.growth = tracemalloc.get_traced_memory()[1] - self.base
        tracemalloc.stop()


def test_an_endless_answer_fails_over_openai(
    gw: GatewayThread, sim: SimServer, oai: openai.OpenAI
) -> None:
    sim.set_fault("gpt-4o", {"kind": "endless", "after": 0})
    with Peak() as peak:
        raw = oai.chat.completions.with_raw_response.create(model="gpt", messages=HI)  # type: ignore[arg-type]
    answer = raw.parse()
    assert answer.choices[0].message.content
    trail = raw.headers["x-failsoft-trail"]
    assert "openai/gpt-4o:too_large" in trail, trail
    assert "openai/gpt-4o-mini:200" in trail, trail
    assert peak.growth < BOUND, peak.growth


def test_an_endless_answer_fails_over_anthropic(
    gw: GatewayThread, sim: SimServer, ant: anthropic.Anthropic
) -> None:
    sim.set_fault("claude-opus-4-7", {"kind": "endless", "after": 1})
    with Peak() as peak:
        raw = ant.messages.with_raw_response.create(model="claude", max_tokens=64, messages=HI)  # type: ignore[arg-type]
    message = raw.parse()
    assert message.content and message.content[0].type == "text"
    trail = raw.headers["x-failsoft-trail"]
    assert "anthropic/claude-opus-4-7:too_large" in trail, trail
    assert "anthropic/claude-sonnet-4-5:200" in trail, trail
    assert peak.growth < BOUND, peak.growth


def test_the_only_target_answering_endlessly_is_a_503_naming_it(
    gw: GatewayThread, sim: SimServer, oai: openai.OpenAI
) -> None:
    sim.set_fault("gpt-4o", {"kind": "endless"})
    with pytest.raises(openai.APIStatusError) as err:
        oai.chat.completions.create(model="gpt-one", messages=HI)  # type: ignore[arg-type]
    assert err.value.status_code == 503
    assert "too_large" in err.value.response.headers["x-failsoft-trail"]
    assert "max_answer_bytes" in err.value.message


@pytest.mark.parametrize("kind", ["endless", "huge_line"])
def test_a_committed_stream_that_grows_too_large_ends_with_the_in_band_error(
    gw: GatewayThread, sim: SimServer, oai: openai.OpenAI, kind: str
) -> None:
    sim.set_fault("gpt-4o", {"kind": kind, "after": 2})
    texts: list[str] = []
    with Peak() as peak, pytest.raises(openai.APIError) as err:
        for chunk in oai.chat.completions.create(model="gpt", messages=HI, stream=True):  # type: ignore[arg-type]
            if chunk.choices and chunk.choices[0].delta.content:
                texts.append(chunk.choices[0].delta.content)
    assert texts  # it was committed: content came first
    assert "max_answer_bytes" in err.value.message
    assert peak.growth < BOUND, peak.growth


def test_a_committed_anthropic_stream_ends_with_its_error_event(
    gw: GatewayThread, sim: SimServer, ant: anthropic.Anthropic
) -> None:
    sim.set_fault("claude-opus-4-7", {"kind": "endless", "after": 2})
    with pytest.raises(anthropic.APIStatusError) as err:
        with ant.messages.stream(model="claude", max_tokens=64, messages=HI) as stream:  # type: ignore[arg-type]
            for _ in stream.text_stream:
                pass
    assert "max_answer_bytes" in str(err.value)


def test_an_endless_line_before_any_content_fails_over(
    gw: GatewayThread, sim: SimServer, oai: openai.OpenAI
) -> None:
    sim.set_fault("gpt-4o", {"kind": "huge_line", "after": 0})
    with Peak() as peak:
        raw = oai.chat.completions.with_raw_response.create(model="gpt", messages=HI, stream=True)  # type: ignore[arg-type]
        text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    assert text
    trail = raw.headers["x-failsoft-trail"]
    assert "openai/gpt-4o:too_large" in trail, trail
    assert peak.growth < BOUND, peak.growth


def test_too_large_counts_against_the_target(
    sim: SimServer, make_gateway: Callable[..., GatewayThread]
) -> None:
    """The target is misbehaving: its breaker counts it like any other failure."""
    gw = make_gateway(LIMITS + "\nbreaker: {failures: 1}")
    sim.set_fault("gpt-4o", {"kind": "endless", "after": 0})
    with openai.OpenAI(base_url=gw.url + "/v1", api_key=CALLER_KEY, max_retries=0) as oai:
        oai.chat.completions.create(model="gpt", messages=HI)  # type: ignore[arg-type]
    assert gw.runtime.router.state.breakers[Target("openai", "gpt-4o")].state is State.OPEN


def test_a_stream_too_large_is_not_resumed(
    sim: SimServer, make_gateway: Callable[..., GatewayThread]
) -> None:
    """Resume is on, yet nothing is asked to continue it: the continuation of an endless
    answer would be endless too."""
    text = BASE_CONFIG.format(sim=sim.url, key=PROVIDER_KEY, extra=LIMITS)
    gw = make_gateway(config=parse_config(text.replace("resume: {enabled: false}", "")))
    assert gw.runtime.config.policies.resume.enabled
    sim.set_fault("gpt-4o", {"kind": "endless", "after": 2})
    with openai.OpenAI(base_url=gw.url + "/v1", api_key=CALLER_KEY, max_retries=0) as oai:
        with pytest.raises(openai.APIError) as err:
            for _ in oai.chat.completions.create(model="gpt", messages=HI, stream=True):  # type: ignore[arg-type]
                pass
    assert "max_answer_bytes" in err.value.message
    assert sim.attempts("gpt-4o-mini") == 0
