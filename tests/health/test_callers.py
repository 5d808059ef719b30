"""What callers got, counted on a fake clock: which requests count, the rungs, the sliding
window, bounded names, merging, and the thresholds of the headline."""

from __future__ import annotations

import pytest

from failsoft.clock import FakeClock
from failsoft.config import Config, parse_config
from failsoft.config.health import CallersConfig
from failsoft.events import RequestFinished
from failsoft.health.callers import (
    MAX_DIRECT,
    OTHER,
    CallerTally,
    ModelService,
    assess,
    headline,
    level,
    merge,
    percent,
)
from failsoft.health.types import State
from failsoft.types import Target

CONFIG = """
providers:
  anthropic: {dialect: anthropic, base_url: "http://127.0.0.1:9"}
  openai: {dialect: openai, base_url: "http://127.0.0.1:9/v1", direct: ["model-*"]}
models:
  claude: [anthropic/claude-opus-4-7, anthropic/claude-sonnet-4-5, openai/gpt-4o]
  gpt: [openai/gpt-4o]
"""
OPUS = Target("anthropic", "claude-opus-4-7")
SONNET = Target("anthropic", "claude-sonnet-4-5")
GPT4O = Target("openai", "gpt-4o")
PLANS = {
    "claude": ("anthropic/claude-opus-4-7", "anthropic/claude-sonnet-4-5", "openai/gpt-4o"),
    "gpt": ("openai/gpt-4o",),
}
THRESHOLDS = CallersConfig()


@pytest.fixture
def config() -> Config:
    return parse_config(CONFIG)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def finished(
    model: str = "claude",
    target: Target | None = OPUS,
    status: int = 200,
    *,
    ok: bool | None = None,
    shed: bool = False,
    broken: bool = False,
    resumed: bool = False,
) -> RequestFinished:
    ok = status == 200 and not broken if ok is None else ok
    return RequestFinished(
        "req", model, "openai", False, ok, status, target, 1, 0.1, broken, shed, resumed
    )


def test_answers_are_counted_by_rung(config: Config, clock: FakeClock) -> None:
    tally = CallerTally(config, clock)
    for target in (OPUS, OPUS, SONNET, GPT4O):
        tally.request_finished(finished(target=target))
    tally.request_finished(finished(target=GPT4O, model="gpt"))
    assert tally.summary() == {
        "claude": {"requests": 4, "answered": 4, "rung1": 2, "rung2": 1, "rung3": 1},
        "gpt": {"requests": 1, "answered": 1, "rung1": 1},
    }


def test_what_counts_as_not_answered_and_what_not_at_all(config: Config, clock: FakeClock) -> None:
    tally = CallerTally(config, clock)
    not_answered = [
        finished(target=None, status=503),  # every target failed
        finished(target=None, status=529),  # the same, Anthropic surface
        finished(target=None, status=503, shed=True),  # failsoft's own overload
        finished(status=200, broken=True),  # a committed stream broke, not resumed
        finished(target=None, status=401),  # failsoft's key, not the caller's
        finished(target=None, status=403),
        finished(target=None, status=429),
    ]
    ignored = [
        finished(target=None, status=499),  # the caller went away first
        finished(target=None, status=400),  # the caller's malformed request
        finished(target=None, status=404),
        finished(target=None, status=413),
        finished(target=None, status=422),
        finished("no-such-model", target=None, status=503, shed=True),  # not a model name
    ]
    for event in not_answered + ignored:
        tally.request_finished(event)
    tally.request_finished(finished(status=200, broken=True, resumed=True, ok=True))
    assert tally.summary() == {"claude": {"requests": 8, "answered": 1, "rung1": 1}}


def test_the_window_slides(config: Config, clock: FakeClock) -> None:
    tally = CallerTally(config, clock)  # 300 s in 30 buckets of 10 s
    tally.request_finished(finished(target=None, status=503))
    clock.advance(150)
    tally.request_finished(finished())
    assert tally.summary()["claude"] == {"requests": 2, "answered": 1, "rung1": 1}
    clock.advance(160)  # the failure is 310 s old
    assert tally.summary()["claude"] == {"requests": 1, "answered": 1, "rung1": 1}
    clock.advance(150)
    assert tally.summary() == {}
    tally.request_finished(finished())
    tally.clear()
    assert tally.summary() == {}


def test_the_cache_layer_answers(config: Config, clock: FakeClock) -> None:
    tally = CallerTally(config, clock)
    tally.served("claude", "cache")  # a fresh hit: the router never saw it
    tally.request_finished(finished(target=None, status=503))
    tally.served("claude", "stale")  # ...then the ladder answered that one
    tally.request_finished(finished(target=None, status=503))  # and this one nothing did
    assert tally.summary() == {
        "claude": {"requests": 3, "answered": 2, "cache": 1, "stale": 1},
    }
    clock.advance(295)  # the ladder's answer outlives the failure it repaired
    tally.request_finished(finished(target=None, status=503))
    tally.served("claude", "static")
    clock.advance(10)
    summary = tally.summary()["claude"]
    assert summary["answered"] <= summary["requests"]


