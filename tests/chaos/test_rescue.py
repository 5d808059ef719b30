"""The default config rescues the failures of issue #11: a short Retry-After, a slow first
token, a silent target, a target that cuts every stream, a stall after the first token.

These gateways run on the true defaults (no policy section at all), so what is asserted is
what a user gets out of the box; the timings they imply are stated next to each test.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import openai
import pytest

from failsoft.config import Config, parse_config
from failsoft.serve import GatewayThread
from failsoft.sim import Scenario, SimServer
from tests.chaos.conftest import HI, times
from tests.conftest import PROVIDER_KEY

TEXT = (
    "A gateway keeps answering when a provider fails. It retries with jitter and waits out "
    "a Retry-After. It races a slow target. And it finishes a broken stream exactly."
)


def defaults_config(sim_url: str, extra: str = "") -> Config:
    """Providers and models only: every policy at its default."""
    return parse_config(
        f"""
providers:
  anthropic: {{dialect: anthropic, base_url: "{sim_url}", api_key: "{PROVIDER_KEY}"}}
  openai: {{dialect: openai, base_url: "{sim_url}/v1", api_key: "{PROVIDER_KEY}"}}
models:
  gpt: [openai/gpt-4o, openai/gpt-4o-mini]
  claude: [anthropic/claude-opus-4-7, anthropic/claude-sonnet-4-5]
{extra}
""",
        "<defaults>",
    )


@pytest.fixture
def defaults(sim: SimServer) -> Iterator[GatewayThread]:
    gw = GatewayThread(defaults_config(sim.url)).start()
    yield gw
    gw.stop()


@pytest.fixture
def client(defaults: GatewayThread) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=defaults.url + "/v1", api_key="c", max_retries=0) as c:
        yield c


def ask(client: openai.OpenAI, stream: bool = False) -> tuple[str, str]:
    """(the model that answered, the trail)."""
    raw = client.chat.completions.with_raw_response.create(model="gpt", messages=HI, stream=stream)
    model = next(iter(raw.parse())).model if stream else raw.parse().model
    return model, raw.headers["x-failsoft-trail"]


# --- a short Retry-After ---------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 503])
def test_a_short_retry_after_is_waited_out_on_the_primary(
    client: openai.OpenAI, sim: SimServer, status: int
) -> None:
    """`Retry-After: 2` (≤ retry.max_wait, 5 s): wait, retry the primary, answer from it,
    rather than hand the caller a less preferred model at once."""
    sim.set_fault("gpt-4o", {"kind": "status", "status": status, "retry_after": 2, "count": 1})
    started = time.monotonic()
    model, trail = ask(client)
    assert model == "gpt-4o"
    assert trail == f"openai/gpt-4o:{status},openai/gpt-4o:200"
    arrivals = times(sim, "gpt-4o")
    assert arrivals[1] - arrivals[0] >= 2.0  # never before the time asked for
    assert time.monotonic() - started < 3.5
    assert sim.attempts("gpt-4o-mini") == 0


def test_only_a_few_requests_wait_on_one_target(defaults: GatewayThread, sim: SimServer) -> None:
    """The breaker that the Retry-After opened lets each waiting request's retry through,
    but at most retry.max_waiting (8) wait on one target; the rest fail over at once.
    The primary is rate-limited for its first second only (a scenario), so every retry
    that waited 2 s is answered."""
    sim.load_scenario(
        Scenario.from_dict(
            {"timeline": [{"at": 0, "until": 1.0, "model": "gpt-4o",
                           "fault": {"kind": "status", "status": 429, "retry_after": 2}}]}
        )
    )  # fmt: skip

    async def main() -> list[str]:
        async with openai.AsyncOpenAI(
            base_url=defaults.url + "/v1", api_key="c", max_retries=0
        ) as c:
            calls = [c.chat.completions.create(model="gpt", messages=HI) for _ in range(12)]
            return [r.model for r in await asyncio.gather(*calls)]

    try:
        models = asyncio.run(main())
    finally:
        sim.load_scenario(Scenario.from_dict({}))
    limited = [r for r in sim.requests("gpt-4o") if r.outcome == "429"]
    waited = models.count("gpt-4o")
    assert waited == len(sim.requests("gpt-4o")) - len(limited)  # each retry answered
    assert 1 <= waited <= 8
    assert models.count("gpt-4o-mini") == 12 - waited


# --- a slow first token ----------------------------------------------------------------------


def warm(client: openai.OpenAI, n: int = 6) -> None:
    for _ in range(n):
        assert ask(client, stream=True)[0] == "gpt-4o"


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_a_slow_first_token_costs_seconds_not_the_whole_wait(
    client: openai.OpenAI, sim: SimServer, stream: bool
) -> None:
    """A target whose first token suddenly takes 20 s: with its usual first token known
    (fast), it is raced at its limit (4 s, the floor) and the backup answers."""
    warm(client)
    sim.set_fault("gpt-4o", {"kind": "slow_first_token", "delay": 20.0})
    started = time.monotonic()
    model, trail = ask(client, stream=stream)
    elapsed = time.monotonic() - started
    assert model == "gpt-4o-mini"
    assert trail == "openai/gpt-4o:first_token_timeout,openai/gpt-4o-mini:200"
    assert 3.9 <= elapsed < 6.0


def test_a_slow_first_token_on_a_cold_target_costs_at_most_the_cold_limit(
    client: openai.OpenAI, sim: SimServer
) -> None:
    """Nothing known about the target yet: raced at 10 s (≤ 15 s in all)."""
    sim.set_fault("gpt-4o", {"kind": "slow_first_token", "delay": 20.0})
    started = time.monotonic()
    model, _ = ask(client, stream=True)
    assert model == "gpt-4o-mini"
    assert 9.9 <= time.monotonic() - started < 15.0


def test_a_first_token_just_after_the_limit_still_wins(
    chaos: Callable[..., GatewayThread], sim: SimServer
) -> None:
    """Raced is not abandoned: a primary that answers after its limit but before the backup
    does keeps the answer (the backup is slower still)."""
    gw = chaos({"deadlines": {"first_token": 0.3}})
    sim.set_fault("gpt-4o", {"kind": "slow_first_token", "delay": 0.5})
    sim.set_model("gpt-4o-mini", ttft=1.0)
    try:
        with openai.OpenAI(base_url=gw.url + "/v1", api_key="c", max_retries=0) as c:
            raw = c.chat.completions.with_raw_response.create(model="gpt", messages=HI)
    finally:
        sim.set_model("gpt-4o-mini", ttft=0.0)
    assert raw.parse().model == "gpt-4o"
    assert set(raw.headers["x-failsoft-trail"].split(",")) == {
        "openai/gpt-4o:200",
        "openai/gpt-4o-mini:cancelled",
    }


def test_a_model_that_is_always_slow_is_learnt_not_abandoned(
    chaos: Callable[..., GatewayThread], sim: SimServer
) -> None:
    """Scaled down (cold limit 0.2 s): a model whose first token always takes 0.9 s is
    raced at 0.2 s, then at about 0.6 s (twice the 0.3 s it lost after; the backup, 0.1 s
    to its first token, wins both), then waited for, and kept from then on."""
    gw = chaos({"deadlines": {"first_token": "auto", "adaptive": {"cold": 0.2, "floor": 0.1}}})
    sim.set_model("gpt-4o", ttft=0.9)
    sim.set_model("gpt-4o-mini", ttft=0.1)
    try:
        with openai.OpenAI(base_url=gw.url + "/v1", api_key="c", max_retries=0) as c:
            models = [
                c.chat.completions.create(model="gpt", messages=HI, stream=True) for _ in range(6)
            ]
            answered = [next(iter(m)).model for m in models]
    finally:
        sim.set_model("gpt-4o", ttft=0.0)
        sim.set_model("gpt-4o-mini", ttft=0.0)
    assert answered[:2] == ["gpt-4o-mini", "gpt-4o-mini"]
    assert answered[2:] == ["gpt-4o"] * 4


# --- a silent target under load --------------------------------------------------------------


async def at_rate(
    rate: float, seconds: float, call: Callable[[], Awaitable[Any]]
) -> list[tuple[float, float, Any]]:
    """Open-loop load: `call` every 1/rate s; (sent at, took, result or the exception)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    results: list[tuple[float, float, Any]] = []

    async def one(at: float) -> None:
        began = loop.time()
        try:
            result: Any = await call()
        except Exception as exc:
            result = exc
        results.append((at, loop.time() - began, result))

    tasks = []
    n = int(rate * seconds)
    for i in range(n):
        await asyncio.sleep(max(0.0, start + i / rate - loop.time()))
        tasks.append(asyncio.ensure_future(one(i / rate)))
    await asyncio.gather(*tasks)
    return results


