"""Webhook delivery against a real receiver on 127.0.0.1, with backoff on a fake clock.

The fake clock's `sleep` returns at once, so a retry schedule of minutes runs in
milliseconds while the receiver still sees the times (and signatures) of each attempt.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import logging
import os
import random
import socket
import stat
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web
from standardwebhooks.webhooks import Webhook

from failsoft.clock import FakeClock
from failsoft.events import BreakerChanged
from failsoft.health.types import Incident, IncidentUpdate
from failsoft.notify import DeadLetter, Endpoint, WebhookSender, verify
from failsoft.notify.webhooks import _retry_after, redact
from failsoft.types import Target

SECRET = "whsec_" + base64.b64encode(b"failsoft-test-secret-0123456789").decode()
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
INCIDENT = Incident(
    id="inc_1",
    title="Elevated errors on Claude Opus",
    status="investigating",
    impact="major",
    started_at=T0,
    updated_at=T0,
    components=("anthropic/claude-opus-4-7",),
    updates=(IncidentUpdate("investigating", "Error rate 40%.", T0, "partial_outage"),),
)
OPENED = BreakerChanged(Target("openai", "gpt-4o"), "open", "closed", "5 failures", 30.0)


@dataclass
class Hit:
    headers: dict[str, str]
    body: bytes
    at: float
    """The fake clock's monotonic time when the attempt arrived."""

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class Path_:
    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    """Answers for the next attempts, in order; then 200."""
    always: int | None = None
    hold: asyncio.Event | None = None
    hits: list[Hit] = field(default_factory=list)


