"""Writes waiting for an absent remote store, kept in a local file so that a restart during
the store's outage loses none of them.

Each process appends to its own file (`<pid>-<token>.jsonl` in the spool directory), which
it holds locked while it lives: one JSON line per queued write (`seq`, `kind`, `data`), and
`{"done": seq}` once the store has it. A process that starts takes over the files whose
owner is gone (their lock is free), replays what is not done, and deletes them. The file is
deleted as soon as nothing is waiting, so in normal operation there is none.

Lines are written without fsync: the spool survives the process (a crash, a restart, a
second Ctrl-C), not the machine.
"""

from __future__ import annotations

import base64
import fcntl
import logging
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import orjson

from failsoft.health.codec import incident_from_json, incident_to_json, transition_from_row
from failsoft.health.types import Incident, Transition
from failsoft.store.base import (
    DeadLetter,
    OutboxDone,
    OutboxEntry,
    ResponseDropped,
    StoredResponse,
)

log = logging.getLogger("failsoft.store")

Kind = Literal[
    "transition", "incident", "dead_letter", "outbox", "outbox_done", "response", "response_drop"
]
Item = (
    Transition | Incident | DeadLetter | OutboxEntry | OutboxDone | StoredResponse | ResponseDropped
)


def to_json(kind: Kind, item: Item) -> dict[str, Any]:
    if isinstance(item, Transition):
        return {"component": item.component, "state": item.state, "at": item.at.timestamp()}
    if isinstance(item, Incident):
        return incident_to_json(item)
    if isinstance(item, OutboxDone):
        return {"endpoint": item.endpoint, "message_id": item.message_id}
    if isinstance(item, StoredResponse):
        return {
            "id": item.id,
            "created_at": item.created_at,
            "expires_at": item.expires_at,
            "body": item.body,
        }
    if isinstance(item, ResponseDropped):
        return {"id": item.id}
    if isinstance(item, OutboxEntry):
        return {
            "endpoint": item.endpoint,
            "message_id": item.message_id,
            "event_type": item.event_type,
            "body": base64.b64encode(item.body).decode(),
            "at": item.at.timestamp(),
        }
    return {
        "endpoint_url": item.endpoint_url,
        "message_id": item.message_id,
        "event_type": item.event_type,
        "body": base64.b64encode(item.body).decode(),
        "attempts": item.attempts,
        "last_error": item.last_error,
        "at": item.at.timestamp(),
    }


def from_json(kind: Kind, data: dict[str, Any]) -> Item:
    if kind == "transition":
        return transition_from_row(data["component"], data["state"], float(data["at"]))
    if kind == "incident":
        return incident_from_json(data)
    if kind == "outbox_done":
        return OutboxDone(str(data["endpoint"]), str(data["message_id"]))
    if kind == "response":
        return StoredResponse(
            str(data["id"]),
            float(data["created_at"]),
            float(data["expires_at"]),
            str(data["body"]),
        )
    if kind == "response_drop":
        return ResponseDropped(str(data["id"]))
    if kind == "outbox":
        return OutboxEntry(
            str(data["endpoint"]),
            str(data["message_id"]),
            str(data["event_type"]),
            base64.b64decode(data["body"]),
            datetime.fromtimestamp(float(data["at"]), UTC),
        )
    return DeadLetter(
        str(data["endpoint_url"]),
        str(data["message_id"]),
        str(data["event_type"]),
        base64.b64decode(data["body"]),
        int(data["attempts"]),
        str(data["last_error"]),
        datetime.fromtimestamp(float(data["at"]), UTC),
    )


class Spool:
    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.path = self.directory / f"{os.getpid()}-{secrets.token_hex(4)}.jsonl"
        self._fd: int | None = None
        self._broken = False

    def adopt(self) -> list[tuple[Kind, Item]]:
        """What processes that are gone left waiting, oldest file first; their files are
        deleted (the caller queues the writes again, in its own spool if need be)."""
        if not self.directory.is_dir():
            return []
        found: list[tuple[Kind, Item]] = []
        files = sorted(self.directory.glob("*.jsonl"), key=_mtime)
        for path in files:
            if path == self.path:
                continue
            items = _take_over(path)
            if items:
                log.info("replaying %d store writes left in %s", len(items), path)
            found.extend(items)
        return found

    def write(self, seq: int, kind: Kind, item: Item) -> None:
        """Append one queued write (again with the same `seq` when it is superseded: an
        incident saved twice keeps its place, with the newer content)."""
        self._append({"seq": seq, "kind": kind, "data": to_json(kind, item)})

    def done(self, seq: int) -> None:
        if self._fd is not None:
            self._append({"done": seq})

    def clear(self) -> None:
        """Nothing is waiting any more: delete the file."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(fd)  # releases the lock

    def close(self) -> None:
        """Keep the file (writes are still waiting) for the next start."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def _append(self, record: dict[str, Any]) -> None:
        try:
            if self._fd is None:
                self._fd = self._open()
            os.write(self._fd, orjson.dumps(record) + b"\n")
        except OSError as exc:
            if not self._broken:  # say it once: the writes are still queued in memory
                log.error("cannot spool store writes to %s: %s", self.path, exc)
            self._broken = True

    def _open(self) -> int:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Owner-only: dead letters may hold webhook URLs, which can be credentials.
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._broken = False
        return fd


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _take_over(path: Path) -> list[tuple[Kind, Item]]:
    """The writes pending in `path` if its owner is gone (its lock is free), after which
    the file is deleted; nothing if a live process holds it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return []
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return []  # its process is alive
        try:
            if os.fstat(fd).st_ino != path.stat().st_ino:
                return []  # another process took it over and deleted it meanwhile
        except OSError:
            return []
        with os.fdopen(os.dup(fd), "rb") as f:
            raw = f.read()
        items = _pending(raw, path)
        path.unlink(missing_ok=True)
        return items
    finally:
        os.close(fd)


def _pending(raw: bytes, path: Path) -> list[tuple[Kind, Item]]:
    records: dict[int, tuple[Kind, dict[str, Any]]] = {}
    for line in raw.splitlines():
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue  # a line cut short by a crash
        if "done" in record:
            records.pop(int(record["done"]), None)
        else:
            seq = int(record["seq"])
            # A later line for the same seq replaces the content, not the position.
            records[seq] = (record["kind"], record["data"])
    out: list[tuple[Kind, Item]] = []
    for kind, data in records.values():
        try:
            out.append((kind, from_json(kind, data)))
        except (KeyError, TypeError, ValueError) as exc:
            log.error("skipping an unreadable %s in %s: %s", kind, path, exc)
    return out
