"""Made-up model names (issue 17), scaled down: 2,000 requests naming `openai/x-<uuid>`
through the real openai SDK took the gateway to gigabytes, put every name on the public
status page, in the store and in /metrics, and called the upstream for each. Now a name
no plan targets and no `direct` pattern lists is the caller's 404 before any upstream
call, and only a direct target that answered becomes a component, under a bound."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import openai
import pytest

from failsoft.config import parse_config
from failsoft.health.callers import MAX_DIRECT
from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from tests.conftest import BASE_CONFIG, CALLER_KEY, PROVIDER_KEY
from tests.helpers import request

HI = [{"role": "user", "content": "hi"}]
PLANNED = {
    "anthropic/claude-opus-4-7",
    "anthropic/claude-sonnet-4-5",
    "openai/gpt-4o",
    "openai/gpt-4o-mini",
    "openai/gpt-4.1",
}


def rss() -> int:
    """This process's resident memory in bytes (the gateway runs in a thread of it)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    pytest.skip("no /proc/self/status")


def ask_all(gw: GatewayThread, names: list[str]) -> list[int]:
    """Each name once through the openai SDK (8 at a time); the status each got."""
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key=CALLER_KEY, max_retries=0)

    def ask(name: str) -> int:
        try:
            client.chat.completions.create(model=name, messages=HI)  # type: ignore[arg-type]
        except openai.APIStatusError as exc:
            refused = exc
        else:
            return 200
        assert refused.status_code != 404 or name.partition("/")[2] in refused.message
        return refused.status_code

    with client, ThreadPoolExecutor(8) as pool:
        return list(pool.map(ask, names))


def shown(gw: GatewayThread) -> tuple[str, str]:
    """The public status summary (with the HTML page appended) and /metrics, as text."""
    summary = request(gw.url + "/status/api/v2/summary.json", method="GET")
    page = request(gw.url + "/status", method="GET")
    metrics = request(gw.url + "/metrics", method="GET")
    assert summary.status == page.status == metrics.status == 200
    return summary.body.decode() + page.body.decode(), metrics.body.decode()


def stored(gw: GatewayThread) -> set[str]:
    since = datetime(2000, 1, 1, tzinfo=UTC)
    return set(gw.call(gw.runtime.store.transitions(since)))


def test_unlisted_names_are_refused_before_any_upstream_call(
    make_gateway: Callable[[str], GatewayThread], sim: SimServer
) -> None:
    gw = make_gateway("")
    ask_all(gw, ["gpt"] * 20)  # warm up: what a first request allocates is not the attack's
    before = rss()
    names = [f"openai/x-{uuid.uuid4()}" for _ in range(2000)]
    statuses = ask_all(gw, names)
    grown = rss() - before
    assert set(statuses) == {404}
    assert not [r for r in sim.requests() if r.model.startswith("x-")]
    gw.call(gw.runtime.health.evaluate())
    assert set(gw.runtime.health.components) == PLANNED
    summary, metrics = shown(gw)
    assert "openai/x-" not in summary and "openai/x" not in metrics
    assert stored(gw) <= PLANNED
    assert len(gw.runtime.health.requests) <= 4  # (gpt, 200) and the folded 404s
    assert grown < 48 * 2**20, f"grew {grown / 2**20:.0f} MiB"  # was ~1.2 GB
    # A plan's target may still be named directly.
    assert ask_all(gw, ["openai/gpt-4.1"]) == [200]


def test_direct_names_become_components_only_when_answered_and_stay_bounded(
    make_gateway: Callable[..., GatewayThread], sim: SimServer
) -> None:
    text = BASE_CONFIG.format(sim=sim.url, key=PROVIDER_KEY, extra="")
    line = f'openai: {{dialect: openai, base_url: "{sim.url}/v1", api_key: "{PROVIDER_KEY}"'
    assert line in text
    text = text.replace(line, line + ', direct: ["x-*", "gone-*"]')
    text += "health: {max_direct_components: 16}\n"
    gw = make_gateway(config=parse_config(text))
    gone = [f"gone-{n}" for n in range(50)]
    for model in gone:
        sim.set_fault(model, {"kind": "status", "status": 404})
    assert set(ask_all(gw, [f"openai/{m}" for m in gone])) == {404}
    answered = [f"x-{n}" for n in range(100)]
    assert set(ask_all(gw, [f"openai/{m}" for m in answered])) == {200}
    assert set(ask_all(gw, ["openai/nope-1"])) == {404}  # not in `direct`: no upstream call
    assert not sim.requests("nope-1")
    gw.call(gw.runtime.health.evaluate())
    direct = set(gw.runtime.health.components) - PLANNED
    assert len(direct) == 16
    assert direct <= {f"openai/{m}" for m in answered}
    summary, metrics = shown(gw)
    assert "gone-" not in summary and "gone-" not in metrics
    on_page = set(re.findall(r'"openai/(x-\d+)"', summary))
    assert on_page <= set(answered)
    assert len(on_page) <= 16 + MAX_DIRECT  # components, and what their callers got
    labelled = set(re.findall(r'model="(x-\d+)",provider="openai"', metrics))
    assert labelled <= set(answered)
    assert labelled and len(labelled) <= 16  # /metrics: the components' series only
    assert 'model="(direct)"' in metrics and 'model="openai/x-' not in metrics
    assert not {k for k in stored(gw) if "gone-" in k}
    assert len(stored(gw) - PLANNED) <= 16
