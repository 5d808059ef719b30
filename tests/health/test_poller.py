"""Polling a status page served by a real local HTTP server, on a fake clock.

The server (aiohttp, 127.0.0.1, an ephemeral port) plays a scripted list of replies, answers
304 when `If-None-Match` matches the reply's ETag, and records every request. Delays are read
from `next_delay()` and, for `run`, from the `FakeClock`, so no test waits for real backoff.
"""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import pytest
from aiohttp import web

from failsoft.clock import FakeClock
from failsoft.health.poller import StatusPagePoller, resolve_urls
from failsoft.health.types import ProviderStatus
from failsoft.transport import Transport

FIXTURES = Path(__file__).parent / "fixtures"
DISCORD = (FIXTURES / "discord_summary.json").read_bytes()
CLAUDE = (FIXTURES / "claude_major_incident.json").read_bytes()
WIDGET = (FIXTURES / "incidentio_widget.json").read_bytes()
GOOGLE = (FIXTURES / "google_incidents.json").read_bytes()
WALL = 1_780_000_000.0


@dataclass
class Reply:
    body: bytes = DISCORD
    status: int = 200
    etag: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Seen:
    path: str
    headers: dict[str, str]


class Page:
    """A scripted status page: serves `replies` in order, repeating the last one."""

    def __init__(self) -> None:
        self.replies: list[Reply] = [Reply()]
        self.seen: list[Seen] = []
        self.base = ""
        self.enough = asyncio.Event()
        self.wanted = 1 << 30

    def serve(self, *replies: Reply) -> None:
        self.replies = list(replies)

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append(Seen(request.path, {k.lower(): v for k, v in request.headers.items()}))
        if len(self.seen) >= self.wanted:
            self.enough.set()
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        if reply.delay:
            await asyncio.sleep(reply.delay)
        headers = dict(reply.headers)
        if reply.etag:
            headers["ETag"] = reply.etag
            if request.headers.get("If-None-Match") == reply.etag:
                return web.Response(status=304, headers=headers)
        headers.setdefault("Content-Type", "application/json")
        return web.Response(status=reply.status, body=reply.body, headers=headers)


@pytest.fixture
async def page() -> AsyncIterator[Page]:
    page = Page()
    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", page.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    page.base = f"http://127.0.0.1:{port}"
    yield page
    await runner.cleanup()


@pytest.fixture
async def transport() -> AsyncIterator[Transport]:
    async with Transport() as t:
        yield t


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=100.0, wall_start=WALL)


def poller(
    page: Page,
    transport: Transport,
    clock: FakeClock,
    *,
    interval: float = 60.0,
    timeout: float = 10.0,
    max_backoff: float = 900.0,
    rng: random.Random | None = None,
) -> StatusPagePoller:
    return StatusPagePoller(
        "discord",
        page.base,
        transport,
        clock=clock,
        interval=interval,
        timeout=timeout,
        max_backoff=max_backoff,
        rng=rng or random.Random(7),
    )


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


# --------------------------------------------------------------------------- URLs


@pytest.mark.parametrize(
    ("url", "kind", "fetched", "human"),
    [
        ("https://status.claude.com", "auto", "https://status.claude.com/api/v2/summary.json", "https://status.claude.com"),
        ("https://status.claude.com/", "statuspage", "https://status.claude.com/api/v2/summary.json", "https://status.claude.com"),
        ("https://status.openai.com", "incidentio", "https://status.openai.com/proxy/status.openai.com", "https://status.openai.com"),
        ("https://status.openai.com/proxy/status.openai.com", "auto", "https://status.openai.com/proxy/status.openai.com", "https://status.openai.com"),
        ("https://neonstatus.com/console/api/v1/summary", "auto", "https://neonstatus.com/console/api/v1/summary", "https://neonstatus.com/console"),
        ("https://status.cloud.google.com", "google", "https://status.cloud.google.com/incidents.json", "https://status.cloud.google.com"),
        ("https://status.cloud.google.com/incidents.json", "auto", "https://status.cloud.google.com/incidents.json", "https://status.cloud.google.com"),
        ("https://www.githubstatus.com/api/v2/summary.json", "auto", "https://www.githubstatus.com/api/v2/summary.json", "https://www.githubstatus.com"),
    ],
)  # fmt: skip
def test_resolve_urls(url: str, kind: str, fetched: str, human: str) -> None:
    assert resolve_urls(url, kind) == (fetched, human)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- one poll


