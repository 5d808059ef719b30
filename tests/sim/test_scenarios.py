"""Scenario files: validation messages, activation windows on a fake clock, one real timeline."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from failsoft.clock import FakeClock
from failsoft.sim import Scenario, SimServer, SpecError
from failsoft.sim.scenarios import Timeline, TimelineEntry

from .helpers import GPT, MODEL, user

OUTAGE = """
seed: 7
defaults: {ttft: 0.0, chunk_delay: 0.0, answer_words: 12}
models:
  claude-opus-4-7: {answer_words: 3}
  claude-sonnet-4-5: {}
timeline:
  - {at: 5, until: 20, model: claude-opus-4-7, fault: {kind: status, status: 529}}
  - {at: 20, until: 35, model: claude-opus-4-7, fault: {kind: status, status: 500, rate: 0.5}}
  - {at: 36, model: claude-opus-4-7, fault: {kind: cut, after: 3, count: 1, stream: true}}
"""


def kinds(timeline: Timeline, model: str, at: float, stream: bool = False) -> list[Any]:
    return [(slot.fault.kind, slot.fault.status) for slot in timeline.slots(model, at)]


def test_parse_the_documented_example() -> None:
    scenario = Scenario.from_text(OUTAGE)
    assert scenario.seed == 7
    assert scenario.defaults == {"ttft": 0.0, "chunk_delay": 0.0, "answer_words": 12}
    assert scenario.models["claude-opus-4-7"] == {"answer_words": 3}
    assert scenario.model_names() == ["claude-opus-4-7", "claude-sonnet-4-5"]
    assert scenario.timeline[0] == TimelineEntry(
        at=5, until=20, model=MODEL, fault=scenario.timeline[0].fault
    )
    assert scenario.timeline[2].until is None
    assert Scenario.from_text(b'{"timeline": []}') == Scenario()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"timeline": [{"at": 0, "model": "m", "fault": {"kind": "reset"}},
                       {"at": 1, "model": "m", "fault": {"kind": "reset"}},
                       {"at": 2, "model": "m", "fault": {"kind": "cutt"}}]},
         "timeline[2].fault.kind: unknown fault kind 'cutt' (expected one of: status, "),
        ({"timeline": [{"at": 5, "until": 5, "model": "m", "fault": {"kind": "hang"}}]},
         "timeline[0].until: must be after 'at' (5), got 5"),
        ({"timeline": [{"model": "m", "fault": {"kind": "hang"}}]}, "timeline[0].at: required"),
        ({"timeline": [{"at": -1, "model": "m", "fault": {"kind": "hang"}}]},
         "timeline[0].at: must be between 0 and 1e+09, got -1"),
        ({"timeline": [{"at": 1, "model": "m", "fault": {"kind": "status", "status": 200}}]},
         "timeline[0].fault.status: must be between 400 and 599"),
        ({"timeline": [{"at": 1, "model": "m", "falut": {}}]},
         "timeline[0].falut: unknown timeline key (expected one of: at, fault, model, until); "
         "did you mean 'fault'?"),
        ({"timeline": {"at": 1}}, "timeline: expected a list, got a mapping"),
        ({"models": {"m": {"ttft": -0.5}}}, "models.m.ttft: must be between 0 and 3600, got -0.5"),
        ({"models": {"m": {"tfft": 1}}}, "models.m.tfft: unknown model setting"),
        ({"defaults": {"answer_words": 0}}, "defaults.answer_words: must be between 1 and 100000"),
        ({"sed": 1}, "sed: unknown scenario key (expected one of: defaults, description, models, "
         "seed, timeline); did you mean 'seed'?"),
        ({"seed": "x"}, "seed: expected an integer, got string 'x'"),
        ([1, 2], "scenario: expected a mapping, got a list"),
    ],
)  # fmt: skip
def test_validation_errors_name_entry_and_field(data: object, message: str) -> None:
    with pytest.raises(SpecError) as error:
        Scenario.from_dict(data)
    assert str(error.value).startswith(message)


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "outage.yaml"
    bad.write_text("timeline:\n  - {at: 1, model: m, fault: {kind: cutt}}\n")
    with pytest.raises(SpecError, match=r"outage\.yaml: timeline\[0\]\.fault\.kind: unknown"):
        Scenario.from_file(bad)
    broken = tmp_path / "broken.yaml"
    broken.write_text("timeline: [\n")
    with pytest.raises(SpecError, match=r"broken\.yaml: not valid YAML or JSON"):
        Scenario.from_file(broken)
    good = tmp_path / "good.json"
    good.write_text('{"seed": 3, "models": {"m": {}}}')
    assert Scenario.from_file(good).seed == 3


def test_activation_windows_on_a_fake_clock() -> None:
    clock = FakeClock()
    scenario = Scenario.from_text(OUTAGE)
    timeline = Timeline(clock, scenario.timeline, scenario.seed)
    assert kinds(timeline, MODEL, 0) == []
    assert kinds(timeline, MODEL, 4.99) == []
    assert kinds(timeline, MODEL, 5) == [("status", 529)]
    assert kinds(timeline, MODEL, 19.99) == [("status", 529)]
    assert kinds(timeline, MODEL, 20) == [("status", 500)]
    assert kinds(timeline, MODEL, 35) == []
    assert kinds(timeline, MODEL, 36) == [("cut", None)]
    assert kinds(timeline, MODEL, 10_000) == [("cut", None)]
    assert kinds(timeline, "claude-sonnet-4-5", 10) == []
    clock.advance(6)
    assert kinds(timeline, MODEL, timeline.elapsed()) == [("status", 529)]
    timeline.restart()
    assert timeline.elapsed() == 0


def test_entry_without_until_ends_when_replaced_or_used_up() -> None:
    entries = [
        TimelineEntry(at=0, model="m", fault=_fault("status", status=500)),
        TimelineEntry(at=10, until=20, model="m", fault=_fault("status", status=503)),
        TimelineEntry(at=15, model="m", fault=_fault("reset", count=1)),
        TimelineEntry(at=0, model="*", fault=_fault("hang", stream=True)),
    ]
    timeline = Timeline(FakeClock(), entries)
    assert kinds(timeline, "m", 5) == [("status", 500)]
    assert kinds(timeline, "m", 12) == [("status", 503)]  # the first entry was replaced at 10
    assert kinds(timeline, "m", 25) == [("reset", None)]
    assert kinds(timeline, "m", 16) == [("reset", None), ("status", 503)]  # newest first
    slot = next(timeline.slots("m", 16))
    assert slot.consider(False)
    assert kinds(timeline, "m", 16) == [("status", 503)]  # count used up: the older one shows
    assert kinds(timeline, "*", 1000) == [("hang", None)]
    timeline.restart()
    assert kinds(timeline, "m", 16) == [("reset", None), ("status", 503)]


def _fault(kind: str, **options: Any) -> Any:
    from failsoft.sim import Fault

    return Fault(kind, **options)


async def _post(http: aiohttp.ClientSession, sim: SimServer, model: str, **body: Any) -> int:
    payload = {"model": model, "max_tokens": 10, "messages": user(), **body}
    headers = {"anthropic-version": "2023-06-01"}
    async with http.post(sim.url + "/v1/messages", json=payload, headers=headers) as resp:
        await resp.read()
        return resp.status


async def test_server_follows_the_timeline_on_a_fake_clock() -> None:
    clock = FakeClock()
    scenario = Scenario.from_text(OUTAGE)
    with SimServer(scenario=scenario, clock=clock).run_in_thread() as sim:
        async with aiohttp.ClientSession() as http:
            assert await _post(http, sim, MODEL) == 200
            clock.advance(5)
            assert await _post(http, sim, MODEL) == 529
            assert await _post(http, sim, "claude-sonnet-4-5") == 200
            sim.set_fault(MODEL, {"kind": "status", "status": 418})  # runtime beats timeline
            assert await _post(http, sim, MODEL) == 418
            sim.clear_faults()
            clock.advance(15)
            statuses = [await _post(http, sim, MODEL) for _ in range(20)]
            assert set(statuses) == {200, 500}
            clock.advance(16)
            assert await _post(http, sim, MODEL) == 200  # the cut is for streams only
            sim.reset()
            assert await _post(http, sim, MODEL) == 200  # scenario clock restarted
            assert sim.faults()["elapsed"] == 0
        names = [record.model for record in sim.requests()]
        assert names == [MODEL]  # reset cleared the log


async def test_scenario_settings_and_models_list() -> None:
    scenario = Scenario.from_text(OUTAGE)
    with SimServer(models=[GPT], scenario=scenario).run_in_thread() as sim:
        async with aiohttp.ClientSession() as http:
            async with http.get(sim.url + "/v1/models") as resp:
                ids = [item["id"] for item in (await resp.json())["data"]]
            assert ids == [GPT, MODEL, "claude-sonnet-4-5"]
            async with http.post(
                sim.url + "/v1/chat/completions", json={"model": MODEL, "messages": user()}
            ) as resp:
                body = await resp.json()
        assert body["usage"]["completion_tokens"] == 4 + 3


async def test_a_real_short_timeline() -> None:
    scenario = Scenario.from_dict(
        {"timeline": [{"at": 0.0, "until": 0.3, "model": GPT, "fault": {"kind": "reset"}}]}
    )
    with SimServer(scenario=scenario).run_in_thread() as sim:
        started = time.monotonic()
        outcomes = []
        async with aiohttp.ClientSession() as http:
            while time.monotonic() - started < 3 and "200" not in outcomes:
                try:
                    async with http.post(
                        sim.url + "/v1/chat/completions", json={"model": GPT, "messages": user()}
                    ) as resp:
                        outcomes.append(str(resp.status))
                except aiohttp.ClientOSError:
                    outcomes.append("reset")
                await asyncio.sleep(0.02)  # polling pace, not a timing assumption
        recovered_after = time.monotonic() - started
    assert outcomes[0] == "reset"
    assert outcomes[-1] == "200"
    assert set(outcomes[:-1]) == {"reset"}
    assert recovered_after >= 0.3
