"""`SimServer`: the simulator's lifecycle and its Python API.

Tests, `failsoft demo` and the benchmark all start one of these on 127.0.0.1, either on
their own event loop (`await sim.start()`) or on a private loop in a daemon thread
(`with SimServer().run_in_thread() as sim`), and steer it through the same methods
the control API exposes.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any

from failsoft.clock import SYSTEM_CLOCK, Clock
from failsoft.sim.control import Control
from failsoft.sim.endpoints import Endpoints, Work
from failsoft.sim.faults import Fault
from failsoft.sim.gemini_input import METHODS as GEMINI_METHODS
from failsoft.sim.gemini_input import route as gemini_route
from failsoft.sim.http import Connection, Request
from failsoft.sim.scenarios import Scenario
from failsoft.sim.state import SimState
from failsoft.sim.stats import RequestRecord

_STOP_GRACE = 5.0


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed: the benchmark needs a simulator much faster than the gateway."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux and macOS
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


class SimServer:
    """A fault-injecting OpenAI + Anthropic + Gemini provider on one port.

    `defaults` sets model settings for every model (`ttft`, `chunk_delay`,
    `answer_words`, `answer`); `seed` makes `rate` faults reproducible (a scenario's
    own `seed` replaces it).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        models: Iterable[str] = (),
        scenario: Scenario | None = None,
        api_key: str | None = None,
        defaults: Mapping[str, Any] | None = None,
        clock: Clock | None = None,
        seed: int = 0,
    ) -> None:
        self.host = host
        self._requested_port = port
        self._port: int | None = None
        self._state = SimState(
            clock=clock or SYSTEM_CLOCK,
            models=models,
            scenario=scenario,
            api_key=api_key,
            defaults=defaults,
            seed=seed,
        )
        self._endpoints = Endpoints(self._state)
        self._control = Control(self._state)
        self._server: asyncio.AbstractServer | None = None
        self._connections: set[Connection] = set()

    # lifecycle ---------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the simulator is not started")
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("the simulator is already started")
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: Connection(self._handle, self._connections),
            self.host,
            self._requested_port,
            reuse_address=True,
            backlog=1024,
        )
        self._port = self._server.sockets[0].getsockname()[1]
        self._state.timeline.restart()

    async def stop(self) -> None:
        """Close the listener and every open connection, hanging ones included."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        tasks = []
        for conn in list(self._connections):
            task = conn.shutdown()
            if task is not None:
                tasks.append(task)
        if tasks:
            await asyncio.wait(tasks, timeout=_STOP_GRACE)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), _STOP_GRACE)

    async def __aenter__(self) -> SimServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @contextlib.contextmanager
    def run_in_thread(self) -> Iterator[SimServer]:
        """Serve from a private event loop in a daemon thread; returns once listening."""
        loop = new_event_loop()
        ready = threading.Event()
        failure: list[BaseException] = []

        def main() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        thread = threading.Thread(target=main, name="failsoft-sim", daemon=True)
        thread.start()
        ready.wait()
        if failure:
            raise failure[0]
        try:
            yield self
        finally:
            asyncio.run_coroutine_threadsafe(self.stop(), loop).result(_STOP_GRACE * 2)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(_STOP_GRACE * 2)

    # routing -----------------------------------------------------------------------

    def _handle(self, request: Request, conn: Connection) -> Work:
        path = request.path
        endpoints = self._endpoints
        if path == "/v1/chat/completions" or path == "/v1/messages":
            if request.method != "POST":
                return endpoints.not_found(request, conn, 405)
            wire = endpoints.openai if path == "/v1/chat/completions" else endpoints.anthropic
            return endpoints.complete(request, conn, wire)
        if path == "/v1/messages/count_tokens":
            if request.method != "POST":
                return endpoints.not_found(request, conn, 405)
            return endpoints.count_tokens(request, conn)
        if path == "/v1/responses":
            if request.method != "POST":
                return endpoints.not_found(request, conn, 405)
            return endpoints.complete(request, conn, endpoints.responses)
        if path.startswith("/_sim/"):
            self._control(request, conn)
            return None
        if path == "/v1/models":
            if request.method != "GET":
                return endpoints.not_found(request, conn, 405)
            return endpoints.models(request, conn)
        if path.startswith("/v1beta/"):
            return self._gemini(request, conn)
        return endpoints.not_found(request, conn)

    def _gemini(self, request: Request, conn: Connection) -> Work:
        endpoints = self._endpoints
        if request.path == "/v1beta/models":
            if request.method != "GET":
                return endpoints.not_found(request, conn, 405)
            return endpoints.models(request, conn, endpoints.gemini)
        found = gemini_route(request.path)
        if found is None:
            return endpoints.not_found(request, conn)
        model, method = found
        if method is None:
            if request.method != "GET":
                return endpoints.not_found(request, conn, 405)
            return endpoints.gemini_model(request, conn, model)
        if method not in GEMINI_METHODS:
            return endpoints.not_found(request, conn)
        if request.method != "POST":
            return endpoints.not_found(request, conn, 405)
        return endpoints.complete(request, conn, endpoints.gemini)

    # Python API (thread-safe) ------------------------------------------------------

    def set_fault(self, model: str, fault: Fault | Mapping[str, Any]) -> Fault:
        """Replace the runtime fault for `model` ("*" = every model)."""
        return self._state.set_fault(model, fault)

    def clear_faults(self, model: str | None = None) -> None:
        self._state.clear_faults(model)

    def set_model(self, model: str, **settings: Any) -> None:
        """Override settings (`ttft`, `chunk_delay`, `answer_words`, `answer`, `tool_calls`,
        `tool_preface`, `tool_name`, `tool_arguments`, `resume_overlap`, `on_continue`,
        `prefill`, `repeat_sentences`) for one model."""
        self._state.set_model(model, settings)

    def load_scenario(self, scenario: Scenario) -> None:
        """Replace the scenario; its timeline starts now."""
        self._state.load_scenario(scenario)

    def reset(self) -> None:
        """Clear runtime faults, stats and the request log; restart the scenario clock."""
        self._state.reset()

    def attempts(self, model: str) -> int:
        return self._state.stats.attempts(model)

    def stats(self) -> dict[str, Any]:
        return self._state.stats.snapshot()

    @property
    def in_progress(self) -> int:
        """Requests being answered right now on open connections (a stream whose client
        went away stops counting once the simulator sees the connection close)."""
        return sum(1 for conn in list(self._connections) if conn.answering)

    def requests(self, model: str | None = None) -> list[RequestRecord]:
        return self._state.stats.requests(model)

    def faults(self) -> dict[str, Any]:
        """Runtime faults and the timeline entries active now."""
        return self._state.fault_snapshot()


def serve(host: str, port: int, scenario_path: str | None, models: list[str] | None = None) -> None:
    """Run the simulator until Ctrl-C or SIGTERM (the `failsoft sim` command)."""
    scenario = Scenario.from_file(scenario_path) if scenario_path else None
    sim = SimServer(host, port, models=models or (), scenario=scenario)

    async def main() -> None:
        stopping = asyncio.Event()
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not on Windows
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
        await sim.start()
        print(f"failsoft sim listening on {sim.url}", flush=True)
        try:
            await stopping.wait()
        finally:
            await sim.stop()

    with (
        contextlib.suppress(KeyboardInterrupt),
        asyncio.Runner(loop_factory=new_event_loop) as runner,
    ):
        runner.run(main())