def test_a_silent_target_is_recognised_within_seconds(
    defaults: GatewayThread, sim: SimServer
) -> None:
    """50 req/s; the primary accepts connections and never answers, from t=1 s to t=5 s.
    The silence is recognised from the requests waiting on it (within about 1 s: three of
    them past max(1 s, 4 × its usual time to headers)), new requests go straight to the
    backup, those already waiting are raced by it. Its breaker's probes (2 s, then 4 s
    apart) bring traffic back soon after it answers again."""

    async def main() -> list[tuple[float, float, Any]]:
        async with openai.AsyncOpenAI(
            base_url=defaults.url + "/v1", api_key="c", max_retries=0, timeout=30
        ) as c:

            async def call() -> str:
                chunks = await c.chat.completions.create(model="gpt", messages=HI, stream=True)
                model = ""
                async for chunk in chunks:
                    model = chunk.model
                return model

            async def script() -> None:
                await asyncio.sleep(1.0)
                sim.set_fault("gpt-4o", {"kind": "hang"})
                await asyncio.sleep(4.0)
                sim.clear_faults()

            results, _ = await asyncio.gather(at_rate(50, 10.5, call), script())
            return results

    results = asyncio.run(main())
    failed = [r for r in results if isinstance(r[2], Exception)]
    assert not failed, failed[:3]
    during = [took for at, took, _ in results if 1.0 <= at < 5.0]
    p99 = statistics.quantiles(during, n=100)[98]
    assert p99 <= 3.0, f"p99 {p99:.2f}s during the silence"
    # Nobody is left to wait for the first-token limit (4 s): a request that was already
    # waiting when the silence was declared is raced as soon as it, too, is late.
    print(f"silence: p99 {p99:.2f}s, slowest {max(during):.2f}s")
    assert max(during) < 3.5, f"slowest {max(during):.2f}s during the silence"
    hung = [r for r in sim.requests("gpt-4o") if r.outcome == "hang"]
    assert len(hung) <= 100  # ~1.1 s of traffic before the silence is recognised
    # Back on the primary once it answers again (the probe that found it still silent at
    # about t=4 s reopened its breaker for 4 s).
    assert [model for at, _, model in results if at >= 10.0].count("gpt-4o") >= 20


