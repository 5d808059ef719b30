"""A response's headers as the native client hands them on (`Upstream.headers`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any


class Headers(Mapping[str, str]):
    """Response headers: names as sent, looked up regardless of case (the first of a
    repeated name wins, as with aiohttp's multidict `get`)."""

    __slots__ = ("_index", "_names")

    def __init__(self, items: Iterable[tuple[str, str]]) -> None:
        index: dict[str, str] = {}
        names: dict[str, str] = {}
        for name, value in items:
            low = name.lower()
            if low not in index:
                index[low] = value
                names[low] = name
        self._index = index
        self._names = names

    @classmethod
    def parsed(cls, raw: dict[bytes, bytes]) -> Headers:
        """From the parser's names and values as sent (each name's first value, kept by
        `dict.setdefault`): one pass here instead of a Python call per header line."""
        self = cls.__new__(cls)
        index: dict[str, str] = {}
        names: dict[str, str] = {}
        for name, value in raw.items():
            sent = name.decode("latin-1")
            low = sent.lower()
            if low not in index:
                index[low] = value.decode("latin-1")
                names[low] = sent
        self._index = index
        self._names = names
        return self

    def __getitem__(self, name: str) -> str:
        return self._index[name.lower()]

    def get(self, name: str, default: Any = None) -> Any:
        return self._index.get(name.lower(), default)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._index

    def __iter__(self) -> Iterator[str]:
        return iter(self._names.values())

    def __len__(self) -> int:
        return len(self._index)

    def __repr__(self) -> str:
        return f"Headers({dict(zip(self._names.values(), self._index.values(), strict=True))!r})"
