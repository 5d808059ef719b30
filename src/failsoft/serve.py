"""Running the gateway under uvicorn: blocking (the CLI) or in a background thread (the demo,
tests, benchmarks). The module that sets uvicorn up: uvicorn runs the sockets, workers,
signals, TLS, lifespan and shutdown; each connection is failsoft's own protocol
(server/protocol.py, with the limits of server/door.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import uvicorn

from failsoft.assemble import SERVE_STORE, Runtime
from failsoft.auth.limits import WORKERS_ENV
from failsoft.config import Config, TlsConfig
from failsoft.errors import ConfigError
from failsoft.reload import Reloader
from failsoft.server import GatewayApp
from failsoft.server.drain import backstop, begin_on_signals
from failsoft.server.protocol import HttpProtocol

log = logging.getLogger("failsoft.serve")

CONFIG_ENV = "FAILSOFT_CONFIG"
LOG_LEVEL_ENV = "FAILSOFT_LOG_LEVEL"
T = TypeVar("T")


# The measured fast stack (uvloop + httptools through failsoft's own connection protocol,
# with its limits: server/protocol.py, server/door.py),
# nothing per request that failsoft does not need (no access log, no proxy-headers
# middleware, no Server/Date headers), and our own logging setup: uvicorn must not
# reconfigure the root logger.
_UVICORN_OPTIONS: dict[str, Any] = {
    "loop": "uvloop",
    "http": HttpProtocol,  # httptools, failsoft's connection and limits (server/protocol.py)
    "ws": "none",  # no WebSocket route: an Upgrade must not leave the limits behind
    "lifespan": "on",
    "access_log": False,
    "server_header": False,
    "date_header": False,
    "proxy_headers": False,
    "timeout_keep_alive": 30,
    "log_config": None,
}


def _uvicorn_config(app: GatewayApp, host: str, port: int, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        timeout_graceful_shutdown=backstop(app.drain.seconds),
        **_tls_options(app.runtime.config.server.tls),
        **_UVICORN_OPTIONS,
    )


def _tls_options(tls: TlsConfig | None) -> dict[str, Any]:
    """uvicorn's TLS settings for `server.tls` (paths already absolute and checked at load)."""
    if tls is None:
        return {}
    return {"ssl_certfile": tls.cert, "ssl_keyfile": tls.key}


def _scheme(config: Config) -> str:
    return "https" if config.server.tls is not None else "http"


def run(
    config: Config,
    *,
    host: str,
    port: int,
    log_level: str = "info",
    config_path: str | None = None,
) -> None:
    """Serve until interrupted (Ctrl-C / SIGTERM; a second Ctrl-C stops at once). With
    `config_path`, SIGHUP reloads it in place (failsoft.reload)."""
    runtime = Runtime(config, default_store=SERVE_STORE)
    if config_path is not None:
        Reloader(runtime, config_path, signals=True)
        # Held until the runtime can reload (Reloader.started), rather than ending it.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})
    runtime.base_url = f"{_scheme(config)}://{host}:{port}"
    app = GatewayApp(runtime)
    server = _Server(_uvicorn_config(app, host, port, log_level), app)
    _settle_heap()
    # uvicorn re-raises the Ctrl-C it handled once it has shut down; it was handled.
    with contextlib.suppress(KeyboardInterrupt):
        server.run()


class _Server(uvicorn.Server):
    """uvicorn's server, whose second Ctrl-C (`force_exit`) also hurries the runtime's own
    shutdown: uvicorn stops waiting for connections, we stop waiting for webhook
    deliveries and store writes (those are dead-lettered or spooled, not lost silently).

    The first signal begins the drain (server/drain.py): `/readyz` answers 503 and the
    listener stays open while requests are in flight, up to `server.drain` seconds, so a
    load balancer sees the 503 rather than a refused connection."""

    def __init__(self, config: uvicorn.Config, app: GatewayApp) -> None:
        super().__init__(config)
        self.app = app
        self.runtime = app.runtime

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        loop = self.runtime.loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self.app.drain.begin)
            if self.force_exit:
                loop.call_soon_threadsafe(self.runtime.hurry)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.app.drain.begin()  # also when uvicorn stops for another reason than a signal
        await self.app.drain.settle(lambda: self.force_exit)
        await super().shutdown(sockets)


