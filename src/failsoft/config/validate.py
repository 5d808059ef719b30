"""Turn plain YAML values into frozen config dataclasses, collecting every problem.

A small type-driven converter instead of msgspec/pydantic because a config checker must
report *all* problems at once, each with its dotted path, line and a suggestion for
misspelled keys; those libraries stop at the first error or word it for programmers.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Callable
from typing import Any, Literal, TypeVar, get_args, get_origin

from failsoft.config.loader import Document, Interpolated, Path

T = TypeVar("T")

_MISSING = object()


class Secret:
    """A credential from the config. Its repr never shows the value.

    `source` names where it came from (`${ANTHROPIC_API_KEY}`), so `check-config` can say
    which variable a key was read from without printing it.
    """

    __slots__ = ("_value", "source")

    def __init__(self, value: str, source: str = "inline") -> None:
        self._value = value
        self.source = source

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def check(fn: Callable[[Any], str | None], default: Any = _MISSING, **kw: Any) -> Any:
    """A dataclass field with a value check; `fn` returns a problem message or None."""
    if default is _MISSING:
        return dataclasses.field(metadata={"check": fn}, **kw)
    return dataclasses.field(default=default, metadata={"check": fn}, **kw)


def positive(value: Any) -> str | None:
    return None if value > 0 else f"must be greater than 0, got {value}"


def non_negative(value: Any) -> str | None:
    return None if value >= 0 else f"must be 0 or more, got {value}"


def suggest(word: str, choices: typing.Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin in (types.UnionType, typing.Union):
        return " or ".join(type_name(a) for a in get_args(tp) if a is not type(None))
    if origin in (list, tuple):
        return "a list"
    if origin is dict:
        return "a mapping"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false"}.get(
        tp, getattr(tp, "__name__", str(tp))
    )


def describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"{str(value).lower()}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the string {value!r}" if len(value) < 40 else "a string"
    return repr(value)


def build(cls: type[T], raw: Any, path: Path, doc: Document) -> T | None:
    """Build dataclass `cls` from a mapping; problems go to `doc`; None if unusable."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        doc.problem(path, f"expected a mapping, got {describe(raw)}")
        return None
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    for key in raw:
        if key not in fields:
            doc.problem((*path, key), "unknown key" + suggest(key, fields))
    values: dict[str, Any] = {}
    ok = True
    for name, f in fields.items():
        child = (*path, name)
        if name not in raw:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                doc.problem(path, f"missing required key {name!r}")
                ok = False
            continue
        value = convert(hints[name], raw[name], child, doc)
        if value is _INVALID:
            ok = False
            continue
        checker = f.metadata.get("check")
        if checker is not None and value is not None:
            message = checker(value)
            if message:
                doc.problem(child, message)
                ok = False
                continue
        values[name] = value
    if not ok:
        return None
    return cls(**values)


def build_list(cls: type[T], raw: Any, path: Path, doc: Document) -> tuple[T, ...] | None:
    """A list of `cls` mappings (empty when absent); None if any item is unusable."""
    if raw is None:
        return ()
    result = convert(tuple[cls, ...], raw, path, doc)  # type: ignore[valid-type]
    return None if result is _INVALID else tuple(result)


class _Invalid:
    pass


_INVALID: Any = _Invalid()


def convert(tp: Any, value: Any, path: Path, doc: Document) -> Any:
    """Convert one value to type `tp`, or report and return `_INVALID`."""
    origin = get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        args = [a for a in get_args(tp) if a is not type(None)]
        if value is None and len(args) < len(get_args(tp)):
            return None
        if len(args) == 1:
            return convert(args[0], value, path, doc)
        for arg in args:
            scratch = Document(doc.source)
            result = convert(arg, value, path, scratch)
            if result is not _INVALID and not scratch.problems:
                return result
        return _wrong(tp, value, path, doc)
    if origin is Literal:
        choices = get_args(tp)
        if value in choices:
            return value
        hint = suggest(value, [str(c) for c in choices]) if isinstance(value, str) else ""
        doc.problem(path, f"expected {type_name(tp)}, got {describe(value)}{hint}")
        return _INVALID
    if origin in (list, tuple):
        if not isinstance(value, list | tuple):
            return _wrong(tp, value, path, doc)
        (item_tp, *_rest) = get_args(tp)
        items = [convert(item_tp, v, (*path, i), doc) for i, v in enumerate(value)]
        if any(i is _INVALID for i in items):
            return _INVALID
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            return _wrong(tp, value, path, doc)
        _key_tp, value_tp = get_args(tp)
        out = {k: convert(value_tp, v, (*path, k), doc) for k, v in value.items()}
        if any(v is _INVALID for v in out.values()):
            return _INVALID
        return out
    if dataclasses.is_dataclass(tp):
        built = build(tp, value, path, doc)  # type: ignore[arg-type]
        return _INVALID if built is None else built
    return _scalar(tp, value, path, doc)


def _scalar(tp: Any, value: Any, path: Path, doc: Document) -> Any:
    if tp is Secret:
        if isinstance(value, str):
            names = getattr(value, "variables", ())
            source = ", ".join(f"${{{n}}}" for n in names) if names else "inline"
            return Secret(str(value), source)
        return _wrong(str, value, path, doc)
    if isinstance(value, Interpolated) and tp in (int, float, bool):
        value = _coerce(tp, str(value))
    if tp is bool:
        return value if isinstance(value, bool) else _wrong(tp, value, path, doc)
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        return _wrong(tp, value, path, doc)
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        return _wrong(tp, value, path, doc)
    if tp is str:
        return str(value) if isinstance(value, str) else _wrong(tp, value, path, doc)
    if tp is Any:
        return value
    raise TypeError(f"config type {tp!r} is not supported")  # a bug in a schema, not in a file


def _coerce(tp: Any, text: str) -> Any:
    text = text.strip()
    try:
        if tp is bool:
            low = text.lower()
            if low in ("true", "yes", "on", "1"):
                return True
            if low in ("false", "no", "off", "0"):
                return False
            return text
        return tp(text)
    except ValueError:
        return text


def _wrong(tp: Any, value: Any, path: Path, doc: Document) -> Any:
    doc.problem(path, f"expected {type_name(tp)}, got {describe(value)}")
    return _INVALID
