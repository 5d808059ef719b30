"""The uptime formula on cases small enough to check by hand (see `failsoft.status.uptime`)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from failsoft.clock import FakeClock
from failsoft.health.types import STATES, Incident, State, Transition
from failsoft.status.uptime import (
    component_uptime,
    day_bars,
    format_percent,
    incident_minutes,
    window_start,
)
from tests.health.test_evidence import make_monitor

C = "p/m"


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 6, day, hour, minute, tzinfo=UTC)


def tr(when: datetime, state: State) -> Transition:
    return Transition(C, state, when)


def incident(id: str, start: datetime, end: datetime | None, *components: str) -> Incident:
    return Incident(
        id=id,
        title=f"incident {id}",
        status="resolved" if end else "investigating",
        impact="major",
        started_at=start,
        updated_at=end or start,
        resolved_at=end,
        components=components,
    )


def test_window_starts_at_utc_midnight_and_counts_today() -> None:
    assert window_start(at(3, 14, 30), 1) == at(3, 0)
    assert window_start(at(3, 14, 30), 90) == at(3, 0) - timedelta(days=89)
    # 06:00 on 3 June in UTC+5 is 01:00 UTC: the UTC day decides
    assert window_start(at(3, 1).astimezone(timezone(timedelta(hours=5))), 1) == at(3, 0)
    assert window_start(at(2, 23).astimezone(timezone(timedelta(hours=5))), 1) == at(2, 0)


def test_30_min_major_and_60_min_partial_today_with_now_mid_day() -> None:
    transitions = [
        tr(at(3, 0), "operational"),
        tr(at(3, 6), "major_outage"),
        tr(at(3, 6, 30), "operational"),
        tr(at(3, 8), "partial_outage"),
        tr(at(3, 9), "operational"),
    ]
    (bar,) = day_bars(transitions, at(3, 12), days=1)
    assert bar.day == date(2026, 6, 3)
    assert dict(bar.minutes) == {"operational": 630, "major_outage": 30, "partial_outage": 60}
    assert bar.known_minutes == 720  # only up to now
    assert bar.no_data_minutes == 0
    assert bar.downtime_minutes == pytest.approx(30 + 0.3 * 60)  # 48
    assert bar.uptime == pytest.approx((720 - 48) / 720 * 100)  # 93.333...
    assert bar.colour == "major"
    assert format_percent(bar.uptime) == "93.33%"


def test_the_same_outages_on_a_whole_past_day_and_over_the_window() -> None:
    transitions = [
        tr(at(1, 0), "operational"),
        tr(at(3, 6), "major_outage"),
        tr(at(3, 6, 30), "operational"),
        tr(at(3, 8), "partial_outage"),
        tr(at(3, 9), "operational"),
    ]
    up = component_uptime(transitions, at(4, 12), days=3)
    assert [b.day.day for b in up.bars] == [2, 3, 4]
    assert [b.colour for b in up.bars] == ["operational", "major", "operational"]
    assert up.bars[1].uptime == pytest.approx((1440 - 48) / 1440 * 100)  # 96.666...
    assert up.known_minutes == 1440 + 1440 + 720
    assert up.downtime_minutes == pytest.approx(48)
    assert up.percent == pytest.approx((3600 - 48) / 3600 * 100)  # 98.666...
    assert format_percent(up.percent) == "98.66%"  # truncated, not rounded up


def test_minutes_before_the_first_transition_are_no_data() -> None:
    transitions = [
        tr(at(3, 18), "operational"),
        tr(at(3, 20), "major_outage"),
        tr(at(3, 20, 30), "operational"),
    ]
    up = component_uptime(transitions, at(4, 12), days=3)
    before, first, today = up.bars
    assert before.colour == "no-data"
    assert before.uptime is None
    assert before.no_data_minutes == 1440
    assert first.known_minutes == 360
    assert first.no_data_minutes == 1080
    assert first.colour == "major"
    assert today.known_minutes == 720
    # the denominator leaves the unknown minutes out: (360 + 720 - 30) / (360 + 720)
    assert up.percent == pytest.approx(1050 / 1080 * 100)


def test_nothing_known_means_no_percentage() -> None:
    up = component_uptime([], at(3, 12), days=90)
    assert len(up.bars) == 90
    assert {b.colour for b in up.bars} == {"no-data"}
    assert up.percent is None
    assert format_percent(up.percent) == "–"


def test_an_outage_across_midnight_is_split_between_the_days() -> None:
    transitions = [
        tr(at(1, 0), "operational"),
        tr(at(2, 23, 30), "major_outage"),
        tr(at(3, 0, 45), "operational"),
    ]
    bars = day_bars(transitions, at(3, 12), days=2)
    assert bars[0].minutes["major_outage"] == 30
    assert bars[1].minutes["major_outage"] == 45
    assert [b.colour for b in bars] == ["major", "major"]
    assert bars[0].downtime_minutes == 30
    assert bars[1].downtime_minutes == 45


def test_the_state_at_window_start_may_be_older_than_the_window() -> None:
    transitions = [tr(at(1, 0) - timedelta(days=400), "partial_outage")]
    bars = day_bars(transitions, at(3, 6), days=3)
    assert [dict(b.minutes) for b in bars] == [
        {"partial_outage": 1440},
        {"partial_outage": 1440},
        {"partial_outage": 360},
    ]
    assert bars[0].uptime == pytest.approx(70.0)


def test_degraded_and_maintenance_are_not_downtime() -> None:
    transitions = [
        tr(at(3, 0), "degraded_performance"),
        tr(at(3, 6), "under_maintenance"),
        tr(at(3, 12), "operational"),
    ]
    (bar,) = day_bars(transitions, at(3, 18), days=1)
    assert bar.downtime_minutes == 0
    assert bar.uptime == 100
    assert bar.colour == "degraded"
    (mnt,) = day_bars([tr(at(3, 0), "under_maintenance")], at(3, 18), days=1)
    assert mnt.colour == "operational"
    assert format_percent(mnt.uptime) == "100%"


def test_transitions_are_sorted_and_future_ones_ignored() -> None:
    transitions = [
        tr(at(3, 13), "major_outage"),  # after now
        tr(at(3, 6), "partial_outage"),
        tr(at(3, 0), "operational"),
    ]
    (bar,) = day_bars(transitions, at(3, 12), days=1)
    assert dict(bar.minutes) == {"operational": 360, "partial_outage": 360}


def test_naive_datetimes_are_utc() -> None:
    naive = [Transition(C, "major_outage", datetime(2026, 6, 3, 6))]
    (bar,) = day_bars(naive, datetime(2026, 6, 3, 12), days=1)
    assert bar.minutes == {"major_outage": 360}
    assert bar.no_data_minutes == 360


def test_incident_minutes_per_day_across_midnight_and_until_now() -> None:
    incidents = [
        incident("a", at(2, 23, 50), at(3, 0, 20), C),
        incident("b", at(3, 10), None, C),  # still open: counts up to now
        incident("c", at(3, 9), at(3, 9, 5), "other/model"),
        incident("page-wide", at(3, 1), at(3, 1, 1)),
    ]
    touched = incident_minutes(incidents, at(3, 12), days=2, component=C)
    assert [(t.id, t.minutes) for t in touched[date(2026, 6, 2)]] == [("a", 10)]
    assert [(t.id, t.minutes) for t in touched[date(2026, 6, 3)]] == [
        ("b", 120),
        ("a", 20),
        ("page-wide", 1),
    ]
    everyone = incident_minutes(incidents, at(3, 12), days=2)
    assert {t.id for t in everyone[date(2026, 6, 3)]} == {"a", "b", "c", "page-wide"}


def test_incidents_outside_the_window_or_not_started_are_left_out() -> None:
    incidents = [
        incident("old", at(1, 0) - timedelta(days=100), at(1, 1) - timedelta(days=100), C),
        incident("future", at(4, 0), at(4, 1), C),
    ]
    assert incident_minutes(incidents, at(3, 12), days=90, component=C) == {}


def test_component_uptime_attaches_incidents_to_bars() -> None:
    transitions = [tr(at(1, 0), "operational"), tr(at(3, 6), "major_outage")]
    up = component_uptime(
        transitions, at(3, 7), days=3, incidents=[incident("x", at(3, 6), None, C)], component=C
    )
    assert up.incidents == ("x",)
    assert up.bars[-1].incidents[0].minutes == 60
    assert up.bars[0].incidents == ()


@pytest.mark.parametrize(
    ("value", "text"),
    [(100.0, "100%"), (99.999, "99.99%"), (99.95, "99.95%"), (0.0, "0.00%"), (None, "–")],
)
def test_format_percent_truncates(value: float | None, text: str) -> None:
    assert format_percent(value) == text


@given(
    steps=st.lists(
        st.tuples(st.integers(0, 5 * 24 * 60), st.sampled_from(STATES)), min_size=0, max_size=12
    ),
    now_minute=st.integers(0, 5 * 24 * 60),
)
def test_minutes_always_add_up(steps: list[tuple[int, State]], now_minute: int) -> None:
    origin = at(1, 0)
    now = origin + timedelta(minutes=now_minute)
    transitions = [tr(origin + timedelta(minutes=m), s) for m, s in steps]
    bars = day_bars(transitions, now, days=7)
    elapsed = (now - window_start(now, 7)).total_seconds() / 60
    assert sum(b.known_minutes + b.no_data_minutes for b in bars) == pytest.approx(elapsed)
    for b in bars:
        assert b.uptime is None or 0 <= b.uptime <= 100
        assert (b.colour == "no-data") == (b.known_minutes == 0)


async def test_a_quiet_model_is_down_only_while_failures_are_seen() -> None:
    """The measured case: a fallback fails for 30 s, its breaker opens, and nothing asks it
    again all day. Its day is not spent "down" for lack of traffic (it read 23 %): the way
    back to operational is dated from its last failure, the end of the evidence."""
    midnight = at(3, 0)
    clock = FakeClock(start=1000.0, wall_start=midnight.timestamp())
    monitor = make_monitor(clock)
    key = "anthropic/claude-sonnet-4-5"
    await monitor.evaluate()
    clock.advance(10 * 3600)
    for second in range(1, 31):  # 10:00:01 to 10:00:30, five failures a second
        clock.advance(1)
        for _ in range(5):
            monitor.passive.record(key, clock.monotonic(), "529", 0.1)
        if second % 5 == 0:
            await monitor.evaluate()
    monitor.breakers[key] = "open"
    for _ in range(7 * 6):  # until 17:00, an evaluation every 10 minutes
        clock.advance(600)
        await monitor.evaluate()
    history = await monitor.store.transitions(midnight - timedelta(days=1))
    assert [(t.state, t.at - midnight) for t in history[key]] == [
        ("operational", timedelta(0)),
        ("major_outage", timedelta(hours=10, seconds=5)),
        ("operational", timedelta(hours=10, seconds=30)),
    ]
    (bar,) = day_bars(history[key], at(3, 17), days=1)
    assert bar.downtime_minutes == pytest.approx(25 / 60)
    assert bar.uptime == pytest.approx((17 * 3600 - 25) / (17 * 3600) * 100)
    assert format_percent(bar.uptime) == "99.95%"