def test_direct_names_are_bounded(config: Config, clock: FakeClock) -> None:
    tally = CallerTally(config, clock)
    for n in range(MAX_DIRECT + 20):
        tally.request_finished(finished(f"openai/model-{n}", Target("openai", f"model-{n}")))
    summary = tally.summary()
    assert len(summary) == MAX_DIRECT + 1
    assert summary["openai/model-0"] == {"requests": 1, "answered": 1, "rung1": 1}
    assert summary[OTHER] == {"requests": 20, "answered": 20, "rung1": 20}
    assert len(tally._tallies) == len(config.models) + MAX_DIRECT + 1


def test_merge_adds_processes_up() -> None:
    one = {"claude": {"requests": 3, "answered": 3, "rung1": 3}}
    two = {"claude": {"requests": 2, "answered": 1, "rung2": 1}, "gpt": {"requests": 1}}
    assert merge([one, two, {}]) == {
        "claude": {"requests": 5, "answered": 4, "rung1": 3, "rung2": 1},
        "gpt": {"requests": 1},
    }
    assert one == {"claude": {"requests": 3, "answered": 3, "rung1": 3}}  # inputs untouched


@pytest.mark.parametrize(
    ("answered", "expected"),
    [(1000, "none"), (995, "none"), (994, "minor"), (950, "minor"), (949, "major"),
     (750, "major"), (749, "critical"), (0, "critical")],
)  # fmt: skip
def test_thresholds(answered: int, expected: str) -> None:
    assert level(1000, answered, THRESHOLDS) == expected


def test_too_few_requests_to_judge() -> None:
    assert level(4, 4, THRESHOLDS) == "none"
    assert level(4, 3, THRESHOLDS) == "minor"
    assert level(5, 3, THRESHOLDS) == "critical"
    assert level(0, 0, THRESHOLDS) == "none"


def test_percent_never_rounds_up_to_everything() -> None:
    assert percent(172, 172) == "100%"
    assert percent(9999, 10000) == "99.9%"
    assert percent(72, 172) == "41.8%"
    assert percent(1, 2) == "50%"
    assert percent(0, 0) == "0%"


STATES: dict[str, State] = {
    "anthropic/claude-opus-4-7": "major_outage",
    "anthropic/claude-sonnet-4-5": "operational",
    "openai/gpt-4o": "operational",
}


def test_an_absorbed_outage_is_said_to_be_one() -> None:
    summary = {"claude": {"requests": 172, "answered": 172, "rung2": 172}}
    models = assess(summary, PLANS, STATES, THRESHOLDS)
    claude, gpt = models
    assert (claude.indicator, claude.state, claude.fallback) == ("none", "operational", 172)
    assert gpt.requests == 0 and gpt.state == "operational"  # judged by its target
    indicator, description = headline(models, STATES, 300)
    assert indicator == "none"
    assert description == (
        "All requests answered — anthropic/claude-opus-4-7 failing, served by fallbacks"
    )


def test_a_real_outage_is_said_to_be_one() -> None:
    summary = {
        "claude": {"requests": 100, "answered": 100, "rung1": 100},
        "gpt": {"requests": 100, "answered": 60, "rung1": 60},
    }
    states: dict[str, State] = {**STATES, "openai/gpt-4o": "major_outage"}
    models = assess(summary, PLANS, states, THRESHOLDS)
    assert [m.state for m in models] == ["operational", "major_outage"]
    assert headline(models, states, 300) == ("critical", "Major System Outage")


def test_an_idle_model_is_judged_by_its_targets_but_does_not_set_the_headline() -> None:
    states: dict[str, State] = {
        **STATES,
        "anthropic/claude-opus-4-7": "operational",
        "openai/gpt-4o": "major_outage",
    }
    summary = {"claude": {"requests": 50, "answered": 50, "rung1": 50}}
    claude, gpt = assess(summary, PLANS, states, THRESHOLDS)
    assert gpt.state == "major_outage" and gpt.requests == 0
    indicator, description = headline((claude, gpt), states, 300)
    assert indicator == "none"
    assert description == "All requests answered — openai/gpt-4o failing"


def test_no_traffic_at_all() -> None:
    models = assess({}, PLANS, STATES, THRESHOLDS)
    assert headline(models, STATES, 300) == (
        "none",
        "No requests in the last 5 minutes — anthropic/claude-opus-4-7 failing",
    )
    fine: dict[str, State] = dict.fromkeys(STATES, "operational")
    assert headline(models, fine, 300) == ("none", "All Systems Operational")
    resting: dict[str, State] = {**fine, "openai/gpt-4o": "under_maintenance"}
    assert headline(models, resting, 300) == ("maintenance", "Service Under Maintenance")


def test_assess_orders_and_names_models() -> None:
    summary = {
        OTHER: {"requests": 1, "answered": 1, "rung1": 1},
        "openai/gpt-4o-mini": {"requests": 2, "answered": 2, "rung1": 1, "cache": 1},
        "claude": {"requests": 3, "answered": 3, "rung2": 1, "rung1": 1, "stale": 1},
    }
    models = assess(summary, PLANS, STATES, THRESHOLDS)
    assert [m.name for m in models] == ["claude", "gpt", "openai/gpt-4o-mini", OTHER]
    assert models[0].by == (("rung1", 1), ("rung2", 1), ("stale", 1))
    assert models[0].fallback == 2
    assert models[2].targets == ("openai/gpt-4o-mini",) and models[2].fallback == 0
    assert isinstance(models[3], ModelService) and models[3].targets == ()
