"""Health across the processes that share a store: one judgement, one incident per outage.

Each gateway process sees only the traffic it serves. Judged alone, one outage seen by two
processes (two instances, or `serve --workers 2`) became two incidents: two rows, two
entries on the page, every webhook twice. So the processes pool what they see, and one of
them judges:

- Every evaluation, each process publishes its evidence as one row of the store
  (`failsoft_evidence`, keyed by a holder id of its own): per component, the 1-minute and
  5-minute windows (counts by class and outcome, latency histograms), its breaker and the
  time of its last failure; its running counts of requests failed over and lost; and its
  callers' summary (`failsoft.health.callers`); the row's format is
  `failsoft.health.evidence`.
- The holder of the store's `health` lease, the leader, merges the fresh rows (younger than
  the lease, `3 × evaluate_every`) with its own evidence, decides every state, runs the
  incident keeper, writes state changes and incidents, and alone tells the webhooks about
  them. It publishes the states it shows with its row.
- The others show the leader's states and the store's unresolved incidents, with the same
  merged figures, and tell the webhooks nothing about automatic incidents.

A lease rather than a unique open incident per component, because an incident is more than
its opening: its updates, the models that join it and its resolution need one owner too.
A process that becomes the leader (the previous one stopped, or lost the store for longer
than the lease) reloads incidents and states from the store, as after a restart, and sends
the incident webhooks its predecessor left undelivered in the store's outbox
(`HealthMonitor.on_lead`, `failsoft.notify.outbox`). A process
that cannot reach the store keeps the role it had: a lone gateway goes on judging (its
writes wait in the store's queue), and a follower does not start judging on its own.

The exchange with the store runs beside the evaluation, never in its way (a frozen store
must not hold up the health evaluation): each evaluation starts a round (renew the lease,
publish, read) in the background, and the next evaluation uses what it found.

Requests failed over or lost reach the leader as running counts; it adds what grew since
the row it read before. What a process counted while the lease changed hands (at most one
evaluation's worth) is not added.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import uuid
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from failsoft.health.callers import Summary
from failsoft.health.callers import merge as merge_callers
from failsoft.health.evidence import Report, Seen, decode, encode
from failsoft.health.incidents import IncidentKeeper
from failsoft.health.types import Incident, State, Transition
from failsoft.health.windows import merge
from failsoft.store import Store, StoreUnavailable
from failsoft.types import Target

__all__ = [
    "KEEP",
    "LEASE",
    "WAIT",
    "Exchange",
    "Report",
    "Round",
    "Seen",
    "adopt",
    "decode",
    "encode",
    "merged",
    "sync_incidents",
]

log = logging.getLogger("failsoft.health")

LEASE = "health"
KEEP = 3600.0
"""Seconds the rows of a process that stopped publishing are kept (the leader deletes older
ones now and then)."""
WAIT = 0.25
"""Seconds an evaluation waits for the previous round to finish (it takes milliseconds when
the store answers; otherwise the evaluation goes on with what it knows)."""

_BREAKERS = {"closed": 0, "half_open": 1, "open": 2}


def merged(key: str, own: Seen, peers: list[Report]) -> Seen:
    """`own` evidence about `key` with what the other processes saw: windows add up, the
    worst breaker and the latest failure count."""
    theirs = [p.components[key] for p in peers if key in p.components]
    if not theirs:
        return own
    failures = [s.last_failure for s in (own, *theirs) if s.last_failure is not None]
    return Seen(
        merge([own.minute, *(s.minute for s in theirs)]),
        merge([own.five, *(s.five for s in theirs)]),
        max((own.breaker, *(s.breaker for s in theirs)), key=lambda b: _BREAKERS.get(b, 0)),
        max(failures) if failures else None,
    )


# --------------------------------------------------------------------------- the exchange


@dataclass
class Round:
    """What one round with the store found."""

    leading: bool | None = None
    """Whether this process holds the lease (None: the store did not say)."""
    stored: list[Incident] | None = None
    """The unresolved incidents (None: the store did not say)."""
    transitions: dict[str, list[Transition]] | None = None
    """When not leading before: the state history, to take over from."""


class Exchange:
    """This process's side of the exchange: its lease, its row, and the others' rows."""

    def __init__(self, store: Store, ttl: float, history_days: int = 90) -> None:
        self.store = store
        self.ttl = ttl
        """Seconds the lease lasts unrenewed, and a row stays fresh."""
        self.history_days = history_days
        self.holder = uuid.uuid4().hex
        self.leading = True
        """Until the store says otherwise: a lone process must judge even if its store is
        away from the start."""
        self.peers: dict[str, Report] = {}
        """The other processes' last rows read (fresh or not: see `fresh`)."""
        self._applied: dict[tuple[str, str], tuple[int, int]] = {}
        self._baseline = True
        self._pruned = float("-inf")
        self._trouble = False
        self._round: asyncio.Task[Round] | None = None

    async def round(self, report: Report | None, wall: float) -> Round:
        """Renew or contest the lease, publish `report`, read the others' rows and the
        unresolved incidents (and the history, when about to lead)."""
        found = Round(await self.lead(wall))
        if report is not None:
            await self.publish(report)
        await self.read(wall)
        try:
            found.stored = await self.store.incidents(unresolved=True)
            if found.leading and not self.leading:
                since = datetime.fromtimestamp(wall - self.history_days * 86_400.0, UTC)
                found.transitions = await self.store.transitions(since)
        except Exception as exc:
            self._failed("the incidents", exc)
        return found

    def start(self, report: Report, wall: float) -> None:
        """Start a round in the background, unless the last one is still waiting."""
        if self._round is None:
            self._round = asyncio.create_task(self.round(report, wall), name="health-exchange")

    async def result(self) -> Round | None:
        """What the round started last found, if it is over (waiting `WAIT` at most)."""
        task = self._round
        if task is None:
            return None
        if not task.done():
            await asyncio.wait({task}, timeout=WAIT)
            if not task.done():
                return None
        self._round = None
        try:
            return task.result()
        except Exception:
            log.exception("the health exchange failed")
            return None

    def forget(self) -> None:
        """Forget the others and what was added from them (tests that share one gateway;
        a round under way finishes unheard)."""
        self._round = None
        self.peers = {}
        self._applied.clear()
        self._baseline = True

    async def close(self, wall: float) -> None:
        """Stop; as the leader, hand the lease back (renewed for no time), so that another
        process (or this one, restarted) takes over at its next evaluation."""
        task, self._round = self._round, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.leading:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.store.try_lead(LEASE, self.holder, 0.0, wall), 1.0)

    async def lead(self, wall: float) -> bool | None:
        """Hold or renew the lease: whether this process holds it (None: no answer)."""
        try:
            leading = bool(await self.store.try_lead(LEASE, self.holder, self.ttl, wall))
        except Exception as exc:
            self._failed("the health lease", exc)
            return None
        self._trouble = False
        return leading

    def settle(self, found: Round) -> bool:
        """Take the role the round found (between evaluations, never during one); True
        when this process has just become the leader."""
        if found.leading is None or found.leading == self.leading:
            return False
        self.leading = found.leading
        self._baseline = True
        log.info(
            "this process %s health evaluation (lease %r in the store)",
            "now leads" if self.leading else "no longer leads",
            LEASE,
        )
        return self.leading

    async def read(self, wall: float) -> None:
        try:
            rows = await self.store.evidence(wall - self.ttl)
        except Exception as exc:
            self._failed("the other processes' evidence", exc)
            return
        peers = {}
        for holder, at, body in rows:
            if holder == self.holder:
                continue
            try:
                peers[holder] = decode(holder, at, body)
            except (ValueError, KeyError, TypeError, IndexError):
                log.debug("unreadable health evidence from %s", holder, exc_info=True)
        self.peers = peers

    async def publish(self, report: Report) -> None:
        try:
            await self.store.put_evidence(self.holder, report.at, encode(report))
            if self.leading and report.at - self._pruned >= KEEP / 12:
                self._pruned = report.at
                await self.store.drop_evidence(report.at - KEEP)
                live = set(self.peers)
                self._applied = {k: v for k, v in self._applied.items() if k[0] in live}
        except Exception as exc:
            self._failed("this process's evidence", exc)

    def fresh(self, wall: float) -> list[Report]:
        return [p for p in self.peers.values() if p.at >= wall - self.ttl]

    def leader_states(self, wall: float) -> dict[str, tuple[State, float]] | None:
        """The states the leader shows, while its row is fresh (None: no leader heard)."""
        found = [p for p in self.fresh(wall) if p.leader]
        return max(found, key=lambda p: p.at).states if found else None

    def callers(self, own: Summary, wall: float) -> Summary:
        return merge_callers([own, *(p.callers for p in self.fresh(wall))])

    def grown(self, wall: float) -> list[tuple[str, int, int]]:
        """(component, failed over, lost): what the other processes counted since the last
        call. Just after this process became the leader, nothing: its predecessor added
        what they had counted until then."""
        out = []
        baseline, self._baseline = self._baseline, False
        for peer in self.fresh(wall):
            for key, (over, lost) in peer.counts.items():
                before = self._applied.get((peer.holder, key), (0, 0))
                self._applied[(peer.holder, key)] = (over, lost)
                if not baseline and (over > before[0] or lost > before[1]):
                    out.append((key, max(0, over - before[0]), max(0, lost - before[1])))
        return out

    def _failed(self, what: str, exc: Exception) -> None:
        # The store's own queue says when the store is away; anything else is news.
        expected = self._trouble or isinstance(exc, StoreUnavailable)
        level = logging.DEBUG if expected else logging.WARNING
        self._trouble = True
        role = "leading" if self.leading else "following"
        log.log(level, "cannot share %s through the store (%s); still %s", what, exc, role)


