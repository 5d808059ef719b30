"""The access line's token counts on every path: handed over by the router where it
parsed or built the answer (no scan of the body), scanned from the body where nothing
hands them over (a stored answer, a stream, an error), and the same numbers either way:
what `usage_in` reads from the bytes the caller received."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from failsoft.config import parse_config
from failsoft.logfmt import parse, usage_in
from failsoft.serve import GatewayThread
from failsoft.server import access
from failsoft.sim import SimServer
from tests.conftest import PROVIDER_KEY
from tests.helpers import RawResponse, anthropic_chat, chat, request

CONFIG = """
providers:
  oai: {{dialect: openai, base_url: "{sim}/v1", api_key: "{key}"}}
  plain: {{dialect: openai, base_url: "{sim}/v1", api_key: "{key}", always_stream: false}}
  ant: {{dialect: anthropic, base_url: "{sim}", api_key: "{key}"}}
  antplain: {{dialect: anthropic, base_url: "{sim}", api_key: "{key}", always_stream: false}}
  gem: {{dialect: gemini, base_url: "{sim}", api_key: "{key}"}}
  resp: {{dialect: openai, api: responses, base_url: "{sim}/v1", api_key: "{key}"}}
models:
  gpt: [oai/gpt-4o]
  gpt-plain: [plain/gpt-4o]
  claude: [ant/claude-sonnet-4-5]
  claude-plain: [antplain/claude-sonnet-4-5]
  gemini: [gem/gemini-2.5-flash]
  responses: [resp/gpt-4.1]
  cached: [oai/gpt-4o-mini]
deadlines: {{connect: 1, first_token: 2, idle: 2, total: 8}}
retry: {{max_attempts: 1}}
resume: {{enabled: false}}
{extra}
"""


class Lines(logging.Handler):
    """The `failsoft.access` lines, and a wait for one written after the caller has its
    answer (the gateway's thread writes it)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[dict[str, str]] = []
        self.changed = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == "failsoft.access":
            with self.changed:
                self.lines.append(parse(record.getMessage()))
                self.changed.notify_all()

    def wait(self, count: int) -> list[dict[str, str]]:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.lines) >= count, timeout=10)
            return list(self.lines)


@pytest.fixture
def lines(caplog: pytest.LogCaptureFixture) -> Iterator[Lines]:
    caplog.set_level(logging.INFO, logger="failsoft.access")
    handler = Lines()
    logger = logging.getLogger("failsoft")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


