"""The status page's view model: a `StatusSnapshot` worked out into small view records.

Everything the page shows is computed here (words, CSS classes, formatted numbers, bar
tooltips), so the template only lays it out and the slow parts (uptime bars) stay plain
Python; `html.render_html` renders `page_context` with the template. States are always
written out next to their colour (for colour-blind readers and screen readers).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from markupsafe import Markup, escape

from failsoft.health.types import (
    ComponentHealth,
    Incident,
    Indicator,
    ProviderStatus,
    State,
    worst,
)
from failsoft.status.model import StatusSnapshot
from failsoft.status.served import callers_context
from failsoft.status.statuspage_json import (
    component_code,
    component_name,
    group_code,
    public_status,
)
from failsoft.status.uptime import Colour, Uptime, component_uptime, format_percent, utc

STATE_WORD: dict[State, str] = {
    "operational": "Operational",
    "degraded_performance": "Degraded performance",
    "partial_outage": "Partial outage",
    "major_outage": "Major outage",
    "under_maintenance": "Under maintenance",
}
_STATE_CLASS: dict[State, str] = {
    "operational": "op",
    "degraded_performance": "deg",
    "partial_outage": "par",
    "major_outage": "maj",
    "under_maintenance": "mnt",
}
_INDICATOR_CLASS: dict[Indicator, str] = {
    "none": "op",
    "minor": "deg",
    "major": "par",
    "critical": "maj",
    "maintenance": "mnt",
}
_IMPACT_WORD: dict[Indicator, str] = {
    "none": "No impact",
    "minor": "Minor",
    "major": "Major",
    "critical": "Critical",
    "maintenance": "Maintenance",
}
_BAR_CLASS: dict[Colour, str] = {
    "operational": "op",
    "degraded": "deg",
    "partial": "par",
    "major": "maj",
    "no-data": "nd",
}
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MOBILE_DAYS = 30
"""Narrow screens show only the newest days' bars (the older ones get class `x`)."""


@dataclass(frozen=True, slots=True)
class Stamp:
    """A moment; renders itself as `<time>` (cheaper than a template macro, used ~100×)."""

    iso: str
    text: str

    def __html__(self) -> str:
        return f'<time datetime="{self.iso}">{self.text}</time>'


@dataclass(frozen=True, slots=True)
class Row:
    id: str
    code: str
    model: str
    state: State
    word: str
    cls: str
    facts: tuple[tuple[str, str], ...]
    since: Stamp | None
    since_for: str
    breaker: str
    breaker_bad: bool
    declared: str | None
    declared_cls: str
    uptime: str
    bars: Markup


@dataclass(frozen=True, slots=True)
class Says:
    description: str
    cls: str
    page_url: str | None
    incidents: tuple[tuple[str, str | None], ...]
    fetched: Stamp | None
    error: str | None


@dataclass(frozen=True, slots=True)
class Group:
    name: str
    code: str
    word: str
    cls: str
    rows: tuple[Row, ...]
    says: Says | None


@dataclass(frozen=True, slots=True)
class Update:
    word: str
    at: Stamp
    body: str


@dataclass(frozen=True, slots=True)
class IncidentView:
    id: str
    title: str
    word: str
    impact: str
    cls: str
    started: Stamp
    ended: Stamp | None
    duration: str
    window: str | None
    components: tuple[str, ...]
    updates: tuple[Update, ...]
    numbers: tuple[str, ...]


# --------------------------------------------------------------------------- formatting


def _stamp(dt: datetime, now: datetime, *, seconds: bool = False) -> Stamp:
    """Short for today ("14:08 UTC"), with the date otherwise ("1 Jun 14:08 UTC")."""
    u, n = utc(dt), utc(now)
    iso = u.isoformat(timespec="seconds")[:19]
    clock = iso[11:19] if seconds else iso[11:16]
    if u.year != n.year:
        text = f"{u.day} {_MONTHS[u.month - 1]} {u.year} {clock} UTC"
    elif u.month != n.month or u.day != n.day:
        text = f"{u.day} {_MONTHS[u.month - 1]} {clock} UTC"
    else:
        text = f"{clock} UTC"
    return Stamp(f"{iso}Z", text)