# --- a target that cuts every stream ---------------------------------------------------------


def test_a_target_that_cuts_every_stream_is_routed_around(
    defaults: GatewayThread, sim: SimServer
) -> None:
    """20 streams/s; from t=0.5 s to t=8.5 s every primary stream is cut after 3 chunks.
    The primary's breaker hears of each break at once (a stream's success counts only when
    it completes, and a probe that breaks after its first token fails after all), so it
    gets a handful of attempts, and each broken answer is finished, exactly, by the backup
    (which repeats the last two sentences, as the continue prompt asks)."""
    for model in ("gpt-4o", "gpt-4o-mini"):
        sim.set_model(model, answer=TEXT, on_continue="sentence")
    try:

        async def main() -> list[tuple[float, float, Any]]:
            async with openai.AsyncOpenAI(
                base_url=defaults.url + "/v1", api_key="c", max_retries=0
            ) as c:

                async def call() -> str:
                    chunks = await c.chat.completions.create(model="gpt", messages=HI, stream=True)
                    return "".join(
                        [x.choices[0].delta.content or "" async for x in chunks if x.choices]
                    )

                async def script() -> None:
                    await asyncio.sleep(0.5)
                    sim.set_fault("gpt-4o", {"kind": "cut", "after": 3})
                    await asyncio.sleep(8.0)
                    sim.clear_faults()

                results, _ = await asyncio.gather(at_rate(20, 9.0, call), script())
                return results

        results = asyncio.run(main())
    finally:
        for model in ("gpt-4o", "gpt-4o-mini"):
            sim.set_model(model, answer=None, on_continue="continue")
    exact = [r for r in results if r[2] == TEXT]
    assert len(exact) >= 0.99 * len(results), [r[2] for r in results if r[2] != TEXT][:3]
    cut = [r for r in sim.requests("gpt-4o") if r.outcome == "cut"]
    assert len(cut) <= 10  # 5 to open the breaker, then a probe at 2 s, 4 s, 8 s, ...


