"""Fault specs and the runtime fault table.

A fault is data (a mapping with `kind` plus options) so the same spec can come from
Python, the control API, an `x-sim-fault` request header or a scenario file, and is
validated once with errors that name the field.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import KW_ONLY, dataclass, fields
from typing import Any

from failsoft.sim import spec
from failsoft.sim.spec import SpecError

FAULT_KINDS = (
    "status",
    "reset",
    "hang",
    "slow_headers",
    "slow_first_token",
    "cut",
    "stall",
    "malformed",
    "no_terminal",
    "no_done",
    "mid_stream_error",
    "endless",
    "huge_line",
)
STREAM_ONLY_KINDS = frozenset({"no_terminal", "no_done", "mid_stream_error", "huge_line"})
"""Kinds that have no meaning without a stream; they never match a non-streaming request."""
BODY_PRESETS = {"context_length": 400, "content_policy": 400, "insufficient_quota": 429}
"""Preset error bodies and the status each implies when `status` is not given."""
CUT_MODES = ("eof", "reset")
MALFORMED_TARGETS = ("extra", "content")
"""`extra`: a junk event a tolerant client may skip; `content`: a text event it must not lose."""
STALL_ENDINGS = ("close", "continue")
"""After a stall with `delay`: FIN mid-stream, or the rest of the stream as if nothing happened."""
DEFAULT_AFTER = 2
"""Content events sent before cut/stall/malformed/mid_stream_error/endless/huge_line, when
`after` is not given."""

_COMMON = ("kind", "rate", "count", "stream")
_OPTIONS: dict[str, tuple[str, ...]] = {
    "status": (
        "status",
        "retry_after",
        "retry_after_ms",
        "should_retry",
        "body",
        "message",
        "type",
        "code",
    ),
    "reset": (),
    "hang": (),
    "slow_headers": ("delay",),
    "slow_first_token": ("delay",),
    "cut": ("after", "mode"),
    "stall": ("after", "delay", "then"),
    "malformed": ("after", "target"),
    "no_terminal": (),
    "no_done": (),
    "mid_stream_error": ("after", "error_type", "message"),
    "endless": ("after",),
    "huge_line": ("after",),
}


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault spec; see docs/simulator.md for what each kind does on the wire."""

    kind: str
    _: KW_ONLY
    rate: float | None = None
    count: int | None = None
    stream: bool | None = None
    status: int | None = None
    retry_after: float | None = None
    retry_after_ms: float | None = None
    should_retry: bool | None = None
    body: str | None = None
    message: str | None = None
    type: str | None = None
    code: str | None = None
    delay: float | None = None
    after: int | None = None
    mode: str | None = None
    error_type: str | None = None
    target: str | None = None
    then: str | None = None

    def __post_init__(self) -> None:
        _validate(self.to_dict(), "fault")

    @classmethod
    def from_dict(cls, value: object, where: str = "fault") -> Fault:
        """Validate a mapping (from JSON or YAML) and build the fault; errors name `where.field`."""
        return cls(**_validate(value, where))

    @classmethod
    def coerce(cls, value: Fault | Mapping[str, Any], where: str = "fault") -> Fault:
        return value if isinstance(value, Fault) else cls.from_dict(value, where)

    def to_dict(self) -> dict[str, Any]:
        """The spec as given (unset options left out), in the form `from_dict` accepts."""
        result: dict[str, Any] = {}
        for field in fields(self):
            value = getattr(self, field.name)
            if value is not None:
                result[field.name] = value
        return result

    def applies_to(self, stream: bool) -> bool:
        if self.stream is not None and self.stream != stream:
            return False
        return stream or self.kind not in STREAM_ONLY_KINDS

    @property
    def events_before(self) -> int:
        return DEFAULT_AFTER if self.after is None else self.after

    @property
    def http_status(self) -> int:
        if self.status is not None:
            return self.status
        return BODY_PRESETS.get(self.body or "", 500)