@pytest.fixture
def scans(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every body the access line scanned for its token counts."""
    seen: list[bytes] = []

    def counting(body: bytes) -> tuple[int | None, int | None]:
        seen.append(body)
        return usage_in(body)

    monkeypatch.setattr(access, "usage_in", counting)
    return seen


@pytest.fixture
def gw(sim: SimServer, make_gateway: Callable[..., GatewayThread]) -> GatewayThread:
    return make_gateway(config=parse_config(CONFIG.format(sim=sim.url, key=PROVIDER_KEY, extra="")))


def _counts(line: dict[str, str]) -> tuple[str, str]:
    return line["in"], line["out"]


def _scanned(body: bytes) -> tuple[str, str]:
    """What the scan reads from `body`, as the line writes it."""
    found_in, found_out = usage_in(body)
    return (
        "-" if found_in is None else str(found_in),
        "-" if found_out is None else str(found_out),
    )


def _post(gw: GatewayThread, path: str, body: dict[str, Any]) -> RawResponse:
    resp = request(gw.url + path, body=body)
    assert resp.status == 200, resp.body
    return resp


CASES = [
    ("/v1/chat/completions", chat("gpt"), ("prompt_tokens", "completion_tokens"), "usage"),
    ("/v1/chat/completions", chat("gpt-plain"), ("prompt_tokens", "completion_tokens"), "usage"),
    ("/v1/chat/completions", chat("claude"), ("prompt_tokens", "completion_tokens"), "usage"),
    ("/v1/chat/completions", chat("gemini"), ("prompt_tokens", "completion_tokens"), "usage"),
    ("/v1/chat/completions", chat("responses"), ("prompt_tokens", "completion_tokens"), "usage"),
    ("/v1/messages", anthropic_chat("claude"), ("input_tokens", "output_tokens"), "usage"),
    ("/v1/messages", anthropic_chat("claude-plain"), ("input_tokens", "output_tokens"), "usage"),
    ("/v1/messages", anthropic_chat("gpt"), ("input_tokens", "output_tokens"), "usage"),
    ("/v1/messages", anthropic_chat("gpt-plain"), ("input_tokens", "output_tokens"), "usage"),
    (
        "/v1/responses",
        {"model": "gpt", "input": "hello"},
        ("input_tokens", "output_tokens"),
        "usage",
    ),
    (
        "/v1/responses",
        {"model": "responses", "input": "hello"},
        ("input_tokens", "output_tokens"),
        "usage",
    ),
    (
        "/v1beta/models/gemini:generateContent",
        {"contents": [{"role": "user", "parts": [{"text": "hello"}]}]},
        ("promptTokenCount", "candidatesTokenCount"),
        "usageMetadata",
    ),
    (
        "/v1beta/models/gpt:generateContent",
        {"contents": [{"role": "user", "parts": [{"text": "hello"}]}]},
        ("promptTokenCount", "candidatesTokenCount"),
        "usageMetadata",
    ),
]


@pytest.mark.parametrize(("path", "body", "names", "key"), CASES)
def test_a_routed_answer_hands_its_counts_over_unscanned(
    gw: GatewayThread,
    lines: Lines,
    scans: list[bytes],
    path: str,
    body: dict[str, Any],
    names: tuple[str, str],
    key: str,
) -> None:
    resp = _post(gw, path, body)
    (line,) = lines.wait(1)
    usage = resp.json()[key]
    assert _counts(line) == (str(usage[names[0]]), str(usage[names[1]]))
    assert _counts(line) == _scanned(resp.body)
    assert resp.body not in scans  # read off the router's answer, not the bytes


def test_a_stored_answer_is_scanned_and_logs_the_same_counts(
    sim: SimServer, make_gateway: Callable[..., GatewayThread], lines: Lines, scans: list[bytes]
) -> None:
    config = CONFIG.format(sim=sim.url, key=PROVIDER_KEY, extra="cache: {ttl: 60, backend: memory}")
    gw = make_gateway(config=parse_config(config))
    miss = _post(gw, "/v1/chat/completions", chat("cached", "keep me"))
    hit = _post(gw, "/v1/chat/completions", chat("cached", "keep me"))
    assert hit.headers["x-failsoft-cache"] == "HIT"
    first, second = lines.wait(2)
    assert _counts(first) == _counts(second) == _scanned(hit.body) == _scanned(miss.body)
    assert first["in"] != "-" and first["out"] != "-"
    assert scans == [hit.body]  # the miss was handed over, the stored answer scanned


def test_a_stream_is_scanned(gw: GatewayThread, lines: Lines, scans: list[bytes]) -> None:
    body = chat("gpt", stream=True, stream_options={"include_usage": True})
    resp = _post(gw, "/v1/chat/completions", body)
    (line,) = lines.wait(1)
    assert _counts(line) == _scanned(resp.body)
    assert line["in"] != "-" and scans


def test_an_error_logs_no_counts(gw: GatewayThread, sim: SimServer, lines: Lines) -> None:
    sim.set_fault("gpt-4o", {"kind": "status", "status": 500})
    failed = request(gw.url + "/v1/chat/completions", body=chat("gpt"))
    unknown = request(gw.url + "/v1/chat/completions", body=chat("nobody"))
    assert failed.status >= 500 and unknown.status == 404
    for line in lines.wait(2):
        assert _counts(line) == ("-", "-")
