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
import signal
from typing import Any

import uvicorn
from uvicorn.supervisors.multiprocess import Multiprocess

log = logging.getLogger("failsoft.serve")

SUPERVISOR_ENV = "FAILSOFT_SUPERVISOR"
"""The supervisor's pid, in each worker's environment: where a worker sends SIGHUP to
have every worker reload."""


class Supervisor(Multiprocess):
    def handle_hup(self) -> None:
        """Pass SIGHUP to each worker (they reload in place) rather than restart them.
        A worker still starting could be ended by it (it has no handler yet): it is then
        replaced as any dead worker is, and reads the new file as it starts."""
        live = [p.pid for p in self.processes if p.pid is not None and p.process.is_alive()]
        log.info("SIGHUP: asking %d workers to reload their config", len(live))
        for pid in live:
            # (one that ended meanwhile is replaced as any dead worker is)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGHUP)


def run(app: str, *, host: str, port: int, workers: int, **options: Any) -> None:
    """What `uvicorn.run(app, workers=N)` does, with `Supervisor` as the supervisor."""
    os.environ[SUPERVISOR_ENV] = str(os.getpid())
    config = uvicorn.Config(app, host=host, port=port, workers=workers, **options)
    sock = config.bind_socket()
    try:
        Supervisor(config, sockets=[sock]).run()
    finally:
        sock.close()


def reload_siblings() -> None:
    """Ask the supervisor to have every worker reload (from inside a worker)."""
    pid = os.environ.get(SUPERVISOR_ENV)
    if pid and pid.isdigit() and int(pid) == os.getppid():
        os.kill(int(pid), signal.SIGHUP)
