"""`RouterState.target`: one target's breaker, budget and latency figures in one lookup,
and never a stale one after the state they came from is gone."""

from __future__ import annotations

from failsoft.clock import FakeClock
from failsoft.config import parse_config
from failsoft.events import EventHub
from failsoft.policy.breaker import State
from failsoft.router.state import RouterState
from failsoft.types import Target

CONFIG = """
providers:
  sim: {dialect: openai, base_url: "http://127.0.0.1:9/v1", api_key: k}
models:
  gpt: [sim/gpt-4o, sim/gpt-4o-mini]
{extra}
"""
GPT = Target("sim", "gpt-4o")


def make_state(extra: str = "") -> RouterState:
    return RouterState(parse_config(CONFIG.replace("{extra}", extra)), FakeClock(), EventHub())


def test_the_same_objects_as_each_policy_keeps() -> None:
    state = make_state()
    found = state.target(GPT)
    assert found is state.target(Target("sim", "gpt-4o"))  # equal targets, one state
    assert found.breaker is state.breakers[GPT]
    assert found.budget is state.budget(GPT)
    state.answered(found, GPT, False, 0.25, state.clock.monotonic(), False)
    assert state.latency.ewma(GPT) == 0.25


def test_a_reset_leaves_held_states_stale_and_reports_go_to_the_new_ones() -> None:
    state = make_state()
    held = state.target(GPT)
    held.breaker.force(State.OPEN)
    state.reset()
    assert not held.current
    assert state.target(GPT).breaker is not held.breaker
    state.answered(held, GPT, False, 0.5, state.clock.monotonic(), False)
    assert state.latency.ewma(GPT) == 0.5  # the new figures heard of it, not the old
    assert state.breakers[GPT].state is State.CLOSED


def test_new_budgets_leave_held_states_stale() -> None:
    state = make_state()
    held = state.target(GPT)
    state.reconfigure(parse_config(CONFIG.replace("{extra}", "retry: {budget: {window: 30}}")))
    assert not held.current
    assert state.target(GPT).budget is state.budget(GPT) is not held.budget
