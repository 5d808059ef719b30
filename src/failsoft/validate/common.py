"""What every inbound API's door check shares: nesting depth, the routed model name, and
error messages that name the field and what it should be.

Messages are built from field paths and type names only, never from Python exceptions nor
from the caller's values (a value can hold line breaks or be megabytes long).
"""

from __future__ import annotations

from typing import Any, NoReturn

from failsoft.errors import InvalidRequest

MAX_DEPTH = 128
"""Deepest nesting of arrays and objects accepted in a request body. orjson writes at most
254 levels and the translators add a few: a deeper body is refused at the door (400)
rather than failing later as a 500. No API failsoft serves nests deeper than a dozen."""

MAX_MODEL = 256
"""Longest model name accepted (`model`, or the Gemini URL's `{model}`)."""

_KINDS = {
    str: "a string",
    dict: "an object",
    list: "an array",
    int: "a number",
    float: "a number",
    bool: "true or false",
    type(None): "null",
}


def kind(value: Any) -> str:
    """How a JSON value is named in an error message."""
    return _KINDS.get(type(value), "a value")


def fail(field: str, expected: str, value: Any) -> NoReturn:
    """`InvalidRequest`: `field: expected <expected>, got <kind of value>`."""
    raise InvalidRequest(f"{field}: expected {expected}, got {kind(value)}", param=field)


def too_deep(value: Any, budget: int = MAX_DEPTH - 1) -> bool:
    """Whether `value` nests deeper than `budget + 1` levels. Only containers are visited
    and the walk stops at the limit, so it costs about a microsecond for a typical chat
    body (a few dozen containers) and can never recurse past MAX_DEPTH."""
    for item in value.values() if type(value) is dict else value:
        t = type(item)
        if (t is dict or t is list) and item and (budget == 0 or too_deep(item, budget - 1)):
            return True
    return False


def check_depth(payload: dict[str, Any]) -> None:
    if too_deep(payload):
        raise InvalidRequest(f"the request body nests deeper than {MAX_DEPTH} levels")


def check_model(model: str, param: str | None = "model") -> None:
    """A routed model name: at most MAX_MODEL characters, printable (no line break, tab or
    other control character, which could forge a log line or a header)."""
    if len(model) > MAX_MODEL:
        raise InvalidRequest(
            f"{param or 'the model name'}: expected at most {MAX_MODEL} characters, "
            f"got {len(model)}",
            param=param,
        )
    if not model.isprintable():
        raise InvalidRequest(
            f"{param or 'the model name'}: expected printable characters only, "
            "got a control character",
            param=param,
        )


_URL_UNSAFE = frozenset("/?#%\\")


def check_gemini_model(name: str) -> None:
    """A model name sent to a Gemini target, where it becomes a URL path segment
    (`/models/{name}:generateContent`): no `/ ? # % \\`, which would leave the segment.
    It is also percent-encoded there (providers/gemini.py)."""
    if not _URL_UNSAFE.isdisjoint(name):
        raise InvalidRequest(
            "model: a Gemini model name may not contain '/', '?', '#', '%' or '\\'",
            param="model",
        )


def is_int(value: Any) -> bool:
    return type(value) is int


def is_number(value: Any) -> bool:
    t = type(value)
    return t is int or t is float


def check_fields(
    payload: dict[str, Any], table: dict[str, tuple[Any, str]], where: str = ""
) -> None:
    """Each field of `payload` named in `table` (name → (test, expectation)) passes its
    test when present and not null; other fields are not looked at (forward compatible).
    A test is a type, a tuple of types, or a predicate."""
    for name, value in payload.items():
        rule = table.get(name)
        if rule is None or value is None:
            continue
        test, expected = rule
        if type(test) is type:
            ok = type(value) is test
        elif type(test) is tuple:
            ok = type(value) in test
        else:
            ok = test(value)
        if not ok:
            fail(where + name, expected, value)


def objects(items: list[Any], where: str, expected: str = "an object") -> None:
    """Every item of an array is an object."""
    for i, item in enumerate(items):
        if type(item) is not dict:
            fail(f"{where}[{i}]", expected, item)


def message_content(i: int, message: Any) -> Any:
    """`messages[i]` is an object with a string `role` (OpenAI and Anthropic alike); its
    `content`, for the dialect to check."""
    if type(message) is not dict:
        fail(f"messages[{i}]", "an object with 'role' and 'content'", message)
    role = message.get("role")
    if type(role) is not str:
        fail(f"messages[{i}].role", "a string", role)
    return message.get("content")
