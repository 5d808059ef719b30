"""The supervisor of `failsoft serve --workers N`: uvicorn's, with SIGHUP meaning reload.

uvicorn's supervisor (`uvicorn.supervisors.Multiprocess`, read against uvicorn 0.55)
answers SIGHUP by starting a new process for each worker and stopping the old one: every
breaker, health window, incident timer and memory-cached answer is lost, each time. Here
SIGHUP is passed on to every worker instead, and each reloads its config in place
(`failsoft.reload`). A worker asked to reload by `POST /admin/reload` signals the
supervisor the same way, so every worker follows.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import tempfile
from collections.abc import Iterator
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.supervisors.multiprocess import Multiprocess

log = logging.getLogger("failsoft.serve")

GOOD_ENV = "FAILSOFT_GOOD_CONFIG"
"""A file holding the text of the last config that loaded (written by each worker's
reloads): a worker started while the config file is invalid serves that instead."""

SUPERVISOR_ENV = "FAILSOFT_SUPERVISOR"
"""The supervisor's pid, in each worker's environment: where a worker sends SIGHUP to
have every worker reload."""


class Supervisor(Multiprocess):
    def __init__(self, config: uvicorn.Config, sockets: list[socket.socket]) -> None:
        super().__init__(config, sockets)
        # uvicorn queues signals and looks at the queue every half second; a reload is
        # passed on at once instead (os.kill is all the handler does).
        signal.signal(signal.SIGHUP, self._forward)

    def _forward(self, sig: int, frame: FrameType | None) -> None:
        self.handle_hup()

    # Every way uvicorn starts a worker, with SIGHUP blocked (see `_hup_blocked`).

    def init_processes(self) -> None:
        with _hup_blocked():
            super().init_processes()

    def keep_subprocess_alive(self) -> None:
        with _hup_blocked():
            super().keep_subprocess_alive()

    def handle_ttin(self) -> None:
        with _hup_blocked():
            super().handle_ttin()

    def handle_hup(self) -> None:
        """Pass SIGHUP to each worker (they reload in place) rather than restart them.
        Workers start with SIGHUP blocked (`_hup_blocked`): one that is still
        starting takes it once it can reload, rather than being ended by it."""
        pids = [p.pid for p in list(self.processes) if p.pid is not None]
        log.info("SIGHUP: asking %d workers to reload their config", len(pids))
        for pid in pids:
            # (one that ended meanwhile is replaced as any dead worker is)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGHUP)


@contextlib.contextmanager
def _hup_blocked() -> Iterator[None]:
    """SIGHUP blocked while workers are started: a process inherits the mask, so a new
    worker holds a SIGHUP pending (instead of dying of it, its default action) until it
    can reload (`failsoft.reload.Reloader.started` unblocks it). One sent to the
    supervisor meanwhile is delivered when this ends, not lost."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def run(app: str, *, host: str, port: int, workers: int, **options: Any) -> None:
    """What `uvicorn.run(app, workers=N)` does, with `Supervisor` as the supervisor."""
    os.environ[SUPERVISOR_ENV] = str(os.getpid())
    config = uvicorn.Config(app, host=host, port=port, workers=workers, **options)
    sock = config.bind_socket()
    try:
        Supervisor(config, sockets=[sock]).run()
    finally:
        sock.close()


@contextlib.contextmanager
def last_good(config_path: str) -> Iterator[None]:
    """A private copy of the config as it is now (the CLI validated it), named in
    `GOOD_ENV` for the workers; removed when the supervisor ends."""
    folder = tempfile.mkdtemp(prefix="failsoft-")
    path = os.path.join(folder, "last-good.yaml")
    with open(config_path, encoding="utf-8") as src, open(path, "w", encoding="utf-8") as out:
        out.write(src.read())
    os.environ[GOOD_ENV] = path
    try:
        yield
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def reload_siblings() -> None:
    """Ask the supervisor to have every worker reload (from inside a worker)."""
    pid = os.environ.get(SUPERVISOR_ENV)
    if pid and pid.isdigit() and int(pid) == os.getppid():
        os.kill(int(pid), signal.SIGHUP)
