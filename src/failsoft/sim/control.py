"""The control API under /_sim/: faults, settings, scenario, stats and the request log.

It shares the port with the provider routes so a test or a demo script needs only the
simulator's URL. Control requests are never counted as attempts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import orjson

from failsoft.sim.faults import Fault
from failsoft.sim.http import Connection, Request
from failsoft.sim.scenarios import Scenario
from failsoft.sim.spec import SpecError
from failsoft.sim.state import SimState

_JSON = b"content-type: application/json\r\n"

Route = Callable[[Request], tuple[int, Any]]


class ControlError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Control:
    def __init__(self, state: SimState) -> None:
        self._state = state
        self._routes: dict[tuple[str, str], Route] = {
            ("GET", "/_sim/stats"): self._stats,
            ("GET", "/_sim/faults"): self._faults,
            ("POST", "/_sim/faults"): self._set_fault,
            ("DELETE", "/_sim/faults"): self._clear_faults,
            ("POST", "/_sim/models"): self._set_model,
            ("POST", "/_sim/reset"): self._reset,
            ("POST", "/_sim/scenario"): self._scenario,
            ("GET", "/_sim/requests"): self._requests,
        }

    def __call__(self, request: Request, conn: Connection) -> None:
        route = self._routes.get((request.method, request.path))
        try:
            if route is None:
                known = any(path == request.path for _, path in self._routes)
                raise ControlError(
                    405 if known else 404, f"no route {request.method} {request.path}"
                )
            status, payload = route(request)
        except ControlError as exc:
            status, payload = exc.status, {"error": str(exc)}
        except SpecError as exc:
            status, payload = 400, {"error": str(exc)}
        conn.send(status, _JSON, orjson.dumps(payload))

    def _stats(self, request: Request) -> tuple[int, Any]:
        return 200, self._state.stats.snapshot()

    def _faults(self, request: Request) -> tuple[int, Any]:
        return 200, self._state.fault_snapshot()

    def _set_fault(self, request: Request) -> tuple[int, Any]:
        body = _json_object(request)
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise ControlError(400, 'body needs "model" (a model name or "*") and "fault"')
        fault = self._state.set_fault(model, Fault.from_dict(body.get("fault"), "fault"))
        return 200, {"model": model, "fault": fault.to_dict()}

    def _clear_faults(self, request: Request) -> tuple[int, Any]:
        model = _query(request).get("model")
        self._state.clear_faults(model)
        return 200, {"cleared": model or "*all*"}

    def _set_model(self, request: Request) -> tuple[int, Any]:
        body = dict(_json_object(request))
        model = body.pop("model", None)
        if not isinstance(model, str) or not model:
            raise ControlError(400, 'body needs "model" plus settings (ttft, chunk_delay, ...)')
        self._state.set_model(model, body)
        return 200, {"model": model, "settings": self._state.settings(model).to_dict()}

    def _reset(self, request: Request) -> tuple[int, Any]:
        self._state.reset()
        return 200, {"reset": True}

    def _scenario(self, request: Request) -> tuple[int, Any]:
        scenario = Scenario.from_text(request.body, "scenario")
        self._state.load_scenario(scenario)
        return 200, {
            "loaded": True,
            "timeline": len(scenario.timeline),
            "models": scenario.model_names(),
        }

    def _requests(self, request: Request) -> tuple[int, Any]:
        query = _query(request)
        limit = query.get("limit")
        if limit is not None and not limit.isdigit():
            raise ControlError(400, "limit must be a non-negative integer")
        records = self._state.stats.requests(query.get("model"), int(limit) if limit else None)
        return 200, {"requests": [record.to_dict() for record in records]}


def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = orjson.loads(request.body)
    except orjson.JSONDecodeError as exc:
        raise ControlError(400, f"body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ControlError(400, "body must be a JSON object")
    return body


def _query(request: Request) -> dict[str, str]:
    return {key: values[-1] for key, values in parse_qs(request.query).items()}
