"""The depth check's shortcut (`validate.request` given the body): a body with at most
MAX_DEPTH opening brackets is never walked, and never too deep; the result is the walk's."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from failsoft.errors import InvalidRequest
from failsoft.validate import MAX_DEPTH, request
from failsoft.validate.common import too_deep

_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.text(alphabet='{[]}ab"\\ ', max_size=6)
)
_JSON = st.recursive(
    _LEAVES,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=40,
)


def _nest(depth: int) -> Any:
    value: Any = "x"
    for i in range(depth):
        value = [value] if i % 2 else {"a": value}
    return value


def _outcome(payload: dict[str, Any], body: bytes | None) -> str | None:
    try:
        request("openai", payload, "m", body)
    except InvalidRequest as exc:
        return exc.message
    return None


@settings(max_examples=300, deadline=None)
@given(_JSON, st.integers(min_value=0, max_value=MAX_DEPTH + 3))
def test_the_shortcut_gives_the_walks_answer(value: Any, depth: int) -> None:
    payload = {"messages": [], "x": value, "deep": _nest(depth)}
    body = orjson.dumps(payload)
    assert _outcome(payload, body) == _outcome(payload, None)
    if body.count(b"{") + body.count(b"[") <= MAX_DEPTH:
        assert not too_deep(payload)  # what the shortcut relies on


@pytest.mark.parametrize("depth", [MAX_DEPTH - 2, MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1])
def test_at_the_limit(depth: int) -> None:
    payload = {"messages": [], "x": _nest(depth)}
    body = orjson.dumps(payload)
    assert _outcome(payload, body) == _outcome(payload, None)
    assert (_outcome(payload, body) is not None) == (depth >= MAX_DEPTH)
