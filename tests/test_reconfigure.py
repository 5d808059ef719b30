"""`Runtime.reconfigure` through `Reloader` on an in-process gateway: what a reload
changes (routes, names, lists, tokens, settings) and what it keeps (breakers, incidents,
cached answers, the health of each target)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from failsoft.assemble import Runtime
from failsoft.config import load_config
from failsoft.policy.breaker import Breaker
from failsoft.reload import Outcome, Reloader
from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from failsoft.types import Target
from tests.conftest import CALLER_KEY, PROVIDER_KEY
from tests.helpers import chat, request
from tests.upstream import ScriptedUpstream

OLD_TOKEN = "t1-admin-token-" + "0" * 32
NEW_TOKEN = "t2-admin-token-" + "0" * 32

CONFIG = """
providers:
  o: {{dialect: openai, base_url: "{sim}/v1", api_key: "{key}"}}
models:
{models}
breaker: {{failures: {failures}, open_for: 120, max_open_for: 300}}
deadlines: {{connect: 1, first_token: 2, idle: 2, total: 8}}
retry: {{max_attempts: 1}}
admin: {{token: "{token}"}}
{extra}
"""
MODELS = """  m: {targets: [o/gpt-4o, o/gpt-4.1], cache: {enabled: true, ttl: 600}}"""


async def _trip(breaker: Breaker) -> None:
    breaker.trip("tripped by the test")  # on the gateway's loop (its timer lives there)


class Reloading:
    """A gateway on a config file, and the means to rewrite and reload that file."""

    def __init__(self, path: Path, sim: SimServer) -> None:
        self.path = path
        self.sim = sim

    def write(
        self, models: str = MODELS, token: str = OLD_TOKEN, extra: str = "", failures: int = 1
    ) -> None:
        text = CONFIG.format(
            sim=self.sim.url,
            key=PROVIDER_KEY,
            models=models,
            token=token,
            extra=extra,
            failures=failures,
        )
        self.path.write_text(text)

    def start(self) -> GatewayThread:
        self.runtime = Runtime(load_config(self.path))
        self.reloader = Reloader(self.runtime, self.path)
        self.gw = GatewayThread(self.runtime.config, runtime=self.runtime).start()
        return self.gw

    def reload(self) -> Outcome:
        return self.gw.call(self.reloader.reload())

    def ask(self, model: str = "m") -> tuple[str, str]:
        with openai.OpenAI(base_url=self.gw.url + "/v1", api_key=CALLER_KEY) as client:
            resp = client.chat.completions.with_raw_response.create(
                model=model, messages=[{"role": "user", "content": "hi"}]
            )
        return resp.parse().model, resp.headers.get("x-failsoft-cache", "")


@pytest.fixture
def reloading(tmp_path: Path, sim: SimServer) -> Iterator[Reloading]:
    it = Reloading(tmp_path / "failsoft.yaml", sim)
    it.write()
    it.start()
    yield it
    it.gw.stop()


def test_breakers_and_cached_answers_survive(reloading: Reloading, sim: SimServer) -> None:
    state = reloading.runtime.router.state
    assert reloading.ask() == ("gpt-4o", "MISS")
    before = state.breakers[Target("o", "gpt-4o")]
    reloading.gw.call(_trip(state.breakers[Target("o", "gpt-4.1")]))
    reloading.write(
        models="  m: {targets: [o/gpt-4.1, o/gpt-4o-mini], cache: {enabled: true, ttl: 600}}",
        failures=3,
    )
    outcome = reloading.reload()
    assert outcome.outcome == "applied", outcome.problems
    assert outcome.changed == ("models: changed m", "breaker")
    assert state.breakers[Target("o", "gpt-4o")] is before  # the same breaker, kept
    assert state.breakers[Target("o", "gpt-4o")]._config.failures == 3  # new settings
    assert reloading.ask() == ("gpt-4o", "HIT")  # the cached answer is still served
    # A new question: gpt-4.1's breaker is still open, so gpt-4o-mini answers.
    with openai.OpenAI(base_url=reloading.gw.url + "/v1", api_key=CALLER_KEY) as client:
        resp = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "something else"}]
        )
    assert resp.model == "gpt-4o-mini"
    assert sim.attempts("gpt-4.1") == 0


def test_names_lists_and_tokens_follow_the_file(reloading: Reloading) -> None:
    url = reloading.gw.url
    reloading.write(
        models=MODELS + "\n  fast: {targets: [o/gpt-4o-mini], aliases: [quick, 'speedy-*']}",
        token=NEW_TOKEN,
        extra="status: {enabled: false}",
    )
    assert reloading.reload().changed == ("models: added fast", "status", "admin")
    assert reloading.ask("speedy-9")[0] == "gpt-4o-mini"  # a new alias pattern
    listed = {m["id"] for m in request(url + "/v1/models", method="GET").json()["data"]}
    assert listed == {"m", "fast", "quick"}
    gemini = request(url + "/v1beta/models", method="GET").json()["models"]
    assert {m["name"] for m in gemini} == {"models/m", "models/fast"}
    old = {"authorization": f"Bearer {OLD_TOKEN}"}
    new = {"authorization": f"Bearer {NEW_TOKEN}"}
    assert request(url + "/admin/health", method="GET", headers=old).status == 401
    assert request(url + "/admin/health", method="GET", headers=new).status == 200
    assert request(url + "/status", method="GET").status == 404
    # Components follow the plans: a new target is one, a dropped one is not.
    components = set(reloading.runtime.health.components)
    assert components == {"o/gpt-4o", "o/gpt-4.1", "o/gpt-4o-mini"}
    reloading.write(models="  m: [o/gpt-4o]", token=NEW_TOKEN)
    reloading.reload()
    assert set(reloading.runtime.health.components) == {"o/gpt-4o"}
    assert request(url + "/v1/chat/completions", body=chat("fast")).status == 404


def test_incidents_and_observations_survive(reloading: Reloading) -> None:
    health = reloading.runtime.health
    url = reloading.gw.url
    resp = request(
        url + "/admin/incidents",
        body={"title": "Slow answers", "components": ["o/gpt-4o"]},
        headers={"authorization": f"Bearer {OLD_TOKEN}"},
    )
    assert resp.status == 201
    reloading.ask()
    seen = health.passive.stats("o/gpt-4o")
    reloading.write(extra="health: {degraded: 0.1}")
    assert reloading.reload().changed == ("health",)
    assert [i.title for i in health.keeper.active.values()] == ["Slow answers"]
    assert health.keeper.config.degraded == 0.1
    assert health.passive.stats("o/gpt-4o") is seen


def test_webhooks_added_by_a_reload_are_sent(reloading: Reloading, sim: SimServer) -> None:
    with ScriptedUpstream().running() as receiver:
        reloading.write(extra=f'webhooks: [{{url: "{receiver.url}/hook"}}]')
        assert reloading.reload().changed == ("webhooks",)
        sim.set_fault("gpt-4o", {"kind": "status", "status": 500})
        reloading.ask()  # gpt-4o fails once: its breaker opens (failures: 1)
        deadline = time.monotonic() + 10
        while not receiver.requests and time.monotonic() < deadline:
            time.sleep(0.02)
        assert receiver.requests and receiver.requests[0].path == "/hook"
        assert b"breaker" in receiver.requests[0].body


def test_an_invalid_file_changes_nothing(reloading: Reloading) -> None:
    config = reloading.runtime.config
    reloading.path.write_text("providers: {}\nmodels: {m: [x/y]}\n")
    outcome = reloading.reload()
    assert outcome.outcome == "invalid" and not outcome.ok
    assert any("at least one provider" in p for p in outcome.problems)
    assert reloading.runtime.config is config
    assert reloading.ask()[0] == "gpt-4o"
    check = reloading.reloader.check()
    assert not check.ok and not check.required and "at least one provider" in check.detail


def test_a_failure_to_apply_keeps_the_old_config(
    reloading: Reloading, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = reloading.runtime.config

    async def broken(new: object) -> None:
        raise RuntimeError("the cache backend is unreachable")

    monkeypatch.setattr(reloading.runtime, "reconfigure", broken)
    reloading.write(models="  m: [o/gpt-4o-mini]")
    outcome = reloading.reload()
    assert outcome.outcome == "failed"
    assert outcome.problems == ("RuntimeError: the cache backend is unreachable",)
    assert reloading.runtime.config is config
    assert reloading.ask()[0] == "gpt-4o"
    metrics = request(reloading.gw.url + "/metrics", method="GET").body.decode()
    assert 'failsoft_config_reloads_total{outcome="failed"} 1.0' in metrics
