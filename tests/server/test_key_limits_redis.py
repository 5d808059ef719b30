"""Per-key limits shared through Redis (`state.url`): two gateways enforce one limit
exactly, a crashed process's slots do not count, and a Redis that is away admits (fail
open), logged once and counted."""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import openai
import pytest
import redis

from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from tests.conftest import make_config
from tests.fleet.support import SHARED_REDIS, free_port, private_redis, unique_prefix
from tests.helpers import request
from tests.services import require

KEY = "shared-" + "a1" * 20
HI = [{"role": "user", "content": "hello"}]
BODY = {"model": "gpt", "messages": HI}
AUTH = {"authorization": f"Bearer {KEY}"}


def config_text(url: str, prefix: str, limits: str) -> str:
    return f"""
state: {{url: "{url}", prefix: "{prefix}", timeout: 0.25}}
auth:
  keys:
    - {{name: shared, key: "{KEY}", limits: {{{limits}}}}}
"""


@pytest.fixture
def stack() -> Iterator[ExitStack]:
    with ExitStack() as stack:
        yield stack


def two(stack: ExitStack, sim: SimServer, prefix: str, limits: str) -> list[GatewayThread]:
    text = config_text(SHARED_REDIS, prefix, limits)
    return [
        stack.enter_context(GatewayThread(make_config(sim.url, text)).running()) for _ in range(2)
    ]


def post(gw: GatewayThread) -> int:
    return request(gw.url + "/v1/chat/completions", body=BODY, headers=AUTH).status


def poll(check: Callable[[], bool], within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return False


def test_two_instances_enforce_one_rpm_exactly(stack: ExitStack, sim: SimServer) -> None:
    require("Redis", "127.0.0.1", 6379)
    gateways = two(stack, sim, unique_prefix(), "rpm: 3")
    statuses = [post(gateways[i % 2]) for i in range(8)]
    assert statuses.count(200) == 3
    assert statuses.count(429) == 5
    refused = request(gateways[1].url + "/v1/chat/completions", body=BODY, headers=AUTH)
    assert refused.headers["x-ratelimit-limit-requests"] == "3"
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"
    assert int(refused.headers["retry-after"]) >= 1


def test_two_instances_share_tokens_and_slots(stack: ExitStack, sim: SimServer) -> None:
    require("Redis", "127.0.0.1", 6379)
    a, b = two(stack, sim, unique_prefix(), "tpm: 1000, concurrency: 1")
    with (
        openai.OpenAI(base_url=a.url + "/v1", api_key=KEY, max_retries=0) as on_a,
        openai.OpenAI(base_url=b.url + "/v1", api_key=KEY, max_retries=0) as on_b,
    ):
        answer = on_a.chat.completions.create(model="gpt", messages=HI)  # type: ignore[arg-type]
        assert answer.usage is not None
        used = answer.usage.total_tokens

        def charged_on_b() -> bool:  # the charge is sent in the background
            try:
                raw = on_b.chat.completions.with_raw_response.create(model="gpt", messages=HI)  # type: ignore[arg-type]
            except openai.RateLimitError:  # not expected: the slot is back before the answer ends
                return False
            return int(raw.headers["x-ratelimit-remaining-tokens"]) <= 1000 - used

        assert poll(charged_on_b)
        sim.set_model("gpt-4o", chunk_delay=0.05, answer_words=400)
        stream = on_a.chat.completions.create(model="gpt", messages=HI, stream=True)  # type: ignore[arg-type]
        assert next(iter(stream)) is not None
        with pytest.raises(openai.RateLimitError) as o:
            on_b.chat.completions.create(model="gpt", messages=HI)  # type: ignore[arg-type]
        assert o.value.response.headers["x-failsoft-limit"] == "concurrency"
        stream.close()
        sim.set_model("gpt-4o", chunk_delay=0.0, answer_words=12)
        assert poll(lambda: post(b) == 200)


def test_a_slot_is_back_in_redis_before_the_answer_ends(stack: ExitStack, sim: SimServer) -> None:
    """A caller with `concurrency: 1` that goes on as soon as it has its answer, each time
    on the other process, is never refused: the slot is back in Redis before the last byte
    (no window: the hash is read once the answer is in, and must already be empty)."""
    require("Redis", "127.0.0.1", 6379)
    prefix = unique_prefix()
    a, b = two(stack, sim, prefix, "concurrency: 1")
    client = redis.Redis.from_url(SHARED_REDIS)
    try:
        for gw in [a, b] * 5:
            assert post(gw) == 200
            assert not any(int(n) for n in client.hvals(f"{prefix}limits:conc:shared"))
        sim.set_model("gpt-4o", answer_words=300)
        with openai.OpenAI(base_url=a.url + "/v1", api_key=KEY, max_retries=0) as on_a:
            for _ in range(3):  # a stream too: given back before its last chunk
                stream = on_a.chat.completions.create(model="gpt", messages=HI, stream=True)  # type: ignore[arg-type]
                assert sum(1 for _ in stream) > 1
                assert not any(int(n) for n in client.hvals(f"{prefix}limits:conc:shared"))
                assert post(b) == 200
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)
    finally:
        client.close()