async def test_first_poll_then_conditional_requests_and_304(
    page: Page, transport: Transport, clock: FakeClock
) -> None:
    last_modified = "Tue, 15 Feb 2022 21:37:37 GMT"
    page.serve(Reply(etag='"v1"', headers={"Last-Modified": last_modified}))
    p = poller(page, transport, clock)
    first = await p.poll_once()
    assert page.seen[0].path == "/api/v2/summary.json"
    assert "if-none-match" not in page.seen[0].headers
    assert page.seen[0].headers["accept"] == "application/json"
    assert first.error is None and first.indicator == "minor"
    assert first.page_url == page.base and first.fetched_at == at(WALL)
    assert p.next_delay() == 60.0 and p.status is first

    clock.advance(60)
    second = await p.poll_once()
    assert len(page.seen) == 2
    assert page.seen[1].headers["if-none-match"] == '"v1"'
    assert page.seen[1].headers["if-modified-since"] == last_modified
    # 304: the same reading, fetched now.
    assert second.fetched_at == at(WALL + 60)
    assert second.components == first.components and second.incidents == first.incidents
    assert p.next_delay() == 60.0

    page.serve(Reply(body=CLAUDE, etag='"v2"'))
    third = await p.poll_once()
    assert third.indicator == "major" and third.error is None
    assert page.seen[2].headers["if-none-match"] == '"v1"'
    await p.poll_once()
    assert page.seen[3].headers["if-none-match"] == '"v2"'
    assert "if-modified-since" not in page.seen[3].headers  # the new answer had none


async def test_failure_before_any_reading_is_empty_with_an_error(
    page: Page, transport: Transport, clock: FakeClock
) -> None:
    page.serve(Reply(status=500, body=b"oops"))
    p = poller(page, transport, clock)
    status = await p.poll_once()
    assert status.error is not None and "HTTP 500" in status.error
    assert (status.indicator, status.components, status.incidents) == ("none", (), ())
    assert status.fetched_at is None
    assert status.page_url == page.base and status.provider == "discord"
    assert p.failures == 1


async def test_failures_keep_the_last_good_reading(
    page: Page, transport: Transport, clock: FakeClock
) -> None:
    page.serve(Reply(), Reply(status=502, body=b"<html>bad gateway</html>"))
    p = poller(page, transport, clock)
    good = await p.poll_once()
    clock.advance(60)
    stale = await p.poll_once()
    assert stale.error == f"HTTP 502 from {page.base}/api/v2/summary.json"
    assert stale.components == good.components and stale.indicator == good.indicator
    assert stale.fetched_at == good.fetched_at  # when the page last said this


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<!doctype html><title>Down for maintenance</title>", "did not answer JSON"),
        (b'{"components": [', "did not answer JSON"),
        (b"\xff\xfe garbage", "did not answer JSON"),
        (b'{"hello": "world"}', "discord: not a Statuspage summary"),
        (b'"just a string"', "not a Statuspage summary"),
    ],
)
async def test_unreadable_bodies_are_failures(
    page: Page, transport: Transport, clock: FakeClock, body: bytes, message: str
) -> None:
    page.serve(Reply(etag='"v1"'), Reply(body=body, etag='"bad"'), Reply(etag='"v1"'))
    p = poller(page, transport, clock)
    good = await p.poll_once()
    bad = await p.poll_once()
    assert bad.error is not None and message in bad.error
    assert bad.components == good.components
    # The unreadable answer's ETag is not kept: the next request still asks about "v1".
    again = await p.poll_once()
    assert page.seen[2].headers["if-none-match"] == '"v1"'
    assert again.error is None and p.failures == 0


async def test_a_page_that_cannot_be_reached(transport: Transport, clock: FakeClock) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    p = StatusPagePoller("x", f"http://127.0.0.1:{port}", transport, clock=clock)
    status = await p.poll_once()
    assert status.error is not None and status.error.startswith("cannot fetch")


async def test_a_slow_page_times_out(page: Page, transport: Transport, clock: FakeClock) -> None:
    page.serve(Reply(delay=0.3))
    p = poller(page, transport, clock, timeout=0.1)
    status = await p.poll_once()
    assert status.error is not None and "no answer within 0.1s" in status.error


async def test_other_kinds(page: Page, transport: Transport, clock: FakeClock) -> None:
    page.serve(Reply(body=WIDGET))
    widget = StatusPagePoller("openai", page.base, transport, clock=clock, kind="incidentio")
    status = await widget.poll_once()
    assert page.seen[-1].path == "/proxy/127.0.0.1"
    assert status.error is None and status.components[0].group == "APIs"

    page.serve(Reply(body=GOOGLE))
    google = StatusPagePoller("gemini", page.base, transport, clock=clock, kind="google")
    status = await google.poll_once()
    assert page.seen[-1].path == "/incidents.json"
    assert status.indicator == "critical"

    # `auto` with a full URL recognises the shape it gets.
    page.serve(Reply(body=WIDGET))
    auto = StatusPagePoller("openai", f"{page.base}/widget.json", transport, clock=clock)
    status = await auto.poll_once()
    assert page.seen[-1].path == "/widget.json"
    assert status.error is None and status.indicator == "major"

    # A declared kind that does not match the page is an error, not a guess.
    page.serve(Reply(body=GOOGLE))
    wrong = StatusPagePoller("x", page.base, transport, clock=clock, kind="statuspage")
    status = await wrong.poll_once()
    assert status.error is not None and "not a Statuspage summary" in status.error


