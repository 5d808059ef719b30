"""The refusal log's limits: per (kind, key), per kind, and a bounded memory of keys."""

from __future__ import annotations

import logging

import pytest

from failsoft.clock import FakeClock
from failsoft.server.refusals import RefusalLog


class Records:
    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self.caplog = caplog

    def __getitem__(self, index: int) -> logging.LogRecord:
        return self.caplog.records[index]

    def messages(self) -> list[str]:
        return [r.getMessage() for r in self.caplog.records if r.name == "failsoft.refusal"]


@pytest.fixture
def records(caplog: pytest.LogCaptureFixture) -> Records:
    caplog.set_level(logging.INFO, logger="failsoft.refusal")
    return Records(caplog)


def _messages(records: Records) -> list[str]:
    return records.messages()


def test_a_key_is_logged_n_times_a_window_then_counted(records: Records) -> None:
    clock = FakeClock()
    refusals = RefusalLog(clock, per_key=2, window=60)
    for _ in range(7):
        refusals.refuse("unknown_model", "gpt-5-typo", "no such model", status=404)
    assert len(_messages(records)) == 2
    clock.advance(61)
    refusals.refuse("unknown_model", "gpt-5-typo", "no such model", status=404)
    lines = _messages(records)
    assert len(lines) == 3
    assert "suppressed=5" in lines[-1]
    assert lines[-1].startswith("refused=unknown_model status=404 subject=gpt-5-typo")
    assert records[0].levelno == logging.WARNING


def test_fresh_keys_cannot_flood_the_log(records: Records) -> None:
    clock = FakeClock()
    refusals = RefusalLog(clock, per_key=3, per_kind=5, window=60)
    for i in range(100):
        refusals.refuse("unknown_route", f"GET /probe/{i}", "no route")
    assert len(_messages(records)) == 5
    refusals.refuse("malformed", "/v1/messages", "bad json")  # another kind has its own budget
    assert len(_messages(records)) == 6


def test_the_memory_of_keys_is_bounded(records: Records) -> None:
    clock = FakeClock()
    refusals = RefusalLog(clock, per_key=1, per_kind=10_000, window=60, max_keys=8)
    for i in range(1000):
        refusals.refuse("unknown_model", f"model-{i}", "no such model")
        refusals.refuse("unknown_model", f"model-{i}", "no such model")  # held back
    assert len(refusals._keys) <= 8
    clock.advance(61)
    refusals.refuse("unknown_model", "model-new", "no such model")
    # What was held back for forgotten keys is still reported, once, for the kind.
    assert "suppressed_other=" in _messages(records)[-1]


def test_caller_values_are_quoted_and_cut(records: Records) -> None:
    refusals = RefusalLog(FakeClock())
    refusals.refuse("unknown_model", 'evil"\nrefused=shed ' + "x" * 500, "no such model")
    (line,) = _messages(records)
    assert "\n" not in line and '\\"' in line and "\\n" in line
    assert len(line) < 400


def test_nothing_is_built_when_the_level_is_off(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="failsoft.refusal")
    refusals = RefusalLog(FakeClock())
    refusals.refuse("unknown_model", "m", "no such model")
    assert refusals._keys == {} and caplog.records == []