class Receiver:
    """One aiohttp app; each path is its own endpoint with its own script."""

    def __init__(self) -> None:
        self.clock = FakeClock(wall_start=time.time())
        self.paths: dict[str, Path_] = {}
        self.base = ""

    def url(self, name: str) -> str:
        self.paths.setdefault(name, Path_())
        return f"{self.base}/{name}"

    def __getitem__(self, name: str) -> Path_:
        return self.paths.setdefault(name, Path_())

    async def handle(self, request: web.Request) -> web.Response:
        path = self[request.match_info["name"]]
        headers = {k.lower(): v for k, v in request.headers.items()}
        path.hits.append(Hit(headers, await request.read(), self.clock.monotonic()))
        if path.hold is not None:
            await path.hold.wait()
        if path.script:
            status, extra = path.script.pop(0)
        else:
            status, extra = path.always or 200, {}
        return web.Response(status=status, headers=extra)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    recv = Receiver()
    app = web.Application()
    app.router.add_post("/{name:.*}", recv.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    recv.base = f"http://127.0.0.1:{port}"
    yield recv
    for path in recv.paths.values():
        if path.hold is not None:
            path.hold.set()
    await runner.cleanup()


MakeSender = Callable[..., WebhookSender]


@pytest.fixture
async def make_sender(receiver: Receiver) -> AsyncIterator[MakeSender]:
    made: list[WebhookSender] = []

    def make(*endpoints: Endpoint, start: bool = True, **options: Any) -> WebhookSender:
        options.setdefault("clock", receiver.clock)
        options.setdefault("rng", random.Random(7))
        options.setdefault("page_url", "http://127.0.0.1:8080/status")
        sender = WebhookSender(endpoints, **options)
        if start:
            sender.start()
        made.append(sender)
        return sender

    yield make
    for sender in made:
        await sender.close(drain_seconds=0.5)


async def until(condition: Callable[[], bool], seconds: float = 2.0) -> None:
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("timed out")


class Letters(list[DeadLetter]):
    async def __call__(self, letter: DeadLetter) -> None:
        self.append(letter)


async def test_delivered_and_verified_by_the_reference(
    receiver: Receiver, make_sender: MakeSender
) -> None:
    sender = make_sender(Endpoint(receiver.url("a"), secret=SECRET, headers={"X-Team": "ops"}))
    msg_id = sender.send("incident.opened", INCIDENT)
    await sender.close()
    [hit] = receiver["a"].hits
    assert hit.id == msg_id and msg_id is not None and msg_id.startswith("msg_")
    payload = Webhook(SECRET).verify(hit.body, hit.headers)
    assert payload["type"] == "incident.opened"
    assert payload["data"]["name"] == "Elevated errors on Claude Opus"
    assert payload["data"]["shortlink"] == "http://127.0.0.1:8080/status"
    assert hit.headers["content-type"] == "application/json"
    assert hit.headers["user-agent"].startswith("failsoft/")
    assert hit.headers["x-team"] == "ops"
    assert (sender.delivered, sender.retried, sender.dead) == (1, 0, 0)


async def test_unsigned_without_a_secret(receiver: Receiver, make_sender: MakeSender) -> None:
    sender = make_sender(Endpoint(receiver.url("a")))
    sender.send("breaker.opened", OPENED)
    await sender.close()
    [hit] = receiver["a"].hits
    assert "webhook-signature" not in hit.headers
    assert hit.json()["data"]["target"] == "openai/gpt-4o"


async def test_retried_with_the_same_id_on_a_backoff_schedule(
    receiver: Receiver, make_sender: MakeSender
) -> None:
    receiver["a"].script = [(500, {})] * 3
    sender = make_sender(
        Endpoint(receiver.url("a"), secret=SECRET, backoff_base=2.0), rng=random.Random(42)
    )
    sender.send("incident.opened", INCIDENT)
    await sender.close()
    hits = receiver["a"].hits
    assert len(hits) == 4
    assert len({h.id for h in hits}) == 1
    assert len({h.body for h in hits}) == 1
    # Full jitter: uniform in [0, min(cap, base × 2^(n−1))] before retry n.
    rng = random.Random(42)
    expected = [rng.uniform(0, 2.0), rng.uniform(0, 4.0), rng.uniform(0, 8.0)]
    waits = [b.at - a.at for a, b in itertools.pairwise(hits)]
    assert waits == pytest.approx(expected)
    for hit in hits:  # every attempt is signed with its own timestamp
        verify(SECRET, hit.headers, hit.body, now=float(hit.headers["webhook-timestamp"]))
    Webhook(SECRET).verify(hits[-1].body, hits[-1].headers)
    assert (sender.delivered, sender.retried, sender.dead) == (1, 3, 0)


async def test_retry_after_is_honoured(receiver: Receiver, make_sender: MakeSender) -> None:
    receiver["a"].script = [(429, {"Retry-After": "42"}), (503, {"Retry-After": "9999"})]
    sender = make_sender(Endpoint(receiver.url("a"), backoff_cap=120.0))
    sender.send("incident.opened", INCIDENT)
    await until(lambda: sender.delivered == 1)
    hits = receiver["a"].hits
    assert len(hits) == 3
    assert hits[1].at - hits[0].at == pytest.approx(42.0)
    assert hits[2].at - hits[1].at == pytest.approx(120.0)  # capped


def test_retry_after_forms() -> None:
    now = datetime(2015, 10, 21, 7, 27, tzinfo=UTC).timestamp()
    assert _retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, now) == 60.0
    assert _retry_after({"retry-after": " 3.5 "}, now) == 3.5
    assert _retry_after({"Retry-After": "-4"}, now) == 0.0
    assert _retry_after({"Retry-After": "soon"}, now) is None
    assert _retry_after({}, now) is None


async def test_other_4xx_go_to_the_dead_letters_at_once(
    receiver: Receiver, make_sender: MakeSender
) -> None:
    receiver["a"].always = 400
    letters = Letters()
    sender = make_sender(Endpoint(receiver.url("a")), dead_letter=letters)
    msg_id = sender.send("incident.opened", INCIDENT)
    await sender.close()
    assert len(receiver["a"].hits) == 1
    [letter] = letters
    assert letter.endpoint_url == receiver.url("a")
    assert (letter.message_id, letter.event_type) == (msg_id, "incident.opened")
    assert (letter.attempts, letter.last_error) == (1, "HTTP 400")
    assert letter.body == receiver["a"].hits[0].body
    assert letter.at.tzinfo is not None
    assert (sender.delivered, sender.retried, sender.dead) == (0, 0, 1)


