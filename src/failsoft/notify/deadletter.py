"""Dead letters: webhook messages that were not delivered, and the default place for them.

`WebhookSender` hands each one to a `DeadLetterSink`; by default that appends a JSON line to
a file (owner-only, since an endpoint URL can itself be a credential), from which a message
can be replayed by hand.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson

from failsoft.health.codec import statuspage_time as iso
from failsoft.store.base import DeadLetter

__all__ = ["DeadLetter", "DeadLetterSink", "write_dead_letter"]

DeadLetterSink = Callable[[DeadLetter], Awaitable[None]]


async def write_dead_letter(path: Path, letter: DeadLetter) -> None:
    """Append `letter` to `path` as one JSON line (off the event loop)."""
    record: dict[str, Any] = {
        "at": iso(letter.at),
        "endpoint_url": letter.endpoint_url,
        "message_id": letter.message_id,
        "event_type": letter.event_type,
        "attempts": letter.attempts,
        "last_error": letter.last_error,
        "body": letter.body.decode(errors="replace"),
    }
    await asyncio.to_thread(_append, path, orjson.dumps(record) + b"\n")


def _append(path: Path, line: bytes) -> None:
    # Owner-only: a dead letter may hold an endpoint URL that is itself a credential.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)
