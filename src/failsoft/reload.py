"""Reloading the config file in place: SIGHUP, or `POST /admin/reload`.

The file is read and validated first; an invalid one changes nothing (every problem the
loader found is logged, and the old config keeps serving). A valid one is applied to the
running process (`Runtime.reconfigure`) without a restart, so breakers, health windows,
incidents and cached answers survive, and requests in flight finish on the config they
started with. Keys bound into what the process set up at start (`config.diff`'s
`RESTART_ONLY`: `server.*`, `store.*`) keep their old value, with a warning each.

Under `--workers N` every worker reloads by itself; a reload asked of one worker (the
admin route) is passed to the others through the supervisor (`failsoft.supervise`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from failsoft.config import parse_config
from failsoft.config.diff import changes, keep_restart_only, restart_only
from failsoft.config.exposure import exposure_warnings
from failsoft.errors import ConfigError
from failsoft.readiness import Check

if TYPE_CHECKING:
    from failsoft.assemble import Runtime

log = logging.getLogger("failsoft.reload")

OUTCOMES = ("applied", "unchanged", "invalid", "failed")
"""`applied`: the new config serves; `unchanged`: the file says what already serves;
`invalid`: the file has problems, the old config serves; `failed`: applying it raised (a
bug, or a semantic cache that cannot start), the old config serves."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one reload did (the `/admin/reload` answer)."""

    outcome: str
    changed: tuple[str, ...] = ()
    """What differs from the config that served before (`models: added fast`...)."""
    kept: tuple[str, ...] = ()
    """Restart-only keys the file changed, whose old value still serves."""
    problems: tuple[str, ...] = ()
    """Why the file was not applied (`invalid`, `failed`)."""
    hash: str = ""
    """The file's sha256 (first 16 hex digits) when it was read."""

    @property
    def ok(self) -> bool:
        return self.outcome in ("applied", "unchanged")

    def to_json(self) -> dict[str, object]:
        return {
            "outcome": self.outcome,
            "changed": list(self.changed),
            "kept_until_restart": list(self.kept),
            "problems": list(self.problems),
            "config_hash": self.hash,
        }


@dataclass(slots=True)
class _Record:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    hash: str = ""
    loaded_at: float = 0.0
    failure: str = ""
    """The last reload's problems while it is the latest (empty once one succeeds)."""


