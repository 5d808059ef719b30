"""Realistic status snapshots for the renderer tests (and anyone wanting a page to look at).

`build_snapshot()` is a gateway in mid-outage: Anthropic's Opus in major outage with an open
incident (and Anthropic's own page admitting a partial outage), OpenAI's gpt-4o degraded,
a local vLLM node under maintenance that only started reporting 20 days ago, a resolved
history, and one maintenance scheduled for later. Everything is relative to `NOW`.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from failsoft.health.callers import ModelService
from failsoft.health.types import (
    ComponentHealth,
    DeclaredComponent,
    DeclaredIncident,
    DeclaredUpdate,
    Incident,
    IncidentUpdate,
    ProviderStatus,
    State,
    Transition,
)
from failsoft.status.model import StatusSnapshot
from failsoft.status.uptime import window_start

NOW = datetime(2026, 6, 3, 14, 30, 0, 123000, tzinfo=UTC)
OPUS = "anthropic/claude-opus-4-7"
SONNET = "anthropic/claude-sonnet-4-5"
GPT4O = "openai/gpt-4o"
MINI = "openai/gpt-4o-mini"
LOCAL = "local/llama3.1:8b"
PAGE_URL = "http://127.0.0.1:8080/status"


def ago(now: datetime = NOW, **delta: float) -> datetime:
    return now - timedelta(**delta)


def components(now: datetime = NOW) -> tuple[ComponentHealth, ...]:
    return (
        ComponentHealth(
            id=OPUS,
            provider="anthropic",
            model="claude-opus-4-7",
            state="major_outage",
            breaker="open",
            requests_1m=118,
            error_rate_1m=0.93,
            error_rate_5m=0.712,
            error_rate_1h=0.31,
            errors_by_class_5m={"overloaded": 402, "server_error": 37},
            latency_p50_ms=2310.0,
            latency_p95_ms=14800.0,
            ttft_p50_ms=940.0,
            ttft_p95_ms=5200.0,
            declared="partial_outage",
            since=ago(now, minutes=30),
        ),
        ComponentHealth(
            id=SONNET,
            provider="anthropic",
            model="claude-sonnet-4-5",
            state="operational",
            requests_1m=342,
            error_rate_1m=0.003,
            error_rate_5m=0.002,
            latency_p50_ms=820.0,
            latency_p95_ms=2400.0,
            ttft_p50_ms=410.0,
            ttft_p95_ms=1190.0,
            declared="operational",
            since=ago(now, days=3, hours=2),
        ),
        ComponentHealth(
            id=GPT4O,
            provider="openai",
            model="gpt-4o",
            state="degraded_performance",
            breaker="half_open",
            requests_1m=77,
            error_rate_1m=0.04,
            error_rate_5m=0.061,
            latency_p50_ms=3900.0,
            latency_p95_ms=9800.0,
            ttft_p50_ms=2100.0,
            ttft_p95_ms=7400.0,
            since=ago(now, minutes=15),
        ),
        ComponentHealth(
            id=MINI,
            provider="openai",
            model="gpt-4o-mini",
            state="operational",
            requests_1m=510,
            error_rate_1m=0.0,
            error_rate_5m=0.001,
            latency_p50_ms=450.0,
            latency_p95_ms=1300.0,
            since=ago(now, days=10, hours=-1),
        ),
        ComponentHealth(
            id=LOCAL,
            provider="local",
            model="llama3.1:8b",
            state="under_maintenance",
            since=ago(now, minutes=20),
        ),
    )


def transitions(now: datetime = NOW, days: int = 90) -> dict[str, tuple[Transition, ...]]:
    start = window_start(now, days)

    def walk(cid: str, first: datetime, *steps: tuple[datetime, State]) -> tuple[Transition, ...]:
        return (Transition(cid, "operational", first), *(Transition(cid, s, at) for at, s in steps))

    return {
        OPUS: walk(
            OPUS,
            start,
            (ago(now, days=3, hours=3), "major_outage"),
            (ago(now, days=3, hours=2, minutes=30), "operational"),
            (ago(now, minutes=42), "partial_outage"),
            (ago(now, minutes=30), "major_outage"),
        ),
        SONNET: walk(SONNET, start),
        GPT4O: walk(
            GPT4O,
            start,
            (ago(now, days=40, hours=6), "degraded_performance"),
            (ago(now, days=40, hours=4), "operational"),
            (ago(now, minutes=15), "degraded_performance"),
        ),
        MINI: walk(
            MINI,
            start,
            (ago(now, days=10, hours=2), "partial_outage"),
            (ago(now, days=10, hours=1), "operational"),
        ),
        LOCAL: walk(
            LOCAL,
            ago(now, days=20, hours=5),
            (ago(now, days=12, hours=4), "under_maintenance"),
            (ago(now, days=12, hours=3), "operational"),
            (ago(now, minutes=20), "under_maintenance"),
        ),
    }


def _update(status: str, body: str, at: datetime, state: State | None = None) -> IncidentUpdate:
    return IncidentUpdate(status=status, body=body, at=at, state=state)


def active(now: datetime = NOW) -> tuple[Incident, ...]:
    return (
        Incident(
            id="inc-opus-0603",
            title="Elevated errors on anthropic / claude-opus-4-7",
            status="identified",
            impact="critical",
            started_at=ago(now, minutes=42),
            updated_at=ago(now, minutes=30),
            components=(OPUS,),
            updates=(
                _update(
                    "identified",
                    "93% of requests return 529 overloaded_error. Traffic is failing over to "
                    "anthropic / claude-sonnet-4-5; 12 requests could not be answered.",
                    ago(now, minutes=30),
                    "major_outage",
                ),
                _update(
                    "investigating",
                    "Error rate above 25% over 1 minute (overloaded_error, api_error).",
                    ago(now, minutes=42),
                    "partial_outage",
                ),
            ),
            peak_error_rate=0.95,
            requests_failed_over=1843,
            requests_lost=12,
        ),
        Incident(
            id="inc-gpt4o-0603",
            title="Slow responses from openai / gpt-4o",
            status="investigating",
            impact="minor",
            started_at=ago(now, minutes=15),
            updated_at=ago(now, minutes=15),
            components=(GPT4O,),
            updates=(
                _update(
                    "investigating",
                    "p95 latency 9.8 s (usual 2.5 s); time to first token p95 7.4 s.",
                    ago(now, minutes=15),
                    "degraded_performance",
                ),
            ),
            peak_error_rate=0.07,
            requests_failed_over=96,
        ),
        Incident(
            id="mnt-local-0603",
            title="Upgrading the local vLLM node",
            status="identified",
            impact="maintenance",
            started_at=ago(now, minutes=20),
            updated_at=ago(now, minutes=20),
            components=(LOCAL,),
            updates=(
                _update(
                    "identified", "Maintenance started.", ago(now, minutes=20), "under_maintenance"
                ),
            ),
            source="maintenance",
            scheduled_for=ago(now, minutes=20),
            scheduled_until=ago(now, minutes=-40),
        ),
    )


def history(now: datetime = NOW) -> tuple[Incident, ...]:
    def resolved(
        id: str, title: str, impact: str, cid: str, start: datetime, minutes: int, **kw: object
    ) -> Incident:
        end = start + timedelta(minutes=minutes)
        return Incident(
            id=id,
            title=title,
            status="resolved",
            impact=impact,
            started_at=start,
            updated_at=end,
            resolved_at=end,
            components=(cid,),
            updates=(
                _update("resolved", "Error rate back under 1% for 10 minutes.", end, "operational"),
                _update(
                    "monitoring",
                    "Errors dropping; still failing over.",
                    start + timedelta(minutes=minutes // 2),
                ),
                _update("investigating", "Error rate above threshold.", start, "major_outage"),
            ),
            **kw,
        )

    return (
        resolved(
            "inc-opus-0531",
            "Elevated errors on anthropic / claude-opus-4-7",
            "critical",
            OPUS,
            ago(now, days=3, hours=3),
            30,
            peak_error_rate=0.99,
            requests_failed_over=2210,
            requests_lost=3,
        ),
        resolved(
            "inc-mini-0524",
            "Timeouts from openai / gpt-4o-mini",
            "major",
            MINI,
            ago(now, days=10, hours=2),
            60,
            peak_error_rate=0.42,
            requests_failed_over=640,
        ),
        replace(
            resolved(
                "mnt-local-0522",
                "Driver update on the local vLLM node",
                "maintenance",
                LOCAL,
                ago(now, days=12, hours=4),
                60,
            ),
            source="maintenance",
            scheduled_for=ago(now, days=12, hours=4),
            scheduled_until=ago(now, days=12, hours=3),
        ),
        resolved(
            "inc-gpt4o-0424",
            "Rate limited by openai / gpt-4o",
            "minor",
            GPT4O,
            ago(now, days=40, hours=6),
            120,
            peak_error_rate=0.18,
            requests_failed_over=310,
        ),
    )


def scheduled(now: datetime = NOW) -> tuple[Incident, ...]:
    start = (now + timedelta(days=2)).replace(hour=6, minute=0, second=0, microsecond=0)
    return (
        Incident(
            id="mnt-openai-keys",
            title="Rotating the OpenAI API keys",
            status="investigating",
            impact="maintenance",
            started_at=start,
            updated_at=ago(now, hours=5),
            components=(GPT4O, MINI),
            updates=(
                _update(
                    "investigating",
                    "Requests may fail over to other providers for a few seconds.",
                    ago(now, hours=5),
                ),
            ),
            source="maintenance",
            scheduled_for=start,
            scheduled_until=start + timedelta(minutes=30),
        ),
    )


def providers(now: datetime = NOW) -> tuple[ProviderStatus, ...]:
    return (
        ProviderStatus(
            provider="anthropic",
            page_url="https://status.claude.com",
            indicator="major",
            description="Partial System Outage",
            components=(
                DeclaredComponent(
                    "k8w3r06qmzrp", "Claude API (api.anthropic.com)", "partial_outage"
                ),
            ),
            incidents=(
                DeclaredIncident(
                    id="thp2kyjx60qn",
                    name="Elevated errors on Claude Opus 4.7",
                    status="identified",
                    impact="major",
                    started_at=ago(now, minutes=25),
                    updated_at=ago(now, minutes=10),
                    url="https://status.claude.com/incidents/thp2kyjx60qn",
                    components=("Claude API (api.anthropic.com)",),
                    updates=(
                        DeclaredUpdate(
                            "identified",
                            "The issue has been identified and a fix is being implemented.",
                            ago(now, minutes=10),
                        ),
                    ),
                ),
            ),
            fetched_at=ago(now, seconds=40),
        ),
        ProviderStatus(
            provider="openai",
            page_url="https://status.openai.com",
            indicator="none",
            description="All Systems Operational",
            fetched_at=ago(now, seconds=55),
        ),
    )


def build_snapshot(now: datetime = NOW, **overrides: object) -> StatusSnapshot:
    """The mid-outage page described in the module docstring; override any field."""
    snap = StatusSnapshot(
        page_id="failsoft",
        title="failsoft status",
        url=PAGE_URL,
        now=now,
        indicator="critical",
        description="Major System Outage",
        components=components(now),
        active=active(now),
        history=history(now),
        scheduled=scheduled(now),
        transitions=transitions(now),
        providers=providers(now),
    )
    return replace(snap, **overrides)


def empty_snapshot(now: datetime = NOW) -> StatusSnapshot:
    """A gateway that has just started: no components known yet, nothing happened."""
    return StatusSnapshot(
        page_id="failsoft",
        title="failsoft status",
        url=PAGE_URL,
        now=now,
        indicator="none",
        description="All Systems Operational",
        components=(),
    )


def big_snapshot(n_components: int = 10, n_incidents: int = 20) -> StatusSnapshot:
    """Size/speed reference: `n_components` models over 3 providers, each with a 90-day
    history, and `n_incidents` resolved incidents spread over the window."""
    base = build_snapshot()
    comps: list[ComponentHealth] = []
    trans: dict[str, tuple[Transition, ...]] = {}
    template = components()[1]
    for i in range(n_components):
        provider = ("anthropic", "openai", "google")[i % 3]
        cid = f"{provider}/model-{i}"
        comps.append(replace(template, id=cid, provider=provider, model=f"model-{i}"))
        steps = [Transition(cid, "operational", window_start(NOW, 90))]
        for day in range(85, 0, -9):
            steps.append(Transition(cid, "partial_outage", ago(days=day, hours=i % 5)))
            steps.append(Transition(cid, "operational", ago(days=day, hours=i % 5 - 1)))
        trans[cid] = tuple(steps)
    past = [
        replace(
            base.history[i % 2],
            id=f"inc-{i}",
            components=(comps[i % n_components].id,),
            started_at=ago(days=4 * i + 1),
            resolved_at=ago(days=4 * i + 1, minutes=-45),
            updated_at=ago(days=4 * i + 1, minutes=-45),
        )
        for i in range(n_incidents)
    ]
    return replace(base, components=tuple(comps), transitions=trans, history=tuple(past))


def callers(now: datetime = NOW) -> tuple[ModelService, ...]:
    """What callers got during the fixture's outage: Opus failing, every `claude` request
    answered, 72 of them by Sonnet; `gpt` on its primary; `local` idle."""
    return (
        ModelService(
            "claude", (OPUS, SONNET), 172, 172, (("rung1", 100), ("rung2", 72)), "none",
            "operational", since=ago(now, days=1), first_seen=ago(now, days=2),
        ),
        ModelService(
            "gpt", (GPT4O, MINI), 510, 509, (("rung1", 505), ("rung2", 3), ("cache", 1)),
            "none", "operational", since=ago(now, minutes=15), first_seen=ago(now, days=2),
        ),
        ModelService("local", (LOCAL,), 0, 0, (), "none", "under_maintenance"),
    )  # fmt: skip


def absorbed_snapshot(now: datetime = NOW) -> StatusSnapshot:
    """The mid-outage page as callers saw it: every request answered, by fallbacks too."""
    return build_snapshot(
        now,
        indicator="none",
        description="All requests answered — anthropic/claude-opus-4-7 failing, served by fallbacks",
        active=(),
        callers=callers(now),
    )
