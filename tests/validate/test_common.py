"""The shared door checks: nesting depth, model names, messages that name the field."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from failsoft.errors import InvalidRequest
from failsoft.validate import MAX_DEPTH, request
from failsoft.validate.common import check_depth, check_gemini_model, check_model, too_deep


def nest(depth: int) -> Any:
    value: Any = 1
    for i in range(depth):
        value = [value] if i % 2 else {"a": value}
    return value


def test_depth_limit_is_exact() -> None:
    # the payload object is level 1: a value nested MAX_DEPTH - 1 levels inside it fits
    check_depth({"x": nest(MAX_DEPTH - 1)})
    with pytest.raises(InvalidRequest, match="deeper than 128 levels"):
        check_depth({"x": nest(MAX_DEPTH)})


def test_depth_limit_is_below_what_orjson_writes() -> None:
    deepest = {"x": nest(MAX_DEPTH - 1)}
    assert not too_deep(deepest)
    orjson.dumps({"wrapped": [{"again": deepest}]})  # translators add a few levels


def test_empty_containers_do_not_count_and_wide_bodies_are_fine() -> None:
    assert not too_deep({"x": [[]] * 10_000, "y": [{}] * 10_000})
    assert not too_deep({"messages": [{"role": "user", "content": "x"}] * 1000})


@pytest.mark.parametrize(
    ("model", "said"),
    [
        ("a\nb", "printable"),
        ("a\r\nb", "printable"),
        ("a\x00", "printable"),
        ("a\u2028b", "printable"),
        ("a\tb", "printable"),
        ("m" * 257, "at most 256 characters, got 257"),
    ],
)
def test_model_names(model: str, said: str) -> None:
    with pytest.raises(InvalidRequest, match=said) as caught:
        check_model(model)
    assert caught.value.param == "model"
    assert model not in caught.value.message


def test_good_model_names() -> None:
    for model in ("gpt-4o", "openai/gpt-4o", "ft:gpt-4o:org:x:1", "m" * 256, "llama 3 (8B)"):
        check_model(model)


@pytest.mark.parametrize("name", ["a/b", "a?b", "a#b", "a%2e", "a\\b"])
def test_gemini_target_names(name: str) -> None:
    with pytest.raises(InvalidRequest, match="Gemini model name"):
        check_gemini_model(name)
    check_gemini_model("gemini-2.5-flash")


def test_request_checks_model_shape_and_depth() -> None:
    good = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    request("openai", good, "m")
    with pytest.raises(InvalidRequest, match="deeper"):
        request("openai", {**good, "extra": nest(200)}, "m")
    with pytest.raises(InvalidRequest, match="printable"):
        request("openai", good, "m\n")
