"""`/admin/keys` through the real SDKs: a key made by the admin API answers at once; rotated,
its old secret is refused at once (or after a grace) and the new one answers; revoked, it is
refused. Secrets are shown once and never appear in listings, logs or /metrics."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import openai
import pytest

from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from tests.helpers import RawResponse, request

TOKEN = "admin-token-" + "t" * 32
CONFIG_KEY = "declared-" + "d" * 40
EXTRA = f"""
admin: {{token: "{TOKEN}"}}
auth:
  keys: [{{name: declared, key: "{CONFIG_KEY}"}}]
"""
HI = [{"role": "user", "content": "hello"}]


def admin(gw: GatewayThread, method: str, path: str, body: Any = None) -> RawResponse:
    headers = {"authorization": f"Bearer {TOKEN}"}
    return request(gw.url + path, method=method, body=body, headers=headers)


@pytest.fixture
def gw(make_gateway: Callable[[str], GatewayThread]) -> GatewayThread:
    return make_gateway(EXTRA)


@pytest.fixture
def clients(
    gw: GatewayThread,
) -> Iterator[Callable[[str], tuple[openai.OpenAI, anthropic.Anthropic]]]:
    made: list[Any] = []

    def make(key: str) -> tuple[openai.OpenAI, anthropic.Anthropic]:
        pair = (
            openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0),
            anthropic.Anthropic(base_url=gw.url, api_key=key, max_retries=0),
        )
        made.extend(pair)
        return pair

    yield make
    for client in made:
        client.close()


def works(pair: tuple[openai.OpenAI, anthropic.Anthropic]) -> None:
    oai, ant = pair
    answer = oai.chat.completions.create(model="gpt", messages=HI)  # type: ignore[arg-type]
    assert answer.choices[0].message.content
    message = ant.messages.create(model="claude", max_tokens=50, messages=HI)  # type: ignore[arg-type]
    assert message.content


def refused(pair: tuple[openai.OpenAI, anthropic.Anthropic]) -> None:
    oai, ant = pair
    with pytest.raises(openai.AuthenticationError) as o:
        oai.chat.completions.create(model="gpt", messages=HI)  # type: ignore[arg-type]
    assert o.value.code == "invalid_api_key"
    assert "not valid" in o.value.message
    with pytest.raises(anthropic.AuthenticationError) as a:
        ant.messages.create(model="claude", max_tokens=50, messages=HI)  # type: ignore[arg-type]
    assert a.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]


def test_create_rotate_revoke_through_both_sdks(
    gw: GatewayThread,
    sim: SimServer,
    clients: Callable[[str], tuple[openai.OpenAI, anthropic.Anthropic]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    created = admin(gw, "POST", "/admin/keys", {"name": "team", "metadata": {"owner": "ml"}})
    assert created.status == 201, created.body
    first = created.json()
    secret, ident = first["secret"], first["id"]
    assert secret.startswith("fs-") and first["name"] == "team" and first["status"] == "active"
    works(clients(secret))  # at once: the admin API reloads its own process before answering

    rotated = admin(gw, "POST", f"/admin/keys/{ident}/rotate")
    assert rotated.status == 200, rotated.body
    second = rotated.json()["secret"]
    assert second != secret and rotated.json()["id"] == ident
    refused(clients(secret))
    works(clients(second))

    graced = admin(gw, "POST", "/admin/keys/team/rotate", {"grace": 60})
    assert graced.status == 200, graced.body
    third = graced.json()["secret"]
    assert graced.json()["previous_valid_until"] is not None
    works(clients(second))  # the old secret, during its grace
    works(clients(third))

    listed = admin(gw, "GET", "/admin/keys")
    assert listed.status == 200
    keys = {k["name"]: k for k in listed.json()["keys"]}
    assert keys["declared"]["source"] == "config" and keys["team"]["source"] == "store"
    assert admin(gw, "GET", f"/admin/keys/{ident}").json()["name"] == "team"

    revoked = admin(gw, "DELETE", f"/admin/keys/{ident}")
    assert revoked.status == 200 and revoked.json()["status"] == "revoked"
    refused(clients(second))
    refused(clients(third))
    works(clients(CONFIG_KEY))  # the config's keys are untouched

    metrics = request(gw.url + "/metrics", method="GET").body
    assert b"failsoft_auth_stored_keys 0.0" in metrics  # revoked: none accepted
    assert b"failsoft_auth_stored_keys_stale 0.0" in metrics
    seen = [listed.body, admin(gw, "GET", f"/admin/keys/{ident}").body, metrics]
    for raw in (secret, second, third):
        assert all(raw.encode() not in text for text in seen)
        assert raw not in caplog.text
    assert b"digest" not in listed.body


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    [
        ("POST", "/admin/keys", {"name": "bad name"}, 400, "name: must be"),
        ("POST", "/admin/keys", {"name": "x", "limits": {"rpm": -1}}, 400, "limits.rpm"),
        ("POST", "/admin/keys", "[1]", 400, "JSON object"),
        ("POST", "/admin/keys", {"name": "declared"}, 409, "already declares"),
        ("GET", "/admin/keys/nobody", None, 404, "no key 'nobody'"),
        ("POST", "/admin/keys/nobody/rotate", {}, 404, "no key"),
        ("POST", "/admin/keys/declared/rotate", {}, 409, "declared in the config"),
        ("DELETE", "/admin/keys/nobody", None, 404, "no key"),
        ("PUT", "/admin/keys", None, 405, "accepts GET and POST"),
    ],
)
def test_bad_requests_are_named(
    gw: GatewayThread, method: str, path: str, body: Any, status: int, message: str
) -> None:
    resp = admin(gw, method, path, body)
    assert resp.status == status, resp.body
    assert message in resp.json()["error"]["message"]


def test_a_duplicate_name_and_a_grace_out_of_range(gw: GatewayThread) -> None:
    assert admin(gw, "POST", "/admin/keys", {"name": "once"}).status == 201
    again = admin(gw, "POST", "/admin/keys", {"name": "once"})
    assert again.status == 409 and "already exists" in again.json()["error"]["message"]
    wrong = admin(gw, "POST", "/admin/keys/once/rotate", {"grace": "soon"})
    assert wrong.status == 400
    long = admin(gw, "POST", "/admin/keys/once/rotate", {"grace": 10**9})
    assert long.status == 400 and "grace" in long.json()["error"]["message"]


def test_keys_routes_need_the_admin_token(gw: GatewayThread) -> None:
    resp = request(gw.url + "/admin/keys", method="POST", body={"name": "sneaky"})
    assert resp.status == 401
    with_caller_key = request(
        gw.url + "/admin/keys",
        method="GET",
        headers={"authorization": f"Bearer {CONFIG_KEY}"},
    )
    assert with_caller_key.status == 401