def test_a_dead_process_slots_do_not_count(stack: ExitStack, sim: SimServer) -> None:
    require("Redis", "127.0.0.1", 6379)
    prefix = unique_prefix()
    (gw,) = [
        stack.enter_context(
            GatewayThread(
                make_config(sim.url, config_text(SHARED_REDIS, prefix, "concurrency: 1"))
            ).running()
        )
    ]
    client = redis.Redis.from_url(SHARED_REDIS)
    try:
        # A process that crashed holding 5 slots: its lease key is gone.
        client.hset(f"{prefix}limits:conc:shared", "crashed-process", 5)
        assert post(gw) == 200
        assert client.hget(f"{prefix}limits:conc:shared", "crashed-process") is None
        # One caller after another on one process: a slot given back in the background
        # is never counted against the next request.
        assert [post(gw) for _ in range(5)] == [200] * 5
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)
    finally:
        client.close()


def test_redis_away_admits_logs_once_and_counts(
    stack: ExitStack, sim: SimServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="failsoft.limits")
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    text = config_text(nowhere, unique_prefix(), "rpm: 1, concurrency: 1")
    gw = stack.enter_context(GatewayThread(make_config(sim.url, text)).running())
    assert [post(gw) for _ in range(4)] == [200] * 4
    away = [r for r in caplog.records if r.name == "failsoft.limits"]
    assert len(away) == 1
    assert "admitting requests unchecked" in away[0].getMessage()
    metrics = request(gw.url + "/metrics", "GET").body.decode()
    line = next(m for m in metrics.splitlines() if m.startswith("failsoft_key_limits_unchecked"))
    assert float(line.rsplit(" ", 1)[1]) == 4


UNCLOSED_SOCKETS = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


@UNCLOSED_SOCKETS
def test_a_frozen_then_thawed_redis_admits_then_limits_again(
    stack: ExitStack, sim: SimServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="failsoft.limits")
    server = stack.enter_context(private_redis())
    text = config_text(server.url, unique_prefix(), "rpm: 2")
    gw = stack.enter_context(GatewayThread(make_config(sim.url, text)).running())
    assert [post(gw) for _ in range(3)] == [200, 200, 429]
    server.freeze()  # accepts nothing, answers nothing: each check ends at state.timeout
    assert [post(gw) for _ in range(3)] == [200] * 3
    server.thaw()
    # Back within the cool-off: the limit holds again (the rpm key is still over).
    assert poll(lambda: post(gw) == 429)
    messages = [r.getMessage() for r in caplog.records if r.name == "failsoft.limits"]
    assert sum("is away" in m for m in messages) == 1
    assert sum("answers again" in m for m in messages) == 1
    stack.close()
    gc.collect()
