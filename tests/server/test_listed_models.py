"""`direct: ["@listed"]`: a provider's own model list admits `provider/model` names
(issues 16 and 17). The list is fetched in the background from the simulator, refreshed
every `list_refresh`, and kept when a later fetch fails; a name it does not hold is the
caller's 404 before any upstream call."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator

import anthropic
import openai
import orjson
import pytest

from failsoft.config import parse_config
from failsoft.providers import listing
from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from tests.conftest import BASE_CONFIG, CALLER_KEY, PROVIDER_KEY
from tests.helpers import request

HI = [{"role": "user", "content": "hi"}]


def listed_config(sim_url: str, refresh: float = 0.1, patterns: str = "") -> str:
    text = BASE_CONFIG.format(sim=sim_url, key=PROVIDER_KEY, extra="")
    line = f'openai: {{dialect: openai, base_url: "{sim_url}/v1", api_key: "{PROVIDER_KEY}"'
    assert line in text
    extra = f', direct: ["@listed"{patterns}], list_refresh: {refresh}'
    return text.replace(line, line + extra)


def until(check: Callable[[], bool], seconds: float = 10.0) -> None:
    """Poll `check` until it holds, for at most `seconds`."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "not within the deadline"
        time.sleep(0.02)


def status(client: openai.OpenAI, model: str) -> int:
    try:
        client.chat.completions.create(model=model, messages=HI)  # type: ignore[arg-type]
    except openai.APIStatusError as exc:
        return exc.status_code
    return 200


@pytest.fixture
def client() -> Iterator[Callable[[GatewayThread], openai.OpenAI]]:
    made: list[openai.OpenAI] = []

    def make(gw: GatewayThread) -> openai.OpenAI:
        made.append(openai.OpenAI(base_url=gw.url + "/v1", api_key=CALLER_KEY, max_retries=0))
        return made[-1]

    yield make
    for c in made:
        c.close()


def fetched(gw: GatewayThread, provider: str = "openai") -> int:
    lister = gw.runtime.lister
    return 0 if lister is None else lister.fetches.get(provider, 0)


def test_listed_models_are_served_directly_and_others_refused(
    make_gateway: Callable[..., GatewayThread],
    sim: SimServer,
    client: Callable[[GatewayThread], openai.OpenAI],
) -> None:
    known, unknown = f"listed-{uuid.uuid4()}", f"unlisted-{uuid.uuid4()}"
    sim.set_model(known)
    gw = make_gateway(config=parse_config(listed_config(sim.url)))
    until(lambda: fetched(gw) > 0)
    oai = client(gw)
    assert status(oai, f"openai/{known}") == 200
    assert status(oai, f"openai/{unknown}") == 404
    assert not sim.requests(unknown)
    assert status(oai, "openai/@listed") == 404  # the reserved word names no model
    listed = {m.id for m in oai.models.list()}
    assert f"openai/{known}" in listed and "gpt" in listed and f"openai/{unknown}" not in listed
    # A model the provider starts listing is admitted after the next refresh.
    later = f"later-{uuid.uuid4()}"
    assert status(oai, f"openai/{later}") == 404
    sim.set_model(later)
    until(lambda: later in gw.runtime.config.names.listed.get("openai", ()))
    assert status(oai, f"openai/{later}") == 200
    assert f"openai/{later}" in {m.id for m in oai.models.list()}
    assert gw.runtime.lister is not None and "anthropic" not in gw.runtime.lister.lists


def test_a_reload_keeps_the_list_and_patterns_still_apply(
    make_gateway: Callable[..., GatewayThread],
    sim: SimServer,
    client: Callable[[GatewayThread], openai.OpenAI],
) -> None:
    known = f"listed-{uuid.uuid4()}"
    sim.set_model(known)
    gw = make_gateway(config=parse_config(listed_config(sim.url, refresh=3600)))
    until(lambda: fetched(gw) > 0)
    config = parse_config(listed_config(sim.url, refresh=3600, patterns=', "pat-*"'))
    gw.call(gw.runtime.reconfigure(config))
    assert known in gw.runtime.config.names.listed["openai"]  # before any new fetch
    oai = client(gw)
    assert status(oai, f"openai/{known}") == 200
    assert status(oai, "openai/pat-1") == 200
    assert status(oai, f"openai/other-{uuid.uuid4()}") == 404


def test_anthropic_and_gemini_lists_are_fetched_page_by_page_with_their_auth(
    make_gateway: Callable[..., GatewayThread], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(listing, "PAGE_SIZE", 2)  # 5 models: 3 pages each
    names = [f"listed-{n}-{uuid.uuid4()}" for n in range(5)]
    with SimServer(api_key=PROVIDER_KEY).run_in_thread() as private:
        for name in names:
            private.set_model(name)
        page = request(
            private.url + "/v1/models?limit=2",
            "GET",
            headers={"x-api-key": PROVIDER_KEY, "anthropic-version": "2023-06-01"},
        )
        assert orjson.loads(page.body)["has_more"] is True
        text = BASE_CONFIG.format(sim=private.url, key=PROVIDER_KEY, extra="")
        line = (
            f'anthropic: {{dialect: anthropic, base_url: "{private.url}", api_key: "{PROVIDER_KEY}"'
        )
        text = text.replace(line, line + ', direct: ["@listed"]')
        text = text.replace(
            "models:\n",
            f'  gem: {{dialect: gemini, base_url: "{private.url}", api_key: "{PROVIDER_KEY}",'
            ' direct: ["@listed"]}\nmodels:\n',
            1,
        )
        gw = make_gateway(config=parse_config(text))
        until(lambda: fetched(gw, "anthropic") > 0 and fetched(gw, "gem") > 0)
        lists = gw.runtime.config.names.listed
        assert lists["anthropic"] == lists["gem"] == set(names)
        with anthropic.Anthropic(base_url=gw.url, api_key=CALLER_KEY, max_retries=0) as ant:
            got = ant.messages.create(
                model=f"anthropic/{names[4]}",
                max_tokens=16,
                messages=HI,  # type: ignore[arg-type]
            )
            assert got.content
            with pytest.raises(anthropic.NotFoundError):
                ant.messages.create(
                    model=f"anthropic/other-{uuid.uuid4()}",
                    max_tokens=16,
                    messages=HI,  # type: ignore[arg-type]
                )
        assert gw.runtime.config.resolve(f"gem/{names[0]}") is not None
        assert gw.runtime.config.resolve(f"gem/other-{uuid.uuid4()}") is None
        gw.stop()


def test_a_failing_list_keeps_the_last_one_and_warns_once(
    make_gateway: Callable[..., GatewayThread], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="failsoft.providers.listing")
    known = f"listed-{uuid.uuid4()}"
    with SimServer(api_key=PROVIDER_KEY).run_in_thread() as private:
        private.set_model(known)
        gw = make_gateway(config=parse_config(listed_config(private.url, refresh=0.05)))
        until(lambda: fetched(gw) > 0)
    lister = gw.runtime.lister
    assert lister is not None
    until(lambda: lister.failures.get("openai", 0) >= 3)
    assert known in gw.runtime.config.names.listed["openai"]
    assert gw.runtime.config.resolve(f"openai/{known}") is not None
    warned = [r for r in caplog.records if "cannot fetch its model list" in r.getMessage()]
    assert len(warned) == 1, warned
    assert "keeping the last one" in warned[0].getMessage()
    assert PROVIDER_KEY not in caplog.text
