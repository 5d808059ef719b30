"""Failover log lines are sampled per target, so an outage cannot flood the log."""

from __future__ import annotations

import logging

import pytest

from failsoft.clock import FakeClock
from failsoft.router.logs import SampledLog


def test_first_line_then_a_count(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="t")
    clock = FakeClock()
    sampled = SampledLog(logging.getLogger("t"), clock, interval=10.0)
    for _ in range(500):
        sampled(logging.INFO, "a/m:529", "failed %s", "x")
        clock.advance(0.01)
    sampled(logging.INFO, "b/m:500", "other %s", "y")
    assert [r.getMessage() for r in caplog.records] == ["failed x", "other y"]
    clock.advance(10.0)
    sampled(logging.INFO, "a/m:529", "failed %s", "x")
    assert caplog.records[-1].getMessage() == "failed x (and 499 more like it in the last 15 s)"


def test_disabled_level_costs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="t2")
    sampled = SampledLog(logging.getLogger("t2"), FakeClock())
    sampled(logging.INFO, "k", "never")
    assert not caplog.records
