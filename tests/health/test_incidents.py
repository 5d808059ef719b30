"""The incident keeper's rules, on a fake timeline: open after `open_after`, join models of
the same provider, monitor, flap back, resolve after `resolve_after`; manual incidents and
maintenance windows."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, datetime, timedelta

from failsoft.config import HealthConfig
from failsoft.health.incidents import ComponentView, IncidentKeeper

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
CONFIG = HealthConfig(open_after=20, resolve_after=300)


def keeper() -> IncidentKeeper:
    counter = itertools.count(1)
    return IncidentKeeper(CONFIG, ids=lambda: f"inc{next(counter)}")


def view(
    model: str, state: str, rate: float | None = None, provider: str = "anthropic"
) -> ComponentView:
    return ComponentView(f"{provider}/{model}", provider, model, state, rate, "529", 40)  # type: ignore[arg-type]


def at(k: IncidentKeeper, seconds: float, *views: ComponentView) -> list[tuple[str, str, str]]:
    events = k.observe(list(views), seconds, T0 + timedelta(seconds=seconds))
    return [(kind, i.id, i.status) for kind, i in events]


def test_opens_only_after_open_after_and_only_for_bad_models() -> None:
    k = keeper()
    assert at(k, 0, view("opus", "partial_outage", 0.3), view("haiku", "operational", 0.0)) == []
    assert at(k, 10, view("opus", "operational", 0.0)) == []  # it went away: clock restarts
    assert at(k, 15, view("opus", "major_outage", 0.9)) == []
    assert at(k, 35, view("opus", "major_outage", 0.95)) == [
        ("incident.opened", "inc1", "investigating")
    ]
    (incident,) = k.active.values()
    assert incident.started_at == T0 + timedelta(seconds=35)
    assert incident.impact == "critical"
    assert "95% of 40 attempts failed, mostly 529 overloaded" in incident.updates[0].body


def test_models_of_one_provider_join_one_incident_others_get_their_own() -> None:
    k = keeper()
    at(k, 0, view("opus", "major_outage", 0.9))
    at(k, 20, view("opus", "major_outage", 0.9), view("sonnet", "partial_outage", 0.4))
    events = at(
        k, 40, view("opus", "major_outage", 0.9), view("sonnet", "partial_outage", 0.4),
        view("gpt-4o", "major_outage", 0.8, provider="openai"),
    )  # fmt: skip
    assert ("incident.updated", "inc1", "investigating") in events
    incident = k.active["inc1"]
    assert incident.components == ("anthropic/opus", "anthropic/sonnet")
    assert incident.title == "Elevated errors on opus and sonnet (529 overloaded)"
    at(k, 60, view("gpt-4o", "major_outage", 0.8, provider="openai"))
    assert k.active["inc2"].components == ("openai/gpt-4o",)


def test_monitoring_flaps_back_and_resolves_after_quiet() -> None:
    k = keeper()
    at(k, 0, view("opus", "major_outage", 0.9))
    at(k, 20, view("opus", "major_outage", 0.9))
    assert at(k, 100, view("opus", "operational", 0.0)) == [
        ("incident.updated", "inc1", "monitoring")
    ]
    assert at(k, 200, view("opus", "partial_outage", 0.3)) == [
        ("incident.updated", "inc1", "investigating")
    ]
    assert at(k, 300, view("opus", "degraded_performance", 0.06)) == [
        ("incident.updated", "inc1", "monitoring")
    ]
    assert at(k, 599, view("opus", "operational", 0.0)) == []
    assert at(k, 600, view("opus", "operational", 0.0)) == [
        ("incident.resolved", "inc1", "resolved")
    ]
    assert k.active == {}


def test_requests_are_counted_while_an_incident_covers_the_model() -> None:
    k = keeper()
    k.count("anthropic/opus", lost=False)  # before: not counted anywhere
    at(k, 0, view("opus", "major_outage", 0.9))
    at(k, 20, view("opus", "major_outage", 0.9))
    for lost in (False, False, True):
        k.count("anthropic/opus", lost=lost)
    incident = k.active["inc1"]
    assert (incident.requests_failed_over, incident.requests_lost) == (2, 1)


def test_manual_incidents_and_maintenance() -> None:
    k = keeper()
    kind, manual = k.create(title="Investigating slow answers", components=("openai/gpt-4o",),
                            body="We are looking into it.", now=T0)  # fmt: skip
    assert (kind, manual.source, manual.status) == ("incident.opened", "manual", "investigating")
    kind, updated = k.update(manual.id, body="Found it.", status="identified", now=T0)
    assert updated.status == "identified" and updated.updates[0].body == "Found it."
    kind, done = k.update(manual.id, body="Fixed.", status="resolved", now=T0)
    assert kind == "incident.resolved" and done.resolved_at == T0
    start, end = T0 + timedelta(hours=1), T0 + timedelta(hours=2)
    _, window = k.create(title="Upgrade", components=("openai/gpt-4o",), body="Planned.",
                         now=T0, maintenance=True, scheduled_for=start, scheduled_until=end)  # fmt: skip
    assert window.impact == "maintenance"
    assert k.under_maintenance(T0) == set()
    assert k.under_maintenance(start + timedelta(minutes=1)) == {"openai/gpt-4o"}
    assert k.expire_maintenance(start) == []
    ((kind, over),) = k.expire_maintenance(end)
    assert kind == "incident.resolved" and over.id == window.id


def test_rejected_credentials_open_an_incident_that_says_so() -> None:
    """A refused key is the operator's to fix, not the provider's outage: the incident
    says whose key, and what to fix; another model of the provider joins it."""
    k = keeper()

    def refused(model: str) -> ComponentView:
        return ComponentView(f"openai/{model}", "openai", model, "partial_outage", 1.0, "401", 3)

    at(k, 0, refused("gpt-4o"))
    assert at(k, 20, refused("gpt-4o")) == [("incident.opened", "inc1", "investigating")]
    incident = k.active["inc1"]
    assert incident.title == "Credentials rejected by openai for gpt-4o"
    body = incident.updates[0].body
    assert "mostly 401 credentials rejected" in body
    assert "openai rejects failsoft's credentials" in body
    assert "providers.openai.api_key" in body
    at(k, 25, refused("gpt-4o"), refused("gpt-4o-mini"))
    at(k, 45, refused("gpt-4o"), refused("gpt-4o-mini"))
    assert k.active["inc1"].title == "Credentials rejected by openai for gpt-4o and gpt-4o-mini"


def test_a_403_opens_an_ordinary_incident() -> None:
    k = keeper()
    forbidden = ComponentView("openai/gpt-4o", "openai", "gpt-4o", "major_outage", 1.0, "403", 9)
    at(k, 0, forbidden)
    at(k, 20, forbidden)
    (incident,) = k.active.values()
    assert incident.title == "Elevated errors on gpt-4o (403 forbidden)"
    assert "credentials" not in incident.updates[0].body


def test_resolves_resolve_after_the_last_failure_with_or_without_traffic() -> None:
    k = keeper()

    def quiet(model: str, state: str, last_failure: float) -> ComponentView:
        view = ComponentView(f"anthropic/{model}", "anthropic", model, state, None)  # type: ignore[arg-type]
        return dataclasses.replace(view, last_failure=last_failure)

    at(k, 0, quiet("opus", "major_outage", 0))
    at(k, 20, quiet("opus", "major_outage", 20))
    # No traffic after t = 25: the state is operational from t = 85 (recover_after), and
    # the incident resolves at 25 + resolve_after, however late it was seen healthy.
    assert at(k, 85, quiet("opus", "operational", 25)) == [
        ("incident.updated", "inc1", "monitoring")
    ]
    assert at(k, 324, quiet("opus", "operational", 25)) == []
    assert at(k, 325, quiet("opus", "operational", 25)) == [
        ("incident.resolved", "inc1", "resolved")
    ]