def duration(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 1:
        return "under 1 min"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def _rate(value: float) -> str:
    pct = value * 100
    if pct == 0:
        return "0%"
    if pct < 0.1:
        return "<0.1%"
    return f"{pct:.1f}%" if pct < 10 else f"{pct:.0f}%"


def _ms(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.0f} ms" if value < 1000 else f"{value / 1000:.1f} s"


def _pair(a: float | None, b: float | None) -> str | None:
    return None if a is None and b is None else f"{_ms(a)} / {_ms(b)}"


# --------------------------------------------------------------------------- view records


@lru_cache(maxsize=8)
def _spotless(first: int, days: int) -> dict[Colour, tuple[str, ...]]:
    """The bar of each day of the window, for a day with no downtime and no incidents, the
    vast majority: the same for every component of a page, so built once per window."""
    old = days - _MOBILE_DAYS
    found: dict[Colour, tuple[str, ...]] = {}
    for colour in ("operational", "degraded"):
        bars = []
        for i in range(days):
            d = date.fromordinal(first + i)
            cls = _BAR_CLASS[colour] + (" x" if i < old else "")
            title = f"{d.day} {_MONTHS[d.month - 1]} {d.year}: 100% uptime, no incidents"
            bars.append(f'<i class="{cls}" title="{title}"></i>')
        found[colour] = tuple(bars)
    return found


def _bars(up: Uptime) -> Markup:
    """The day bars as ready HTML: hundreds per page, too many for a template loop."""
    if not up.bars:
        return Markup("")
    old = len(up.bars) - _MOBILE_DAYS
    spotless = _spotless(up.bars[0].day.toordinal(), len(up.bars))
    out: list[str] = []
    for index, bar in enumerate(up.bars):
        if not bar.downtime_minutes and not bar.incidents and bar.colour in spotless:
            out.append(spotless[bar.colour][index])
            continue
        day = f"{bar.day.day} {_MONTHS[bar.day.month - 1]} {bar.day.year}"
        if not bar.known_minutes:
            title = f"{day}: no data"
        else:
            pct = "100%" if not bar.downtime_minutes else format_percent(bar.uptime)
            title = f"{day}: {pct} uptime" + (
                "".join(
                    f"\n• {escape(t.title)} ({duration(timedelta(minutes=t.minutes))})"
                    for t in bar.incidents
                )
                if bar.incidents
                else ", no incidents"
            )
        cls = _BAR_CLASS[bar.colour] + " x" if index < old else _BAR_CLASS[bar.colour]
        out.append(f'<i class="{cls}" title="{title}"></i>')
    return Markup("".join(out))


def _row(snap: StatusSnapshot, c: ComponentHealth, incidents: tuple[Incident, ...]) -> Row:
    up = component_uptime(
        snap.transitions.get(c.id, ()), snap.now, snap.uptime_days, incidents, c.id
    )
    facts = [
        ("Errors 1m / 5m", f"{_rate(c.error_rate_1m)} / {_rate(c.error_rate_5m)}"),
        ("Traffic", f"{c.requests_1m:,} req/min"),
    ]
    for label, value in (
        ("Latency p50 / p95", _pair(c.latency_p50_ms, c.latency_p95_ms)),
        ("TTFT p50 / p95", _pair(c.ttft_p50_ms, c.ttft_p95_ms)),
    ):
        if value is not None:
            facts.append((label, value))
    return Row(
        id=c.id,
        code=component_code(c.id),
        model=c.model,
        state=c.state,
        word=STATE_WORD[c.state],
        cls=_STATE_CLASS[c.state],
        facts=tuple(facts),
        since=_stamp(c.since, snap.now) if c.since else None,
        since_for=duration(utc(snap.now) - utc(c.since)) if c.since else "",
        breaker=c.breaker.replace("_", "-").capitalize(),
        breaker_bad=c.breaker != "closed",
        declared=STATE_WORD[c.declared] if c.declared else None,
        declared_cls=_STATE_CLASS[c.declared] if c.declared else "",
        uptime=format_percent(up.percent),
        bars=_bars(up),
    )


def safe_url(url: str | None) -> str | None:
    """`url` if it is plain http(s): incident links come from the providers' pages, and
    autoescaping alone would still let a `javascript:` link through."""
    if not url:
        return None
    parts = urlsplit(url.strip())
    return url.strip() if parts.scheme in ("http", "https") and parts.netloc else None


def _says(ps: ProviderStatus, now: datetime) -> Says:
    page = safe_url(ps.page_url)
    return Says(
        description=ps.description or _IMPACT_WORD[ps.indicator],
        cls=_INDICATOR_CLASS[ps.indicator],
        page_url=page,
        incidents=tuple((i.name, safe_url(i.url) or page) for i in ps.incidents),
        fetched=_stamp(ps.fetched_at, now) if ps.fetched_at else None,
        error=ps.error,
    )


def _groups(snap: StatusSnapshot) -> tuple[Group, ...]:
    incidents = (*snap.active, *snap.history)
    declared = {p.provider: p for p in snap.providers}
    by_provider: dict[str, list[ComponentHealth]] = {}
    for c in snap.components:
        by_provider.setdefault(c.provider, []).append(c)
    groups: list[Group] = []
    for provider, models in by_provider.items():
        state = worst([c.state for c in models])
        ps = declared.get(provider)
        groups.append(
            Group(
                name=provider,
                code=group_code(provider),
                word=STATE_WORD[state],
                cls=_STATE_CLASS[state],
                rows=tuple(_row(snap, c, incidents) for c in models),
                says=_says(ps, snap.now) if ps else None,
            )
        )
    return tuple(groups)


def _incident(snap: StatusSnapshot, inc: Incident, names: dict[str, str]) -> IncidentView:
    end = inc.resolved_at or snap.now
    window = None
    if inc.source == "maintenance" and inc.scheduled_for:
        until = _stamp(inc.scheduled_until, snap.now).text if inc.scheduled_until else "open end"
        window = f"{_stamp(inc.scheduled_for, snap.now).text} – {until}"
    numbers = []
    if inc.peak_error_rate:
        numbers.append(f"Peak error rate {_rate(inc.peak_error_rate)}")
    if inc.requests_failed_over:
        numbers.append(f"{inc.requests_failed_over:,} requests failed over")
    if inc.requests_failed_over or inc.requests_lost:
        numbers.append(f"{inc.requests_lost:,} lost")
    return IncidentView(
        id=inc.id,
        title=inc.title,
        word=public_status(inc, inc.status, snap.now).replace("_", " ").capitalize(),
        impact=_IMPACT_WORD[inc.impact],
        cls=_INDICATOR_CLASS[inc.impact],
        started=_stamp(inc.started_at, snap.now),
        ended=_stamp(inc.resolved_at, snap.now) if inc.resolved_at else None,
        duration=duration(max(timedelta(0), utc(end) - utc(inc.started_at))),
        window=window,
        components=tuple(names.get(c, c.replace("/", " / ", 1)) for c in inc.components),
        updates=tuple(
            Update(
                public_status(inc, u.status, snap.now).replace("_", " ").capitalize(),
                _stamp(u.at, snap.now),
                u.body,
            )
            for u in inc.updates
        ),
        numbers=tuple(numbers),
    )


def page_context(snap: StatusSnapshot) -> dict[str, Any]:
    """The template's variables for the whole page (all but the inlined CSS and script)."""
    horizon = utc(snap.now) - timedelta(days=snap.uptime_days)
    past = [i for i in snap.history if i.resolved_at is None or utc(i.resolved_at) >= horizon]
    in_progress = [i for i in snap.active if i.source == "maintenance"]
    base = urlsplit(snap.url).path.rstrip("/")
    names = {c.id: component_name(c) for c in snap.components}
    return {
        "title": snap.title,
        "description": snap.description,
        "overall_cls": _INDICATOR_CLASS[snap.indicator],
        "indicator": snap.indicator,
        "updated": _stamp(snap.now, snap.now, seconds=True),
        "refresh": max(1, int(snap.refresh_seconds)),
        "days": snap.uptime_days,
        "mobile_days": min(_MOBILE_DAYS, snap.uptime_days),
        "groups": _groups(snap),
        **callers_context(snap, STATE_WORD, _STATE_CLASS),
        "active": [_incident(snap, i, names) for i in snap.active if i.source != "maintenance"],
        "maintenance": [_incident(snap, i, names) for i in (*in_progress, *snap.scheduled)],
        "history": [_incident(snap, i, names) for i in past],
        "api": f"{base}/api/v2",
    }
