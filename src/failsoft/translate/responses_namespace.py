"""Responses `namespace` tools, flattened for dialects that only know a flat list of tools.

A namespace tool groups function and custom tools under one name (Codex declares its
sub-agent tools as `multi_agent_v1`); the model's call to one of them comes back as a
`function_call` (or `custom_tool_call`) item whose `name` is the inner tool's and whose
`namespace` is the group's. Other dialects get each inner tool as its own tool named
`<namespace>__<name>`, cut to a length and alphabet every provider accepts
(`^[A-Za-z_][A-Za-z0-9_-]{0,62}$`, Gemini's being the narrowest), made unique with a short
hash where that is not enough. `Flattened` maps the flat names back, so the caller gets
its calls in the shape OpenAI would have sent them.
"""

from __future__ import annotations

import hashlib
import re

MAX_NAME = 63
"""Gemini's limit (the others allow 64)."""
_INVALID = re.compile(r"[^A-Za-z0-9_-]")


def flat_name(namespace: str, name: str) -> str:
    """The plain flat name of `namespace`'s tool `name`, before any collision."""
    base = _INVALID.sub("_", f"{namespace}__{name}")
    if not re.match(r"[A-Za-z_]", base):
        base = f"_{base}"
    if len(base) > MAX_NAME:
        base = _hashed(base, namespace, name)
    return base


def _hashed(base: str, namespace: str, name: str) -> str:
    digest = hashlib.sha256(f"{namespace}\x00{name}".encode()).hexdigest()[:10]
    return f"{base[: MAX_NAME - 11]}_{digest}"


class Flattened:
    """The flat names given to one request's namespaced tools, both ways."""

    __slots__ = ("_flat", "origin")

    def __init__(self) -> None:
        self.origin: dict[str, tuple[str, str]] = {}
        """A flat name → the (namespace, name) it stands for."""
        self._flat: dict[tuple[str, str], str] = {}

    def add(self, namespace: str, name: str, taken: set[str]) -> str:
        """A flat name for `namespace`'s `name`, unique among `taken` (which it joins)."""
        found = self._flat.get((namespace, name))
        if found is not None:
            return found
        flat = flat_name(namespace, name)
        if flat in taken:
            flat = _hashed(flat, namespace, name)
        n = 1
        while flat in taken:  # two hashes alike: count on
            flat = f"{flat[: MAX_NAME - 4]}_{n:03d}"
            n += 1
        taken.add(flat)
        self.origin[flat] = (namespace, name)
        self._flat[(namespace, name)] = flat
        return flat

    def name_for(self, namespace: str, name: str) -> str:
        """The flat name a caller's earlier call (`name` in `namespace`) goes out under."""
        return self._flat.get((namespace, name)) or flat_name(namespace, name)