# --------------------------------------------------------------------------- delays


def test_the_first_poll_comes_after_a_small_random_delay(transport: Transport) -> None:
    clock = FakeClock()
    delays = [
        StatusPagePoller("p", "https://s.example", transport, clock=clock, rng=random.Random(seed)).next_delay()
        for seed in range(50)
    ]  # fmt: skip
    assert all(0 <= d < 5 for d in delays) and len(set(delays)) == 50
    short = [
        StatusPagePoller("p", "https://s.example", transport, clock=clock, interval=2, rng=random.Random(seed)).next_delay()
        for seed in range(50)
    ]  # fmt: skip
    assert all(0 <= d < 2 for d in short)


async def test_backoff_doubles_with_jitter_up_to_the_cap_and_resets(
    page: Page, transport: Transport, clock: FakeClock
) -> None:
    page.serve(*[Reply(status=500)] * 8, Reply())
    p = poller(page, transport, clock, interval=10.0, max_backoff=100.0, rng=random.Random(42))
    expected = random.Random(42)
    expected.random()  # the initial delay's draw
    delays = []
    for n in range(1, 9):
        await p.poll_once()
        step = min(100.0, 10.0 * 2**n)
        low, high = max(10.0, step / 2), step
        assert low <= p.next_delay() <= high, (n, p.next_delay())
        assert p.next_delay() == pytest.approx(max(10.0, step / 2 + expected.random() * step / 2))
        delays.append(p.next_delay())
    assert delays[0] < 20 <= delays[2] and max(delays) <= 100 and delays[-1] >= 50
    assert p.failures == 8
    await p.poll_once()
    assert p.next_delay() == 10.0 and p.failures == 0


@pytest.mark.parametrize(
    ("status", "retry_after", "at_least"),
    [
        (503, "120", 120.0),
        (429, "300", 300.0),
        (429, "1.5", 10.0),  # shorter than the backoff: the backoff wins
        (503, "86400", 900.0),  # capped at max_backoff
        (500, "120", 10.0),  # only 429 and 503 carry a meaningful Retry-After
        (503, "soon", 10.0),
    ],
)
async def test_retry_after(
    page: Page,
    transport: Transport,
    clock: FakeClock,
    status: int,
    retry_after: str,
    at_least: float,
) -> None:
    page.serve(Reply(status=status, headers={"Retry-After": retry_after}))
    p = poller(page, transport, clock, interval=10.0, max_backoff=900.0)
    await p.poll_once()
    assert at_least <= p.next_delay() <= max(at_least, 20.0)


async def test_retry_after_as_an_http_date(
    page: Page, transport: Transport, clock: FakeClock
) -> None:
    when = format_datetime(at(WALL + 240), usegmt=True)
    page.serve(Reply(status=503, headers={"Retry-After": when}))
    p = poller(page, transport, clock, interval=10.0)
    await p.poll_once()
    assert p.next_delay() == pytest.approx(240.0)


# --------------------------------------------------------------------------- run


async def test_run_reports_changes_only_and_logs_a_failure_streak_once(
    page: Page, transport: Transport, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG", logger="failsoft.health")
    v1, v2 = Reply(etag='"v1"'), Reply(body=CLAUDE, etag='"v2"')
    # ok, 304, three failures, 304 (recovered, same content), new content, then 304s.
    page.serve(v1, v1, Reply(status=500), Reply(status=500), Reply(status=503), v1, v2)
    page.wanted = 10
    p = poller(page, transport, clock, interval=30.0, max_backoff=600.0)
    first_delay = p.next_delay()
    updates: list[ProviderStatus] = []
    task = asyncio.create_task(p.run(updates.append))
    await asyncio.wait_for(page.enough.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert [(u.indicator, u.error is not None) for u in updates] == [
        ("minor", False),  # the first reading
        ("minor", True),  # polling started failing (once for the whole streak)
        ("minor", False),  # readable again, same content
        ("major", False),  # the page changed
    ]
    assert "HTTP 500" in (updates[1].error or "")
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "HTTP 500" in warnings[0].getMessage()
    assert any("readable again after 3 failed polls" in r.getMessage() for r in caplog.records)
    # The fake clock saw the initial pause, the interval, and three backoffs.
    assert first_delay < 5
    assert clock.monotonic() - 100.0 >= first_delay + 30 + 30 + 60 + 120


async def test_run_survives_a_failing_handler(
    page: Page, transport: Transport, clock: FakeClock
) -> None:
    page.serve(Reply(), Reply(body=CLAUDE))
    page.wanted = 4
    seen: list[str] = []

    def handler(status: ProviderStatus) -> None:
        seen.append(status.indicator)
        raise RuntimeError("consumer bug")

    task = asyncio.create_task(poller(page, transport, clock).run(handler))
    await asyncio.wait_for(page.enough.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert seen == ["minor", "major"]