def adopt(
    components: dict[str, Target],
    peers: list[Report],
    providers: Iterable[str],
    admit: Callable[[str, Target], None],
) -> None:
    """Add the components another process was asked for directly (`provider/model`), each
    through `admit` (which keeps their number bounded)."""
    known = set(providers)
    for peer in peers:
        for key in peer.components.keys() - components.keys():
            provider, _, model = key.partition("/")
            if provider in known and model:
                admit(key, Target(provider, model))


def sync_incidents(
    keeper: IncidentKeeper,
    stored: list[Incident],
    *,
    leading: bool,
    pending: Collection[str],
) -> None:
    """Bring the keeper's unresolved incidents in line with the store's.

    A follower takes the store's word. The leader adds what was opened elsewhere (by hand,
    through another process's admin API), takes the updates made there, and forgets what
    was resolved there; `pending` are the incidents this process itself wrote a moment ago,
    whose write may not be visible yet.
    """
    theirs = {i.id: i for i in stored if i.resolved_at is None}
    for incident_id in list(keeper.active):
        if incident_id not in theirs and incident_id not in pending:
            keeper.forget(incident_id)
    for incident_id, incident in theirs.items():
        mine = keeper.active.get(incident_id)
        if mine is None:
            if incident_id not in pending:
                keeper.active[incident_id] = incident
        elif not leading:
            keeper.active[incident_id] = incident
        elif len(incident.updates) > len(mine.updates) or incident.updated_at > mine.updated_at:
            keeper.active[incident_id] = dataclasses.replace(
                incident,
                requests_failed_over=max(incident.requests_failed_over, mine.requests_failed_over),
                requests_lost=max(incident.requests_lost, mine.requests_lost),
                peak_error_rate=max(incident.peak_error_rate, mine.peak_error_rate),
            )