async def test_410_disables_the_endpoint(
    receiver: Receiver, make_sender: MakeSender, caplog: pytest.LogCaptureFixture
) -> None:
    receiver["gone"].always = 410
    letters = Letters()
    url = receiver.url("gone")
    sender = make_sender(Endpoint(url), Endpoint(receiver.url("b")), dead_letter=letters)
    sender.send("incident.opened", INCIDENT)
    sender.send("incident.updated", INCIDENT)
    await until(lambda: bool(sender.disabled) and sender.dead == 2)
    assert sender.disabled == frozenset({url})
    sender.send("incident.resolved", INCIDENT)
    await sender.close()
    assert len(receiver["gone"].hits) == 1
    assert len(receiver["b"].hits) == 3
    assert [(d.event_type, d.attempts) for d in letters] == [
        ("incident.opened", 1),
        ("incident.updated", 0),
    ]
    assert sender.dropped == 1
    assert sum("disabled until restart" in r.getMessage() for r in caplog.records) == 1


async def test_exhausted_attempts_reach_the_dead_letter_file(
    receiver: Receiver, make_sender: MakeSender, tmp_path: Path
) -> None:
    receiver["a"].always = 503
    path = tmp_path / "dead.jsonl"
    sender = make_sender(Endpoint(receiver.url("a"), max_attempts=3), dead_letter_path=path)
    msg_id = sender.send("incident.opened", INCIDENT)
    await sender.close()
    assert len(receiver["a"].hits) == 3
    [line] = path.read_bytes().splitlines()
    record = orjson.loads(line)
    assert record["message_id"] == msg_id
    assert record["event_type"] == "incident.opened"
    assert record["attempts"] == 3
    assert record["last_error"] == "HTTP 503"
    assert record["endpoint_url"] == receiver.url("a")
    assert orjson.loads(record["body"]) == receiver["a"].hits[0].json()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert (sender.retried, sender.dead) == (2, 1)


async def test_network_errors_and_timeouts_are_retried(
    receiver: Receiver, make_sender: MakeSender
) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}/x"
    receiver["slow"].hold = asyncio.Event()
    letters = Letters()
    sender = make_sender(
        Endpoint(closed, max_attempts=2),
        Endpoint(receiver.url("slow"), max_attempts=2, timeout=0.2),
        dead_letter=letters,
    )
    sender.send("breaker.opened", OPENED)
    await sender.close(drain_seconds=3)
    assert len(receiver["slow"].hits) == 2
    assert sorted(d.attempts for d in letters) == [2, 2]
    errors = sorted(d.last_error for d in letters)
    assert "no answer within 0.2s" in errors
    assert sender.retried == 2


async def test_events_filter(receiver: Receiver, make_sender: MakeSender) -> None:
    sender = make_sender(
        Endpoint(receiver.url("breakers"), events=frozenset({"breaker.opened"})),
        Endpoint(receiver.url("all")),
    )
    sender.send("incident.opened", INCIDENT)
    sender.notify_breaker(OPENED)
    sender.notify_breaker(BreakerChanged(OPENED.target, "half_open", "open", "probe"))
    # Followed from another process of the fleet: that process announces it, not this one.
    sender.notify_breaker(BreakerChanged(OPENED.target, "open", "closed", "elsewhere", 5.0, True))
    assert sender.send("incident.opened", INCIDENT) is not None
    await sender.close()
    assert [h.json()["type"] for h in receiver["breakers"].hits] == ["breaker.opened"]
    assert [h.json()["type"] for h in receiver["all"].hits] == [
        "incident.opened",
        "breaker.opened",
        "incident.opened",
    ]
    with pytest.raises(ValueError, match="unknown webhook event types"):
        Endpoint("http://127.0.0.1/x", events=frozenset({"incident.open"}))
    nobody = make_sender(Endpoint(receiver.url("x"), events=frozenset({"breaker.closed"})))
    assert nobody.send("incident.opened", INCIDENT) is None