def _settle_heap() -> None:
    """Move everything built at start-up out of the cyclic collector's way.

    Modules, config and the app are immortal in practice; leaving them in the collected
    generations made each full collection walk them (a measured 23 ms pause under load,
    1.5 ms after freezing).
    """
    gc.collect()
    gc.freeze()


def worker_app() -> GatewayApp:
    """App factory for `--workers N`: each worker process loads the config itself."""
    from failsoft.logjson import setup_logging
    from failsoft.supervise import GOOD_ENV, reload_siblings

    path = os.environ[CONFIG_ENV]
    good = Path(os.environ[GOOD_ENV]) if os.environ.get(GOOD_ENV) else None
    config, problems = _worker_config(path, good)
    setup_logging(os.environ.get(LOG_LEVEL_ENV, "info"), json=config.log.format == "json")
    runtime = Runtime(config, default_store=SERVE_STORE)
    reloader = Reloader(runtime, path, signals=True, siblings=reload_siblings, last_good=good)
    if problems:
        reloader.started_on_last_good(problems)
    app = GatewayApp(runtime)
    # uvicorn's worker closes its listener at SIGTERM; the drain still ends open streams
    # with their in-band error before uvicorn's own limit (`backstop`) cancels them.
    begin_on_signals(app.drain)
    _settle_heap()
    return app


def _worker_config(path: str, good: Path | None) -> tuple[Config, list[str]]:
    """The config file, or, if it is invalid now (edited since the supervisor started, a
    worker replaced after a crash), the last config that loaded: a new worker serves what
    the others serve rather than failing to start."""
    from failsoft.config import load_config, parse_config

    try:
        return load_config(path), []
    except ConfigError as exc:
        if good is None or not good.exists():
            raise
        log.error("%s\nstarting on the last config that loaded instead", exc)
        return parse_config(good.read_text(encoding="utf-8"), source=path), exc.problems


def run_workers(
    config_path: str,
    *,
    host: str,
    port: int,
    workers: int,
    log_level: str = "info",
    drain: float = 30.0,
    tls: TlsConfig | None = None,
) -> None:
    """Serve with several processes sharing one port (each has its own session and state).
    SIGHUP to the supervisor has every worker reload the config in place."""
    from failsoft import supervise

    os.environ[CONFIG_ENV] = os.path.abspath(config_path)
    os.environ[LOG_LEVEL_ENV] = log_level
    os.environ[WORKERS_ENV] = str(workers)  # each enforces 1/N of a key's limits (no Redis)
    with supervise.last_good(config_path):
        supervise.run(
            "failsoft.serve:worker_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
            timeout_graceful_shutdown=backstop(drain),
            **_tls_options(tls),
            **_UVICORN_OPTIONS,
        )


class GatewayThread:
    """A gateway on 127.0.0.1 in a daemon thread with its own event loop.

    Binds its socket before starting, so `url` is valid as soon as `start()` returns.
    """

    def __init__(
        self,
        config: Config,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        runtime: Runtime | None = None,
    ) -> None:
        self.runtime = runtime or Runtime(config)
        self.app = GatewayApp(self.runtime)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self.host = host
        self.port: int = self._sock.getsockname()[1]
        self.scheme = _scheme(self.runtime.config)
        self.runtime.base_url = f"{self.scheme}://{host}:{self.port}"
        self._server = uvicorn.Server(_uvicorn_config(self.app, host, self.port, "warning"))
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> GatewayThread:
        self._thread = threading.Thread(target=self._run, name="failsoft-gateway", daemon=True)
        self._thread.start()
        deadline = threading.Event()
        for _ in range(int(timeout / 0.01)):
            if self._server.started or self._error is not None:
                break
            deadline.wait(0.01)
        if self._error is not None:
            raise RuntimeError("the gateway failed to start") from self._error
        if not self._server.started:
            raise RuntimeError(f"the gateway did not start within {timeout}s")
        return self

    def _run(self) -> None:
        try:
            self._server.run(sockets=[self._sock])
        except BaseException as exc:  # surfaced to the starting thread
            self._error = exc

    def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        with contextlib.suppress(OSError):
            self._sock.close()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        """Run `coro` on the gateway's own loop and wait for its result (tests, the demo)."""
        loop = self.runtime.loop
        if loop is None:
            coro.close()
            raise RuntimeError("the gateway is not running")
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)

    @contextlib.contextmanager
    def running(self) -> Iterator[GatewayThread]:
        self.start()
        try:
            yield self
        finally:
            self.stop()