# --- a stall after the first token, at the true idle deadline --------------------------------


def test_a_stall_is_resumed_within_idle_plus_five_seconds(
    client: openai.OpenAI, sim: SimServer
) -> None:
    """deadlines.idle is 30 s by default: a stream that stalls after its first tokens is
    ended then and finished by the backup; the caller has the whole answer within
    idle + 5 s of the stall."""
    for model in ("gpt-4o", "gpt-4o-mini"):
        sim.set_model(model, answer=TEXT, on_continue="sentence")
    sim.set_fault("gpt-4o", {"kind": "stall", "after": 6})
    try:
        started = time.monotonic()
        chunks = list(client.chat.completions.create(model="gpt", messages=HI, stream=True))
        elapsed = time.monotonic() - started
    finally:
        for model in ("gpt-4o", "gpt-4o-mini"):
            sim.set_model(model, answer=None, on_continue="continue")
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == TEXT
    assert 30.0 <= elapsed < 35.0


# --- the resume cases, at the true defaults --------------------------------------------------


@pytest.fixture
def same_answer(sim: SimServer) -> Iterator[Callable[..., None]]:
    names = ("gpt-4o", "gpt-4o-mini", "claude-opus-4-7", "claude-sonnet-4-5")
    for name in names:
        sim.set_model(name, answer=TEXT, on_continue="sentence")
    yield lambda name, **settings: sim.set_model(name, **settings)
    for name in names:
        sim.set_model(name, answer=None, on_continue="continue", prefill="auto")


def claude_text(gw: GatewayThread) -> tuple[str, str | None]:
    import anthropic

    with (
        anthropic.Anthropic(base_url=gw.url, api_key="c", max_retries=0) as c,
        c.messages.stream(model="claude", max_tokens=300, messages=HI) as stream,
    ):
        message = stream.get_final_message()
    return message.content[0].text, message.stop_reason  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("backup", "fault"),
    [
        ({}, {"kind": "cut", "after": 6}),  # Sonnet 4.5 continues a prefill
        ({"prefill": "reject"}, {"kind": "cut", "after": 6}),  # refused: a user turn
        ({"prefill": "ignore", "on_continue": "restart"}, {"kind": "cut", "after": 6}),
        ({}, {"kind": "malformed", "after": 6, "target": "content"}),
        ({}, {"kind": "mid_stream_error", "after": 6}),
    ],
    ids=["prefill", "prefill-refused", "restart", "broken-content", "error-event"],
)
def test_resume_at_the_defaults(
    defaults: GatewayThread,
    sim: SimServer,
    same_answer: Callable[..., None],
    backup: dict[str, Any],
    fault: dict[str, Any],
) -> None:
    same_answer("claude-sonnet-4-5", **backup)
    sim.set_fault("claude-opus-4-7", fault)
    assert claude_text(defaults) == (TEXT, "end_turn")


def test_no_overlap_at_the_defaults_is_an_error(
    client: openai.OpenAI, sim: SimServer, same_answer: Callable[..., None]
) -> None:
    same_answer("gpt-4o-mini", on_continue="continue")
    sim.set_fault("gpt-4o", {"kind": "cut", "after": 6})
    with pytest.raises(openai.APIError, match="could not be resumed"):
        list(client.chat.completions.create(model="gpt", messages=HI, stream=True))


def test_no_done_at_the_defaults_is_complete(client: openai.OpenAI, sim: SimServer) -> None:
    sim.set_fault("gpt-4o", {"kind": "no_done"})
    chunks = list(client.chat.completions.create(model="gpt", messages=HI, stream=True))
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert sim.attempts("gpt-4o-mini") == 0