async def test_slack_format(receiver: Receiver, make_sender: MakeSender) -> None:
    sender = make_sender(
        Endpoint(receiver.url("slack"), format="slack"),
        Endpoint(receiver.url("std"), secret=SECRET),
    )
    msg_id = sender.send("incident.opened", INCIDENT)
    await sender.close()
    [hit] = receiver["slack"].hits
    body = hit.json()
    assert set(body) == {"text", "blocks"}
    assert body["blocks"][0]["type"] == "header"
    assert body["blocks"][0]["text"]["text"] == "🟠 Incident opened: Elevated errors on Claude Opus"
    assert "<http://127.0.0.1:8080/status|View the status page>" in body["text"]
    assert hit.headers["content-type"] == "application/json"
    assert "webhook-signature" not in hit.headers
    assert receiver["std"].hits[0].id == hit.id == msg_id


async def test_order_per_endpoint_and_no_head_of_line_blocking(
    receiver: Receiver, make_sender: MakeSender
) -> None:
    receiver["a"].script = [(200, {}), (500, {}), (200, {}), (502, {}), (503, {})]
    receiver["stuck"].hold = asyncio.Event()
    sender = make_sender(Endpoint(receiver.url("a")), Endpoint(receiver.url("stuck")))
    ids = [sender.send("breaker.opened", OPENED) for _ in range(20)]
    await until(lambda: len({h.id for h in receiver["a"].hits}) == 20)
    # All 20 reached `a` while `stuck` still holds its first message.
    assert len(receiver["stuck"].hits) == 1
    seen: list[str] = []
    for hit in receiver["a"].hits:
        if hit.id not in seen:
            seen.append(hit.id)
    assert seen == ids
    receiver["stuck"].hold.set()
    await sender.close()
    assert [h.id for h in receiver["stuck"].hits] == ids


async def test_close_drains_the_queue(receiver: Receiver, make_sender: MakeSender) -> None:
    sender = make_sender(Endpoint(receiver.url("a")), Endpoint(receiver.url("b")))
    for _ in range(10):
        sender.send("breaker.opened", OPENED)
    await sender.close()
    assert len(receiver["a"].hits) == len(receiver["b"].hits) == 10
    assert sender.delivered == 20
    assert sender.send("breaker.opened", OPENED) is None  # after close: dropped, no raise
    assert sender.dropped == 2


async def test_close_gives_up_retries_past_the_drain_window(
    receiver: Receiver, make_sender: MakeSender
) -> None:
    receiver["a"].script = [(503, {"Retry-After": "60"})]
    letters = Letters()
    sender = make_sender(Endpoint(receiver.url("a")), dead_letter=letters)
    sender.send("incident.opened", INCIDENT)
    sender.send("incident.resolved", INCIDENT)
    await sender.close(drain_seconds=5)
    # The retry would come after the drain window: given up at once, not waited for, and
    # the message behind it still goes out.
    assert [h.json()["type"] for h in receiver["a"].hits] == [
        "incident.opened",
        "incident.resolved",
    ]
    [letter] = letters
    assert (letter.event_type, letter.attempts) == ("incident.opened", 1)
    assert letter.last_error == "HTTP 503; shutting down before the next retry"


async def test_close_dead_letters_what_is_left(receiver: Receiver, make_sender: MakeSender) -> None:
    receiver["a"].hold = asyncio.Event()
    letters = Letters()
    sender = make_sender(Endpoint(receiver.url("a")), dead_letter=letters)
    sender.send("incident.opened", INCIDENT)
    sender.send("incident.resolved", INCIDENT)
    await until(lambda: len(receiver["a"].hits) == 1)
    await sender.close(drain_seconds=0.1)
    assert [(d.event_type, d.attempts) for d in letters] == [
        ("incident.opened", 1),
        ("incident.resolved", 0),
    ]
    assert {d.last_error for d in letters} == {"shutting down before delivery"}
    assert sender.dead == 2


async def test_queue_overflow_dead_letters_the_oldest(
    receiver: Receiver, make_sender: MakeSender
) -> None:
    letters = Letters()
    sender = make_sender(
        Endpoint(receiver.url("a")), start=False, dead_letter=letters, queue_size=2
    )
    first, second, third = (sender.send("breaker.opened", OPENED) for _ in range(3))
    sender.start()
    await sender.close()
    assert [h.id for h in receiver["a"].hits] == [second, third]
    assert [(d.message_id, d.attempts) for d in letters] == [(first, 0)]
    assert "queue full" in letters[0].last_error