def _validate(value: object, where: str) -> dict[str, Any]:
    raw = spec.mapping(value, where)
    if "kind" not in raw:
        raise SpecError(
            spec.join(where, "kind"), "required (one of: " + ", ".join(FAULT_KINDS) + ")"
        )
    kind = spec.one_of(raw["kind"], FAULT_KINDS, spec.join(where, "kind"), "fault kind")
    spec.known_keys(raw, _COMMON + _OPTIONS[kind], where, f"option for fault kind '{kind}'")
    result: dict[str, Any] = {"kind": kind}
    for key, item in raw.items():
        if key == "kind" or item is None:
            continue
        path = spec.join(where, key)
        if key == "rate":
            result[key] = spec.number(item, path, maximum=1.0)
        elif key in ("count", "after"):
            result[key] = spec.integer(item, path, minimum=1 if key == "count" else 0)
        elif key in ("stream", "should_retry"):
            result[key] = spec.boolean(item, path)
        elif key == "status":
            result[key] = spec.integer(item, path, minimum=400, maximum=599)
        elif key in ("retry_after", "retry_after_ms"):
            seconds = spec.number(item, path, maximum=10_000_000.0)
            result[key] = int(seconds) if isinstance(item, int) else seconds
        elif key == "delay":
            result[key] = spec.number(item, path, maximum=3600.0)
        elif key == "body":
            result[key] = spec.one_of(item, BODY_PRESETS, path, "body preset")
        elif key == "mode":
            result[key] = spec.one_of(item, CUT_MODES, path, "cut mode")
        elif key == "target":
            result[key] = spec.one_of(item, MALFORMED_TARGETS, path, "malformed target")
        elif key == "then":
            result[key] = spec.one_of(item, STALL_ENDINGS, path, "stall ending")
        else:
            result[key] = spec.text(item, path)
    if kind == "status" and "status" not in result and "body" not in result:
        raise SpecError(spec.join(where, "status"), "required for kind 'status' (or give 'body')")
    if kind in ("slow_headers", "slow_first_token") and "delay" not in result:
        raise SpecError(spec.join(where, "delay"), f"required for kind '{kind}' (seconds)")
    if "then" in result and "delay" not in result:
        raise SpecError(spec.join(where, "then"), "needs 'delay' (without it a stall never ends)")
    return result


class FaultSlot:
    """A fault plus its live state: the remaining `count` and the `rate` dice."""

    __slots__ = ("_rng", "fault", "remaining")

    def __init__(self, fault: Fault, rng: random.Random) -> None:
        self.fault = fault
        self.remaining = fault.count
        self._rng = rng

    @property
    def expired(self) -> bool:
        return self.remaining == 0

    def consider(self, stream: bool) -> bool | None:
        """None: does not match this request; False: matched but the dice said no; True: apply.

        Only an applied fault uses up its `count`.
        """
        fault = self.fault
        if self.remaining == 0 or not fault.applies_to(stream):
            return None
        if fault.rate is not None and self._rng.random() >= fault.rate:
            return False
        if self.remaining is not None:
            self.remaining -= 1
        return True


def choose(slots: Iterable[FaultSlot | None], stream: bool) -> Fault | None:
    """The first slot that matches decides; a failed `rate` roll does not fall through."""
    for slot in slots:
        if slot is None:
            continue
        verdict = slot.consider(stream)
        if verdict is not None:
            return slot.fault if verdict else None
    return None


def seeded(seed: int, *parts: str) -> random.Random:
    """One generator per fault, so a fault's dice do not depend on other traffic."""
    return random.Random("/".join((str(seed), *parts)))


class FaultTable:
    """Runtime faults: one per model key plus "*"; setting a key replaces its fault.

    Not locked itself: the simulator state serialises access.
    """

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self._slots: dict[str, FaultSlot] = {}

    def __bool__(self) -> bool:
        return bool(self._slots)

    def set(self, model: str, fault: Fault) -> None:
        self._slots[model] = FaultSlot(fault, seeded(self.seed, "runtime", model))

    def clear(self, model: str | None = None) -> None:
        if model is None:
            self._slots.clear()
        else:
            self._slots.pop(model, None)

    def get(self, model: str) -> FaultSlot | None:
        slot = self._slots.get(model)
        if slot is not None and slot.expired:
            del self._slots[model]
            return None
        return slot

    def snapshot(self) -> dict[str, dict[str, Any]]:
        result = {}
        for model, slot in self._slots.items():
            if not slot.expired:
                result[model] = {"fault": slot.fault.to_dict(), "remaining": slot.remaining}
        return result
