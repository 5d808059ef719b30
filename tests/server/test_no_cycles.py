"""A request's objects are freed as soon as it is done, by reference counting: none of them
is left in a reference cycle for the cyclic collector (which then ran every few dozen
requests and kept each request's objects alive until it did)."""

from __future__ import annotations

import gc
import http.client
import json
from collections import Counter
from urllib.parse import urlsplit

from failsoft.router.attempt import Attempt
from failsoft.router.race import Race
from failsoft.router.run import Run
from failsoft.serve import GatewayThread
from failsoft.server.access import Exchange
from failsoft.server.cycle import Cycle
from failsoft.types import ChatRequest

WATCHED = (Attempt, Race, Run, Exchange, Cycle, ChatRequest)


def _ask(gateway: GatewayThread, path: str, body: dict[str, object]) -> None:
    url = urlsplit(gateway.url)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=10)
    try:
        headers = {"content-type": "application/json", "x-api-key": "k", "anthropic-version": "1"}
        conn.request("POST", path, body=json.dumps(body), headers=headers)
        response = conn.getresponse()
        response.read()
        assert response.status == 200
    finally:
        conn.close()


def test_requests_leave_no_reference_cycles(gateway: GatewayThread) -> None:
    hi = [{"role": "user", "content": "hi"}]
    chat = {"model": "gpt", "messages": hi}  # two targets: an assembled stream, raced
    one = {"model": "gpt-one", "messages": hi}  # one target: no race
    claude = {"model": "claude", "messages": hi, "max_tokens": 20}
    streamed = {"model": "gpt", "messages": hi, "stream": True}
    _ask(gateway, "/v1/chat/completions", chat)  # warm up
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for _ in range(3):
            _ask(gateway, "/v1/chat/completions", chat)
            _ask(gateway, "/v1/chat/completions", one)
            _ask(gateway, "/v1/messages", claude)
            _ask(gateway, "/v1/chat/completions", streamed)
        gc.collect()
        left = Counter(type(o).__name__ for o in gc.garbage if isinstance(o, WATCHED))
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert not left, f"left for the cyclic collector: {dict(left)}"
