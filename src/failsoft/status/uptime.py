"""Per-day uptime bars and the uptime percentage, from a component's state transitions.

The formula (quoted in the docs; weights from `failsoft.health.types.DOWNTIME_WEIGHT`, the
weighting Statuspage's uptime showcase uses as documented by Instatus):

    window    = the last N whole UTC days, today included, up to `now`
                (N = `uptime_days`, 90 by default; today counts only up to `now`)
    minutes   = minutes of the window at or after the component's first transition; minutes
                before it are "no data": left out of the denominator, drawn as grey bars
    downtime  = 1.0 × major_outage minutes + 0.3 × partial_outage minutes
                (degraded_performance and under_maintenance count 0)
    uptime %  = (minutes − downtime) / minutes × 100        (none when minutes = 0)

A day's bar uses the same formula over that day, and its colour is the worst state the
component was in at any moment of that day (`major`, `partial`, `degraded`, else
`operational`, maintenance included; `no-data` when nothing is known for the day): one bad
minute stays visible on a 99.9 % day, which is what someone asking "was it down on
Tuesday?" needs. Each bar also lists the incidents that overlapped the day, with their
minutes within it (`incident_minutes`); an incident with no components concerns them all.

Percentages are shown truncated, not rounded (`format_percent`), so a day with any downtime
never reads "100.00 %".

Everything here is pure: transitions and incidents in, frozen values out, so the bars can
be computed for a fixture in tests and cached with the snapshot.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from types import MappingProxyType
from typing import Literal, NamedTuple

from failsoft.health.types import (
    DOWNTIME_WEIGHT,
    SEVERITY,
    STATES,
    Incident,
    State,
    Transition,
)

Colour = Literal["operational", "degraded", "partial", "major", "no-data"]

_COLOUR: dict[State, Colour] = {
    "operational": "operational",
    "under_maintenance": "operational",
    "degraded_performance": "degraded",
    "partial_outage": "partial",
    "major_outage": "major",
}
_DAY = timedelta(days=1)
_DAY_S = 86_400.0
_NOTHING: Mapping[State, float] = MappingProxyType({})


def _whole(state: State) -> tuple[Mapping[State, float], float, float, float, Colour, tuple[()]]:
    return (
        MappingProxyType({state: 1440.0}),
        1440.0,
        0.0,
        1440 * DOWNTIME_WEIGHT[state],
        _COLOUR[state],
        (),
    )


_WHOLE_DAY = {state: _whole(state) for state in STATES}
"""A day spent entirely in one state, shared between bars (read-only)."""


@dataclass(frozen=True)
class IncidentTouch:
    """An incident that overlapped a day, and for how many minutes of that day."""

    id: str
    title: str
    minutes: float


class DayBar(NamedTuple):
    """One UTC day of one component (a tuple: a page builds hundreds of these per render)."""

    day: date
    minutes: Mapping[State, float]
    """Minutes spent in each state that day (states with none are absent)."""
    known_minutes: float
    """Their sum: the day's denominator."""
    no_data_minutes: float
    """Minutes of the day (up to `now`) before the component's first transition."""
    downtime_minutes: float
    colour: Colour
    incidents: tuple[IncidentTouch, ...] = ()

    @property
    def uptime(self) -> float | None:
        """The day's uptime %, or None when nothing is known about the day."""
        return _percent(self.known_minutes, self.downtime_minutes)


@dataclass(frozen=True)
class Uptime:
    """A component's bars (oldest day first, today last) and the window's totals."""

    bars: tuple[DayBar, ...]
    known_minutes: float
    downtime_minutes: float
    incidents: tuple[str, ...] = field(default=())
    """Ids of the incidents that touched any day of the window."""

    @property
    def percent(self) -> float | None:
        return _percent(self.known_minutes, self.downtime_minutes)


def utc(dt: datetime) -> datetime:
    """`dt` in UTC; naive datetimes are taken to be UTC already (as the clock produces)."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def window_start(now: datetime, days: int) -> datetime:
    """Midnight UTC of the window's first day (today counts as one of the `days`)."""
    today = utc(now).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - (max(days, 1) - 1) * _DAY


def format_percent(value: float | None, places: int = 2) -> str:
    """Truncated, so that any downtime at all shows below 100 %; "–" when unknown.

    Only a spotless span reads "100%" (no decimals, to keep hundreds of tooltips short).
    """
    if value is None:
        return "–"
    if value >= 100:
        return "100%"
    scale = 10**places
    return f"{math.floor(value * scale + 1e-9) / scale:.{places}f}%"


def _percent(known: float, downtime: float) -> float | None:
    if known <= 0:
        return None
    return max(0.0, (known - downtime) / known * 100.0)


def _segments(
    transitions: Iterable[Transition], start: float, now: float
) -> list[tuple[float, float, State]]:
    """Contiguous (from, to, state) spans, in POSIX seconds, within [start, now]; nothing
    before the first transition, which is how "no data" arises."""
    ordered = sorted((utc(t.at).timestamp(), i, t.state) for i, t in enumerate(transitions))
    ordered = [entry for entry in ordered if entry[0] <= now]
    spans: list[tuple[float, float, State]] = []
    for i, (at, _, state) in enumerate(ordered):
        begin = max(at, start)
        end = min(ordered[i + 1][0] if i + 1 < len(ordered) else now, now)
        if end > begin:
            spans.append((begin, end, state))
    return spans


