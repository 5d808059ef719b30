"""Validation helpers shared by fault specs, model settings and scenarios.

Specs arrive from YAML files, JSON control requests and request headers, so every
check names the dotted path of the offending field: a user fixing a scenario file
should never have to guess which entry was wrong.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any


class SpecError(ValueError):
    """An invalid fault spec, model setting or scenario; the message starts with the path."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


def join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def mapping(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise SpecError(where, f"expected a mapping, got {type_name(value)}")
    for key in value:
        if not isinstance(key, str):
            raise SpecError(where, f"keys must be strings, got {key!r}")
    return value


def known_keys(value: Mapping[str, Any], allowed: Iterable[str], where: str, what: str) -> None:
    """Reject unknown keys, suggesting the closest valid one (typos are the usual cause)."""
    valid = sorted(allowed)
    for key in value:
        if key not in valid:
            close = difflib.get_close_matches(key, valid, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise SpecError(
                join(where, key), f"unknown {what} (expected one of: {', '.join(valid)}){hint}"
            )


def number(
    value: object, where: str, *, minimum: float = 0.0, maximum: float | None = None
) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SpecError(where, f"expected a number, got {type_name(value)}")
    result = float(value)
    if result != result or result < minimum or (maximum is not None and result > maximum):
        bound = f"between {minimum:g} and {maximum:g}" if maximum is not None else f">= {minimum:g}"
        raise SpecError(where, f"must be {bound}, got {value!r}")
    return result


def integer(value: object, where: str, *, minimum: int = 0, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(where, f"expected an integer, got {type_name(value)}")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise SpecError(where, f"must be {bound}, got {value!r}")
    return value


def boolean(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise SpecError(where, f"expected true or false, got {type_name(value)}")
    return value


def text(value: object, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise SpecError(where, f"expected a non-empty string, got {type_name(value)}")
    return value


def one_of(value: object, choices: Iterable[str], where: str, what: str) -> str:
    valid = list(choices)
    if not isinstance(value, str) or value not in valid:
        close = difflib.get_close_matches(value, valid, n=1) if isinstance(value, str) else []
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise SpecError(
            where, f"unknown {what} {value!r} (expected one of: {', '.join(valid)}){hint}"
        )
    return value


def type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {value!r}"
    if isinstance(value, str):
        return f"string {value!r}"
    if isinstance(value, int | float):
        return f"number {value!r}"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return type(value).__name__