class Reloader:
    """Reloads one process's config from `path`. `siblings`, when set, tells the other
    worker processes to reload too (it signals the supervisor)."""

    def __init__(
        self,
        runtime: Runtime,
        path: str | Path,
        *,
        signals: bool = False,
        siblings: Callable[[], None] | None = None,
        last_good: Path | None = None,
    ) -> None:
        self.runtime = runtime
        self.path = Path(path)
        self.signals = signals
        """Whether SIGHUP reloads (the process's main thread serves: `failsoft serve`)."""
        self.siblings = siblings
        self.last_good = last_good
        """Where the text of each config that loaded is kept (`--workers`): a worker started
        later (one replaced after a crash) falls back to it if the file is invalid then."""
        self._lock = asyncio.Lock()
        self._record = _Record(hash=_hash(self.path), loaded_at=time.time())
        self._pending: set[asyncio.Task[Outcome]] = set()
        runtime.reloader = self
        runtime.readiness.add(self.check)
        runtime.metric_sources.append(self.metrics)

    def started(self) -> None:
        """The runtime started in its loop: from now on SIGHUP reloads (its default
        action, until then, ends the process)."""
        if self.signals:
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self._on_signal)
            # A worker starts with SIGHUP blocked (failsoft.supervise): one that came
            # while it started is delivered now.
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGHUP})

    def _on_signal(self) -> None:
        log.info("SIGHUP: reloading %s", self.path)
        task = asyncio.get_running_loop().create_task(self.reload())
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def reload_all(self) -> Outcome:
        """Reload this process and, if it worked, ask the other workers to do the same
        (`POST /admin/reload`)."""
        outcome = await self.reload()
        if outcome.ok and self.siblings is not None:
            self.siblings()
        return outcome

    async def reload(self) -> Outcome:
        """Read the file and apply it; never raises (the outcome says what happened)."""
        async with self._lock:  # one at a time: two SIGHUPs in a row apply in order
            outcome = await self._reload()
        self._record.counts[outcome.outcome] += 1
        return outcome

    async def _reload(self) -> Outcome:
        runtime = self.runtime
        try:
            text = await asyncio.to_thread(self.path.read_text, encoding="utf-8")
        except OSError as exc:
            return self._failed("invalid", [f"cannot read the file: {exc.strerror or exc}"], "")
        digest = _digest(text)
        try:
            new = parse_config(text, source=str(self.path))
        except ConfigError as exc:
            return self._failed("invalid", exc.problems, digest)
        old = runtime.config
        kept = restart_only(old, new)
        new = keep_restart_only(old, new)
        changed = changes(old, new)
        for key in kept:
            log.warning("config reload: %s needs a restart; kept the old value", key)
        if not changed:
            log.info("config reload: %s has no change to apply", self.path)
            self._succeeded(digest, text)
            return Outcome("unchanged", (), tuple(kept), (), digest)
        try:
            await runtime.reconfigure(new)
        except Exception as exc:
            log.exception("config reload: applying %s failed", self.path)
            return self._failed("failed", [f"{type(exc).__name__}: {exc}"], digest)
        self._succeeded(digest, text)
        log.info("config reload: applied %s (%s)", self.path, "; ".join(changed))
        host = urlsplit(runtime.base_url or "").hostname or new.server.host
        for warning in exposure_warnings(new, host):
            log.warning("config reload: %s", warning)
        return Outcome("applied", tuple(changed), tuple(kept), (), digest)

    def _failed(self, outcome: str, problems: list[str], digest: str) -> Outcome:
        noun = "problem" if len(problems) == 1 else "problems"
        log.error(
            "config reload: %s not applied, the old config keeps serving: %d %s:\n%s",
            self.path,
            len(problems),
            noun,
            "\n".join(f"  - {p}" for p in problems),
        )
        self._record.failure = f"{outcome}: " + "; ".join(problems)
        return Outcome(outcome, (), (), tuple(problems), digest)

    def _succeeded(self, digest: str, text: str) -> None:
        self._record.hash = digest
        self._record.loaded_at = time.time()
        self._record.failure = ""
        if self.last_good is not None:
            _write(self.last_good, text)

    def started_on_last_good(self, problems: list[str]) -> None:
        """This worker found the file invalid as it started and serves the last config
        that loaded (`last_good`) instead: reported as a failed reload would be."""
        self._record.failure = "invalid at start: " + "; ".join(problems)

    # ------------------------------------------------------------------ reporting

    def check(self) -> Check:
        """`/readyz`: a failed reload is reported, never required (the old config serves)."""
        failure = self._record.failure
        detail = f"last reload {failure}" if failure else f"loaded {self._record.hash}"
        return Check("config", not failure, detail, required=False)

    def metrics(self) -> Iterator[Metric]:
        reloads = CounterMetricFamily(
            "failsoft_config_reloads",
            "Config reloads by outcome (applied, unchanged, invalid, failed).",
            labels=["outcome"],
        )
        for outcome, n in self._record.counts.items():
            reloads.add_metric([outcome], n)
        yield reloads
        info = GaugeMetricFamily(
            "failsoft_config_info", "The config serving now (1), by file hash.", labels=["hash"]
        )
        info.add_metric([self._record.hash], 1)
        yield info
        yield GaugeMetricFamily(
            "failsoft_config_loaded_timestamp_seconds",
            "When the config serving now was loaded (Unix time).",
            value=self._record.loaded_at,
        )


def _hash(path: Path) -> str:
    try:
        return _digest(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return ""


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _write(path: Path, text: str) -> None:
    """Replace `path`'s content at once (another worker may be reading or writing it)."""
    part = path.with_name(f"{path.name}.{os.getpid()}")
    try:
        part.write_text(text, encoding="utf-8")
        os.replace(part, path)
    except OSError as exc:
        log.warning("could not keep the config that loaded in %s: %s", path, exc)
