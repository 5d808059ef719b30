"""The inbound surfaces as each SDK generation calls them, plus the model list and liveness."""

from __future__ import annotations

import anthropic
import openai
import pytest

from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from tests.helpers import anthropic_chat, request


@pytest.mark.parametrize(
    "headers",
    [
        {"x-api-key": "sk-caller", "anthropic-version": "2023-06-01"},  # anthropic SDK < 2.0
        {"authorization": "Bearer sk-caller", "anthropic-version": "2026-10-21"},  # SDK >= 2.0
        {"x-api-key": "sk-caller", "anthropic-version": "2099-01-01"},  # a version from the future
        {},  # curl without any of them
    ],
    ids=["x-api-key-2023", "bearer-2026", "future-version", "no-headers"],
)
def test_anthropic_surface_accepts_every_auth_style(
    gateway: GatewayThread, sim: SimServer, headers: dict[str, str]
) -> None:
    resp = request(
        gateway.url + "/v1/messages",
        body=anthropic_chat("claude"),
        headers={"content-type": "application/json", **headers},
    )
    assert resp.status == 200, resp.body
    assert resp.json()["type"] == "message"
    sent = sim.requests("claude-opus-4-7")[-1].headers
    # The caller's version is relayed; without one, the provider's configured default is used.
    assert sent["anthropic-version"] == headers.get("anthropic-version", "2023-06-01")


def test_models_list_for_both_sdks(
    oai: openai.OpenAI, ant: anthropic.Anthropic, gateway: GatewayThread
) -> None:
    names = [m.id for m in oai.models.list()]
    assert names == ["claude", "gpt", "claude-one", "gpt-one", "chain"]
    assert all(m.owned_by == "failsoft" for m in oai.models.list())
    page = ant.models.list()
    assert [m.id for m in page.data] == names
    assert page.data[0].type == "model"


def test_healthz(gateway: GatewayThread) -> None:
    resp = request(gateway.url + "/healthz", method="GET")
    assert resp.status == 200
    assert resp.json() == {"status": "ok"}


def test_request_ids(oai: openai.OpenAI, ant: anthropic.Anthropic) -> None:
    completion = oai.chat.completions.with_raw_response.create(
        model="gpt", messages=[{"role": "user", "content": "hi"}]
    )
    assert completion.headers["x-request-id"]  # the upstream's, relayed
    assert completion.headers["x-failsoft-request-id"].startswith("fs_")
    message = ant.messages.with_raw_response.create(
        model="claude", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
    )
    assert message.headers["request-id"]
    assert message.parse()._request_id == message.headers["request-id"]
