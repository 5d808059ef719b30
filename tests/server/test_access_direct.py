"""The access line written straight to failsoft's own stderr handler (no `LogRecord`) is
the line the logging module would have written, in every format combination, and it
reaches the stream by the end of the loop iteration and before any later record."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from failsoft.config.log import LogConfig
from failsoft.logjson import TEXT_FORMAT, JsonFormatter, _Handler, direct
from failsoft.server.access import AccessLog, access_log
from failsoft.server.refusals import RefusalLog


@contextmanager
def alone(handler: _Handler) -> Iterator[None]:
    """`handler` alone on the root logger, as `setup_logging` leaves it (pytest adds its
    own handlers when a test begins: they are put back after)."""
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    access_level = access_log.level
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    access_log.setLevel(logging.NOTSET)
    try:
        yield
    finally:
        root.handlers[:] = saved
        root.setLevel(level)
        access_log.setLevel(access_level)


@pytest.fixture
def handler() -> _Handler:
    return _Handler(io.StringIO())


def _written(handler: _Handler, config: LogConfig, fast: bool) -> str:
    """One request's access line, through the direct path or (`fast` False, a filter on
    the handler) through the logging module."""
    stream = io.StringIO()
    handler.setStream(stream)
    passes = logging.Filter()
    if not fast:
        handler.addFilter(passes)
    with alone(handler):
        assert (direct(access_log) is handler) is fast

        async def one() -> None:
            log = AccessLog(config, RefusalLog())
            scope = {"type": "http", "method": "POST", "path": '/v1/chat/"x"\n'}

            async def send(message: object) -> None:
                pass

            exchange = log.begin(scope, send)
            exchange.model = "gpt \u00e9=1"
            exchange.caller = "team-a"
            headers = [
                (b"x-failsoft-request-id", b"fs_0123"),
                (b"x-failsoft-attempts", b"2"),
                (b"x-failsoft-trail", b"a/m:503,b/n:200"),
                (b"x-failsoft-provider", b"b"),
                (b"x-failsoft-model", b"n"),
            ]
            await exchange({"type": "http.response.start", "status": 200, "headers": headers})
            body = b'{"usage": {"prompt_tokens": 7, "completion_tokens": 3}}'
            await exchange({"type": "http.response.body", "body": body, "more_body": False})

        asyncio.run(one())
    handler.removeFilter(passes)
    return stream.getvalue()


@pytest.mark.parametrize("log_format", ["text", "json"])
@pytest.mark.parametrize("access_format", ["text", "json"])
def test_the_direct_line_is_the_logged_line(
    handler: _Handler, log_format: str, access_format: str
) -> None:
    formatter = JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    handler.setFormatter(formatter)
    config = LogConfig(access_format=access_format, format=log_format)  # type: ignore[arg-type]
    fast, slow = _written(handler, config, True), _written(handler, config, False)
    assert fast.count("\n") == slow.count("\n") == 1
    assert fast.endswith("\n")
    if log_format == "json":
        quick, logged = json.loads(fast), json.loads(slow)
        assert len(quick.pop("time")) == len(logged.pop("time")) == len("2026-01-02T03:04:05.678Z")
        assert _no_ms(json.dumps(quick)) == _no_ms(json.dumps(logged))
    else:
        # `2026-01-02 03:04:05,678 ` then the same line but for the duration.
        assert fast[23] == slow[23] == " "
        assert fast[:4] == slow[:4]
        assert _no_ms(fast[24:]) == _no_ms(slow[24:])


def _no_ms(line: str) -> str:
    """The line with its duration (which differs from one request to the next) blanked."""
    return re.sub(r'(\bms\\?"?[=:] ?)[0-9.]+', r"\1_", line)


def test_other_handlers_get_records(handler: _Handler) -> None:
    root = logging.getLogger()
    with alone(handler):
        root.addHandler(logging.NullHandler())
        assert direct(access_log) is None
        root.removeHandler(root.handlers[-1])
        handler.setFormatter(logging.Formatter("%(message)s"))
        assert direct(access_log) is handler
        assert handler.direct_format() is None  # someone else's formatter: records


def test_pending_lines_go_out_before_the_next_record(handler: _Handler) -> None:
    stream = io.StringIO()
    handler.setStream(stream)
    handler.setFormatter(logging.Formatter(TEXT_FORMAT))

    async def both() -> str:
        handler.write_soon("first\n")
        logging.getLogger("failsoft.test").warning("second")
        written = stream.getvalue()
        handler.write_soon("third\n")
        await asyncio.sleep(0)
        return written

    with alone(handler):
        written = asyncio.run(both())
    assert written.startswith("first\n") and written.rstrip().endswith("second")
    assert stream.getvalue().endswith("third\n")


def test_a_line_handed_its_loop_waits_for_the_iteration_end(handler: _Handler) -> None:
    """A caller that knows its loop (the connection's, `Exchange.finish`) hands it over
    instead of having it looked up: its line goes out at the same moment, in order."""
    stream = io.StringIO()
    handler.setStream(stream)

    async def both() -> tuple[str, str]:
        handler.write_soon("first\n", asyncio.get_running_loop())
        handler.write_soon("second\n")
        before = stream.getvalue()
        await asyncio.sleep(0)
        return before, stream.getvalue()

    with alone(handler):
        assert asyncio.run(both()) == ("", "first\nsecond\n")
        handler.write_soon("outside\n")  # no loop: at once
        assert stream.getvalue().endswith("second\noutside\n")
