"""Spend per caller key through the real SDKs: usage counted from the simulator's own usage
fields (OpenAI and Anthropic, streaming and not), the usage chunk failsoft asked for kept
from a caller that did not, an estimate for a stream cut before its usage, `/admin/usage`,
`/metrics`, and a spent budget answered 429 that the SDKs do not retry."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import openai
import pytest
from google import genai
from google.genai import errors, types

from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from tests.helpers import request

TEAM = "team-" + "a1" * 20
RICH = "rich-" + "b2" * 20
POOR = "poor-" + "c3" * 20
TOKEN = "admin-" + "d4" * 20

CONFIG = f"""
auth:
  keys:
    - {{name: team, key: "{TEAM}"}}
    - {{name: rich, key: "{RICH}", limits: {{budget: 1000}}}}
    - {{name: poor, key: "{POOR}", limits: {{budget: 0.000001, budget_period: month}}}}
admin: {{token: "{TOKEN}"}}
pricing:
  openai/gpt-4o: {{input: 2.5, output: 10, cached_input: 1.25}}
  openai/gpt-4o-mini: {{input: 0.15, output: 0.6}}
  claude-opus-4-7: {{input: 15, output: 75}}
  claude-sonnet-4-5: {{input: 3, output: 15}}
"""
HI = [{"role": "user", "content": "hello"}]


@pytest.fixture
def gw(make_gateway: Callable[[str], GatewayThread]) -> GatewayThread:
    return make_gateway(CONFIG)


@pytest.fixture
def oai(gw: GatewayThread) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gw.url + "/v1", api_key=TEAM, max_retries=0) as client:
        yield client


@pytest.fixture
def ant(gw: GatewayThread) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=gw.url, api_key=TEAM, max_retries=0) as client:
        yield client


def usage(gw: GatewayThread, query: str = "") -> dict[str, Any]:
    gw.call(gw.runtime.ledger.flush())
    resp = request(
        gw.url + "/admin/usage" + query, "GET", headers={"authorization": f"Bearer {TOKEN}"}
    )
    assert resp.status == 200, resp.body
    return json.loads(resp.body)


def rows(gw: GatewayThread, **query: str) -> list[dict[str, Any]]:
    q = "&".join(f"{k}={v}" for k, v in query.items())
    return usage(gw, "?" + q if q else "")["rows"]


def test_openai_usage_is_counted_priced_and_reported(
    gw: GatewayThread, sim: SimServer, oai: openai.OpenAI
) -> None:
    answer = oai.chat.completions.create(model="gpt", messages=HI)  # type: ignore[arg-type]
    assert answer.usage is not None
    chunks = list(oai.chat.completions.create(model="gpt", messages=HI, stream=True))  # type: ignore[arg-type]
    assert all(c.usage is None for c in chunks), "the caller did not ask for usage"
    assert all(c.choices for c in chunks)
    # failsoft asked the upstream for it all the same
    streamed = [r for r in sim.requests() if r.stream]
    assert streamed and streamed[-1].body["stream_options"] == {"include_usage": True}
    (row,) = rows(gw, key="team")
    assert row["model"] == "openai/gpt-4o"
    assert row["requests"] == 2
    assert row["input_tokens"] == 2 * answer.usage.prompt_tokens
    assert row["output_tokens"] == 2 * answer.usage.completion_tokens
    assert row["estimated_tokens"] == 0
    expected = 2 * (answer.usage.prompt_tokens * 2.5 + answer.usage.completion_tokens * 10) / 1e6
    assert row["cost_usd"] == pytest.approx(expected, rel=1e-6)
    assert row["unpriced"] is False


def test_openai_caller_that_asks_for_usage_still_gets_it(
    gw: GatewayThread, sim: SimServer, oai: openai.OpenAI
) -> None:
    chunks = list(
        oai.chat.completions.create(
            model="gpt",
            messages=HI,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    final = chunks[-1]
    assert final.usage is not None and not final.choices
    (row,) = rows(gw, key="team")
    assert row["output_tokens"] == final.usage.completion_tokens


def test_anthropic_usage_streaming_and_not(
    gw: GatewayThread, sim: SimServer, ant: anthropic.Anthropic
) -> None:
    message = ant.messages.create(model="claude", max_tokens=50, messages=HI)  # type: ignore[arg-type]
    with ant.messages.stream(model="claude", max_tokens=50, messages=HI) as stream:  # type: ignore[arg-type]
        final = stream.get_final_message()
    assert final.usage.output_tokens == message.usage.output_tokens
    (row,) = rows(gw, key="team")
    assert row["model"] == "anthropic/claude-opus-4-7"
    assert row["requests"] == 2
    assert row["input_tokens"] == 2 * message.usage.input_tokens
    assert row["output_tokens"] == 2 * message.usage.output_tokens
    assert row["estimated_tokens"] == 0
    expected = 2 * (message.usage.input_tokens * 15 + message.usage.output_tokens * 75) / 1e6
    assert row["cost_usd"] == pytest.approx(expected, rel=1e-6)


def test_a_stream_cut_before_its_usage_is_estimated(
    gw: GatewayThread, sim: SimServer, oai: openai.OpenAI
) -> None:
    sim.set_fault("gpt-4o", {"kind": "cut", "after": 4, "mode": "reset"})
    with pytest.raises(openai.APIError):
        for _ in oai.chat.completions.create(model="gpt", messages=HI, stream=True):  # type: ignore[arg-type]
            pass
    (row,) = rows(gw, key="team")
    assert row["model"] == "openai/gpt-4o"
    assert row["requests"] == 1
    assert row["input_tokens"] > 0 and row["output_tokens"] > 0
    assert row["estimated_tokens"] == row["input_tokens"] + row["output_tokens"]
    assert row["cost_usd"] > 0


def test_a_translated_answer_is_billed_to_the_model_that_answered(
    gw: GatewayThread, sim: SimServer, oai: openai.OpenAI
) -> None:
    answer = oai.chat.completions.create(model="claude", messages=HI)  # type: ignore[arg-type]
    assert answer.usage is not None
    (row,) = rows(gw, key="team")
    assert row["model"] == "anthropic/claude-opus-4-7"
    assert row["input_tokens"] == answer.usage.prompt_tokens
    assert row["output_tokens"] == answer.usage.completion_tokens


def test_admin_usage_filters_and_groups(
    gw: GatewayThread, sim: SimServer, oai: openai.OpenAI
) -> None:
    oai.chat.completions.create(model="gpt", messages=HI)  # type: ignore[arg-type]
    oai.chat.completions.create(model="gpt-one", messages=HI)  # type: ignore[arg-type]
    with openai.OpenAI(base_url=gw.url + "/v1", api_key=RICH, max_retries=0) as rich:
        rich.chat.completions.create(model="claude", messages=HI)  # type: ignore[arg-type]
    report = usage(gw, "?group_by=key")
    by_key = {r["key"]: r for r in report["rows"]}
    assert set(by_key) == {"team", "rich"}
    assert by_key["team"]["requests"] == 2
    assert set(by_key["team"]) >= {"input_tokens", "output_tokens", "cost_usd", "unpriced"}
    assert "model" not in by_key["team"] and "day" not in by_key["team"]
    assert report["total"]["requests"] == 3
    assert rows(gw, key="nobody") == []
    assert rows(gw, since="2000-01-01", until="2000-01-02") == []
    bad = request(
        gw.url + "/admin/usage?since=yesterday", "GET", headers={"authorization": f"Bearer {TOKEN}"}
    )
    assert bad.status == 400
    assert request(gw.url + "/admin/usage", "GET").status == 401
    metrics = request(gw.url + "/metrics", "GET").body.decode()
    assert 'failsoft_spend_usd_total{key="team"}' in metrics
    assert 'failsoft_tokens_total{direction="output",key="team"}' in metrics
    assert TEAM not in metrics and RICH not in metrics


class Counting:
    """Counts the HTTP requests an SDK sends (its retries included)."""

    def __init__(self) -> None:
        self.sent = 0

    def __call__(self, _: Any) -> None:
        self.sent += 1


def test_a_spent_budget_is_429_and_the_sdks_do_not_retry(gw: GatewayThread, sim: SimServer) -> None:
    import httpx2 as httpx

    count = Counting()
    with (
        httpx.Client(event_hooks={"request": [count]}) as http,
        openai.OpenAI(base_url=gw.url + "/v1", api_key=POOR, max_retries=3, http_client=http) as c,
    ):
        c.chat.completions.create(model="gpt", messages=HI)  # type: ignore[arg-type]
        with pytest.raises(openai.RateLimitError) as o:
            c.chat.completions.create(model="gpt", messages=HI)  # type: ignore[arg-type]
    assert count.sent == 2, "x-should-retry: false: no retry"
    assert o.value.code == "budget_exceeded"
    assert o.value.type == "insufficient_quota"
    headers = o.value.response.headers
    assert headers["x-should-retry"] == "false"
    assert 0 < int(headers["retry-after"]) <= 31 * 86400
    assert "budget" in o.value.message
    assert len(sim.requests()) == 1

    count = Counting()
    with (
        httpx.Client(event_hooks={"request": [count]}) as http,
        anthropic.Anthropic(base_url=gw.url, api_key=POOR, max_retries=3, http_client=http) as a,
        pytest.raises(anthropic.RateLimitError) as refused,
    ):
        a.messages.create(model="claude", max_tokens=50, messages=HI)  # type: ignore[arg-type]
    assert count.sent == 1
    assert refused.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]

    options = types.HttpOptions(base_url=gw.url, timeout=10_000)
    with (
        genai.Client(api_key=POOR, http_options=options) as client,
        pytest.raises(errors.ClientError) as g,
    ):
        client.models.generate_content(model="gpt", contents="hello")
    assert g.value.code == 429
    assert g.value.status == "RESOURCE_EXHAUSTED"
    assert len(sim.requests()) == 1
    # another key is not affected
    with openai.OpenAI(base_url=gw.url + "/v1", api_key=RICH, max_retries=0) as rich:
        assert rich.chat.completions.create(model="gpt", messages=HI).choices  # type: ignore[arg-type]


def test_without_auth_the_request_goes_upstream_as_sent(
    gateway: GatewayThread, sim: SimServer
) -> None:
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key="c", max_retries=0) as client:
        list(client.chat.completions.create(model="gpt", messages=HI, stream=True))  # type: ignore[arg-type]
    (sent,) = sim.requests()
    assert "stream_options" not in sent.body


def test_a_spent_budget_still_lists_models(gw: GatewayThread, sim: SimServer) -> None:
    with openai.OpenAI(base_url=gw.url + "/v1", api_key=POOR, max_retries=0) as client:
        client.chat.completions.create(model="gpt", messages=HI)  # type: ignore[arg-type]
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(model="gpt", messages=HI)  # type: ignore[arg-type]
        assert [m.id for m in client.models.list()]


def test_an_error_before_any_content_is_not_billed(
    gw: GatewayThread, sim: SimServer, oai: openai.OpenAI
) -> None:
    sim.set_fault("gpt-4o", {"kind": "mid_stream_error", "after": 0})
    chunks = list(oai.chat.completions.create(model="gpt", messages=HI, stream=True))  # type: ignore[arg-type]
    assert chunks
    assert {r["model"] for r in rows(gw, key="team")} == {"openai/gpt-4o-mini"}


def test_spend_is_written_at_shutdown_and_read_back_after_a_restart(
    make_gateway: Callable[[str], GatewayThread], sim: SimServer, tmp_path: Any
) -> None:
    extra = CONFIG + f'store: {{url: "sqlite:///{tmp_path}/state.db"}}\n'
    first = make_gateway(extra)
    with openai.OpenAI(base_url=first.url + "/v1", api_key=POOR, max_retries=0) as client:
        client.chat.completions.create(model="gpt", messages=HI)  # type: ignore[arg-type]
    first.stop()  # no flush asked for: the shutdown writes what was counted
    second = make_gateway(extra)
    (row,) = rows(second, key="poor")
    assert row["requests"] == 1 and row["cost_usd"] > 0
    # and the budget it spent holds across the restart
    with (
        openai.OpenAI(base_url=second.url + "/v1", api_key=POOR, max_retries=0) as client,
        pytest.raises(openai.RateLimitError),
    ):
        client.chat.completions.create(model="gpt", messages=HI)  # type: ignore[arg-type]


def test_responses_and_gemini_callers_are_counted(
    gw: GatewayThread, sim: SimServer, oai: openai.OpenAI
) -> None:
    response = oai.responses.create(model="gpt", input="hello")
    assert response.usage is not None
    options = types.HttpOptions(base_url=gw.url, timeout=10_000)
    with genai.Client(api_key=TEAM, http_options=options) as client:
        text = "".join(
            c.text or "" for c in client.models.generate_content_stream(model="gpt", contents="hi")
        )
    assert text
    (row,) = rows(gw, key="team")
    assert row["requests"] == 2
    assert row["estimated_tokens"] == 0
    assert row["output_tokens"] >= response.usage.output_tokens