def day_bars(
    transitions: Sequence[Transition], now: datetime, days: int = 90
) -> tuple[DayBar, ...]:
    """The last `days` UTC days, oldest first, without incidents (see `component_uptime`).

    Days before today can't change any more for the same transitions, and the page is
    re-rendered every few seconds from fresh snapshots: they are computed once (per
    component and day) and only today's bar each time.
    """
    now = utc(now)
    if days <= 1:
        return _compute(transitions, now, 1)
    today = window_start(now, 1)
    cutoff = today.timestamp()
    before = tuple(t for t in transitions if utc(t.at).timestamp() < cutoff)
    return _past_days(before, today, days) + _compute(transitions, now, 1)


@lru_cache(maxsize=256)
def _past_days(before: tuple[Transition, ...], today: datetime, days: int) -> tuple[DayBar, ...]:
    return _compute(before, today, days)[:-1]  # the last is today, with nothing elapsed


def _compute(transitions: Iterable[Transition], now: datetime, days: int) -> tuple[DayBar, ...]:
    """The bars, in POSIX seconds (UTC days are exactly 86,400 of them): fast enough for
    a page of many components."""
    first = window_start(now, days)
    t0, tn, count = first.timestamp(), now.timestamp(), max(days, 1)
    per_day: list[dict[State, float] | State | None] = [None] * count
    for begin, end, state in _segments(transitions, t0, tn):
        index = int((begin - t0) // _DAY_S)
        while begin < end:
            day_end = t0 + (index + 1) * _DAY_S
            if end >= day_end and begin == day_end - _DAY_S:
                per_day[index] = state  # the usual day: one state from midnight to midnight
                begin = day_end
            else:
                stop = min(end, day_end)
                bucket = per_day[index]
                if not isinstance(bucket, dict):
                    bucket = per_day[index] = {}
                bucket[state] = bucket.get(state, 0.0) + (stop - begin) / 60
                begin = stop
            index += 1
    ordinal = first.date().toordinal()
    bars: list[DayBar] = []
    make = DayBar._make
    for index, entry in enumerate(per_day):
        day = date.fromordinal(ordinal + index)
        if isinstance(entry, str):
            bars.append(make((day, *_WHOLE_DAY[entry])))
            continue
        minutes = entry or _NOTHING
        elapsed = min(_DAY_S, tn - t0 - index * _DAY_S) / 60
        known = sum(minutes.values())
        downtime = sum(DOWNTIME_WEIGHT[s] * m for s, m in minutes.items())
        colour = _COLOUR[max(minutes, key=SEVERITY.__getitem__)] if minutes else "no-data"
        bars.append(
            DayBar(
                day, MappingProxyType(minutes), known, max(0.0, elapsed - known), downtime, colour
            )
        )
    return tuple(bars)


def _incident_span(incident: Incident, now: datetime) -> tuple[datetime, datetime] | None:
    begin = utc(incident.started_at)
    end = utc(incident.resolved_at) if incident.resolved_at is not None else now
    if begin > now:
        return None  # a maintenance that has not started yet
    return begin, max(begin, min(end, now))


def incident_minutes(
    incidents: Iterable[Incident],
    now: datetime,
    days: int = 90,
    component: str | None = None,
) -> dict[date, tuple[IncidentTouch, ...]]:
    """Which incidents touched each day of the window, and for how long that day.

    With `component`, only incidents that list it count, plus page-wide incidents (those
    with no components), since they concern every component.
    """
    now = utc(now)
    start = window_start(now, days)
    touched: dict[date, list[IncidentTouch]] = {}
    seen: set[str] = set()
    for incident in incidents:
        if incident.id in seen:
            continue
        seen.add(incident.id)
        if component is not None and incident.components and component not in incident.components:
            continue
        span = _incident_span(incident, now)
        if span is None or span[1] < start:
            continue
        begin, end = max(span[0], start), span[1]
        day = begin.replace(hour=0, minute=0, second=0, microsecond=0)
        while day <= end and day < now:
            overlap = (min(end, day + _DAY) - max(begin, day)).total_seconds() / 60
            if overlap > 0 or (begin == end and day <= begin < day + _DAY):
                touch = IncidentTouch(incident.id, incident.title, overlap)
                touched.setdefault(day.date(), []).append(touch)
            day += _DAY
    return {d: tuple(sorted(ts, key=lambda t: -t.minutes)) for d, ts in touched.items()}


def component_uptime(
    transitions: Sequence[Transition],
    now: datetime,
    days: int = 90,
    incidents: Iterable[Incident] = (),
    component: str | None = None,
) -> Uptime:
    """The bars with their incidents attached, and the window's uptime totals."""
    bars = day_bars(transitions, now, days)
    touched = incident_minutes(incidents, now, days, component)
    if touched:
        bars = tuple(b._replace(incidents=touched[b.day]) if b.day in touched else b for b in bars)
    ids = dict.fromkeys(t.id for day in sorted(touched) for t in touched[day])
    return Uptime(
        bars=bars,
        known_minutes=sum(b.known_minutes for b in bars),
        downtime_minutes=sum(b.downtime_minutes for b in bars),
        incidents=tuple(ids),
    )