async def test_send_never_raises(
    make_sender: MakeSender, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    sender = make_sender(Endpoint(receiver.url("a")))
    assert sender.send("incident.opened", object()) is None  # type: ignore[arg-type]
    assert "could not be queued" in caplog.text


async def test_a_failing_dead_letter_sink_is_logged(
    receiver: Receiver, make_sender: MakeSender, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(letter: DeadLetter) -> None:
        raise OSError("disk full")

    receiver["a"].always = 404
    sender = make_sender(Endpoint(receiver.url("a")), dead_letter=broken)
    sender.send("incident.opened", INCIDENT)
    await sender.close()
    assert "could not be recorded" in caplog.text


async def test_secrets_stay_out_of_logs(
    receiver: Receiver, make_sender: MakeSender, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="failsoft.notify")
    hook = receiver.url("T000/B000/XXXXSECRETPATH")
    endpoint = Endpoint(hook, secret=(SECRET, "plain-secret"), headers={"authorization": "tok"})
    assert repr(endpoint) == f"Endpoint('{receiver.base}/…', format='standard')"
    receiver["T000/B000/XXXXSECRETPATH"].always = 500
    sender = make_sender(endpoint, dead_letter=Letters())
    sender.send("incident.opened", INCIDENT)
    await sender.close()
    text = caplog.text
    assert "retrying" in text and "not delivered" in text
    for secret in (SECRET, "plain-secret", "tok", "XXXXSECRETPATH"):
        assert secret not in text
    assert redact("https://user:pw@hooks.slack.com/services/T0/B0/X?a=1") == (
        "https://hooks.slack.com/…"
    )


def test_endpoint_validation() -> None:
    with pytest.raises(ValueError, match="format"):
        Endpoint("http://127.0.0.1/x", format="teams")  # type: ignore[arg-type]
    for bad in ({"max_attempts": 0}, {"backoff_cap": 0}, {"timeout": -1}):
        with pytest.raises(ValueError, match="must be positive"):
            Endpoint("http://127.0.0.1/x", **bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="base64"):
        WebhookSender([Endpoint("http://127.0.0.1/x", secret="whsec_???")])


async def test_timestamps_come_from_the_clock(receiver: Receiver, make_sender: MakeSender) -> None:
    sender = make_sender(Endpoint(receiver.url("a")))
    sender.send("breaker.opened", OPENED, at=T0 + timedelta(seconds=1))
    sender.send("breaker.opened", OPENED)
    await sender.close()
    first, second = (h.json()["timestamp"] for h in receiver["a"].hits)
    assert first == "2024-05-01T12:00:01.000Z"
    wall = datetime.fromtimestamp(receiver.clock.wall(), UTC)
    assert abs(datetime.fromisoformat(second) - wall) < timedelta(seconds=1)
    # Unsigned, but with an id and timestamp still.
    assert int(receiver["a"].hits[0].headers["webhook-timestamp"]) == int(receiver.clock.wall())


async def test_an_incident_event_has_one_id_whoever_sends_it(
    receiver: Receiver, make_sender: MakeSender
) -> None:
    """Sent again (a new health leader, a restart), an incident event keeps its id, so the
    receiver can drop the repeat; the next event of the incident has another."""
    first = make_sender(Endpoint(receiver.url("a"), secret=SECRET))
    second = make_sender(Endpoint(receiver.url("a"), secret=SECRET))
    assert first.send("incident.opened", INCIDENT) == second.send("incident.opened", INCIDENT)
    update = IncidentUpdate("monitoring", "Back to normal.", T0, "operational")
    later = Incident(**{**INCIDENT.__dict__, "updates": (update, *INCIDENT.updates)})
    await first.close()
    await second.close()
    again = make_sender(Endpoint(receiver.url("a"), secret=SECRET))
    assert again.send("incident.updated", later) not in {h.id for h in receiver["a"].hits}
    assert len({h.id for h in receiver["a"].hits}) == 1
    assert again.send("breaker.opened", OPENED) != again.send("breaker.opened", OPENED)
