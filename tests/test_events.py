"""The event hub says, per kind of event, whether anyone listens: the router builds no
event nobody would hear (one per attempt and one per request otherwise)."""

from __future__ import annotations

from failsoft.events import AttemptFinished, BreakerChanged, EventHub, RequestFinished
from failsoft.types import Target


def test_listening_is_per_kind_and_ends_with_the_last_subscriber() -> None:
    hub = EventHub()
    assert not (hub.active or hub.attempts or hub.requests or hub.breakers)
    heard: list[RequestFinished] = []
    first = hub.subscribe(RequestFinished, heard.append)
    second = hub.subscribe(RequestFinished, heard.append)
    assert hub.active and hub.requests
    assert not hub.attempts and not hub.breakers
    first()
    assert hub.requests
    second()
    assert not hub.active and not hub.requests


def test_events_reach_the_subscribers_of_their_kind_only() -> None:
    hub = EventHub()
    attempts: list[AttemptFinished] = []
    breakers: list[BreakerChanged] = []
    hub.subscribe(AttemptFinished, attempts.append)
    hub.subscribe(BreakerChanged, breakers.append)
    assert hub.attempts and hub.breakers and not hub.requests
    target = Target("p", "m")
    event = AttemptFinished("r1", "gpt", target, "200", True, 0.1, 0.05)
    hub.emit(event)
    hub.emit(BreakerChanged(target, "open", "closed", "5 consecutive failures"))
    assert attempts == [event]
    assert [b.state for b in breakers] == ["open"]
