"""The /_sim/ control API over real HTTP; control requests never count as attempts."""

from __future__ import annotations

from typing import Any

import aiohttp

from failsoft.sim import SimServer

from .helpers import GPT, MODEL, user


async def _call(
    http: aiohttp.ClientSession, method: str, url: str, **kwargs: Any
) -> tuple[int, Any]:
    async with http.request(method, url, **kwargs) as resp:
        return resp.status, await resp.json()


async def _complete(http: aiohttp.ClientSession, sim: SimServer, model: str = GPT) -> int:
    async with http.post(
        sim.url + "/v1/chat/completions", json={"model": model, "messages": user()}
    ) as resp:
        await resp.read()
        return resp.status


async def test_faults_round_trip(sim: SimServer) -> None:
    base = sim.url + "/_sim/faults"
    async with aiohttp.ClientSession() as http:
        fault = {"kind": "status", "status": 529, "count": 1}
        status, body = await _call(http, "POST", base, json={"model": GPT, "fault": fault})
        assert (status, body) == (200, {"model": GPT, "fault": fault})
        await _call(http, "POST", base, json={"model": "*", "fault": {"kind": "reset"}})
        status, body = await _call(http, "GET", base)
        assert body["runtime"] == {
            GPT: {"fault": fault, "remaining": 1},
            "*": {"fault": {"kind": "reset"}, "remaining": None},
        }
        assert await _complete(http, sim) == 529
        status, _ = await _call(http, "DELETE", base + "?model=*")
        assert status == 200
        assert await _complete(http, sim) == 200
        await _call(http, "POST", base, json={"model": GPT, "fault": {"kind": "hang"}})
        await _call(http, "DELETE", base)
        assert (await _call(http, "GET", base))[1]["runtime"] == {}


async def test_invalid_fault_is_a_precise_400(sim: SimServer) -> None:
    async with aiohttp.ClientSession() as http:
        url = sim.url + "/_sim/faults"
        status, body = await _call(http, "POST", url, json={"model": GPT, "fault": {"kind": "x"}})
        assert status == 400
        assert body["error"].startswith("fault.kind: unknown fault kind 'x'")
        status, body = await _call(http, "POST", url, json={"fault": {"kind": "reset"}})
        assert status == 400
        status, body = await _call(http, "POST", url, data=b"not json")
        assert status == 400
        assert "not valid JSON" in body["error"]


async def test_stats_requests_and_reset(sim: SimServer) -> None:
    async with aiohttp.ClientSession() as http:
        sim.set_fault(GPT, {"kind": "status", "status": 500, "count": 1})
        assert [await _complete(http, sim) for _ in range(3)] == [500, 200, 200]
        await _complete(http, sim, MODEL)
        status, stats = await _call(http, "GET", sim.url + "/_sim/stats")
        assert status == 200
        assert stats == {
            "attempts": 4,
            "models": {
                GPT: {"attempts": 3, "outcomes": {"500": 1, "200": 2}},
                MODEL: {"attempts": 1, "outcomes": {"200": 1}},
            },
        }
        _, log = await _call(http, "GET", sim.url + f"/_sim/requests?model={GPT}&limit=2")
        records = log["requests"]
        assert [r["outcome"] for r in records] == ["200", "200"]
        assert records[0]["path"] == "/v1/chat/completions"
        assert records[0]["dialect"] == "openai"
        assert records[0]["stream"] is False
        assert "authorization" not in records[0]["headers"]
        status, _ = await _call(http, "GET", sim.url + "/_sim/requests?limit=x")
        assert status == 400
        status, _ = await _call(http, "POST", sim.url + "/_sim/reset")
        assert status == 200
        assert (await _call(http, "GET", sim.url + "/_sim/stats"))[1] == {
            "attempts": 0,
            "models": {},
        }
        assert (await _call(http, "GET", sim.url + "/_sim/requests"))[1] == {"requests": []}
    assert sim.attempts(GPT) == 0


async def test_models_and_scenario(sim: SimServer) -> None:
    async with aiohttp.ClientSession() as http:
        status, body = await _call(
            http, "POST", sim.url + "/_sim/models", json={"model": GPT, "answer_words": 2}
        )
        assert status == 200
        assert body["settings"]["answer_words"] == 2
        status, body = await _call(
            http, "POST", sim.url + "/_sim/models", json={"model": GPT, "ttft": -1}
        )
        assert status == 400
        assert body["error"].startswith(f"{GPT}.ttft: must be between 0 and 3600")
        yaml_text = b"timeline:\n  - {at: 0, model: '*', fault: {kind: status, status: 503}}\n"
        status, body = await _call(http, "POST", sim.url + "/_sim/scenario", data=yaml_text)
        assert (status, body["timeline"]) == (200, 1)
        assert await _complete(http, sim) == 503
        status, body = await _call(
            http, "POST", sim.url + "/_sim/scenario", data=b"timeline: [{at: 0}]"
        )
        assert status == 400
        assert body["error"] == "scenario: timeline[0].model: required"


async def test_unknown_control_routes_and_nothing_counted(sim: SimServer) -> None:
    async with aiohttp.ClientSession() as http:
        assert (await _call(http, "GET", sim.url + "/_sim/nothing"))[0] == 404
        assert (await _call(http, "PUT", sim.url + "/_sim/stats"))[0] == 405
        await _call(http, "GET", sim.url + "/_sim/stats")
    assert sim.stats() == {"attempts": 0, "models": {}}
    assert sim.requests() == []
