"""The access log: one `failsoft.access` line per request, on every surface, with who
answered and how; never a query string or a header."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Callable, Iterator

import anthropic
import openai
import pytest

from failsoft.logfmt import parse
from failsoft.policy.breaker import State
from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from tests.conftest import CALLER_KEY, PROVIDER_KEY
from tests.helpers import anthropic_chat, chat, request

HI = [{"role": "user", "content": "hello"}]


class Lines(logging.Handler):
    """Every `failsoft.access` and `failsoft.refusal` record, and a way to wait for one
    written by the gateway's thread after the caller already has its answer."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.changed = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        with self.changed:
            self.records.append(record)
            self.changed.notify_all()

    def of(self, name: str) -> list[dict[str, str]]:
        with self.changed:
            return [parse(r.getMessage()) for r in self.records if r.name == name]

    @property
    def access(self) -> list[dict[str, str]]:
        return self.of("failsoft.access")

    @property
    def refusals(self) -> list[dict[str, str]]:
        return self.of("failsoft.refusal")

    def wait_access(self, count: int) -> list[dict[str, str]]:
        with self.changed:
            self.changed.wait_for(lambda: len(self.access_records()) >= count, timeout=5)
        return self.access

    def access_records(self) -> list[logging.LogRecord]:
        return [r for r in self.records if r.name == "failsoft.access"]


@pytest.fixture
def lines(caplog: pytest.LogCaptureFixture) -> Iterator[Lines]:
    caplog.set_level(logging.INFO, logger="failsoft.access")
    caplog.set_level(logging.INFO, logger="failsoft.refusal")
    handler = Lines()
    root = logging.getLogger("failsoft")
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


@pytest.fixture
def oai(gateway: GatewayThread) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key=CALLER_KEY, max_retries=0) as c:
        yield c


def test_a_plain_request_writes_one_line(
    gateway: GatewayThread, oai: openai.OpenAI, lines: Lines
) -> None:
    raw = oai.chat.completions.with_raw_response.create(model="gpt", messages=HI)  # type: ignore[arg-type]
    answer = raw.parse()
    (line,) = lines.wait_access(1)
    assert line["rid"] == raw.headers["x-failsoft-request-id"]
    assert line["surface"] == "openai"
    assert line["method"] == "POST" and line["path"] == "/v1/chat/completions"
    assert line["model"] == "gpt"
    assert line["status"] == "200"
    assert line["attempts"] == "1"
    assert line["answered"] == "openai/gpt-4o"
    assert line["trail"] == raw.headers["x-failsoft-trail"] == "openai/gpt-4o:200"
    assert answer.usage is not None
    assert line["in"] == str(answer.usage.prompt_tokens)
    assert line["out"] == str(answer.usage.completion_tokens)
    assert line["stream"] == "false" and line["ttft_ms"] == "-"
    assert line["disconnect"] == "false" and line["broken"] == "false"
    assert float(line["ms"]) > 0
    assert line["refused"] == "-"


def test_a_streamed_request_writes_one_line_at_its_end(
    gateway: GatewayThread, lines: Lines
) -> None:
    with anthropic.Anthropic(base_url=gateway.url, api_key=CALLER_KEY, max_retries=0) as ant:
        with ant.messages.stream(model="claude", max_tokens=100, messages=HI) as stream:  # type: ignore[arg-type]
            final = stream.get_final_message()
    (line,) = lines.wait_access(1)
    assert line["surface"] == "anthropic" and line["path"] == "/v1/messages"
    assert line["stream"] == "true"
    assert line["answered"] == "anthropic/claude-opus-4-7"
    assert float(line["ttft_ms"]) <= float(line["ms"])
    assert line["in"] == str(final.usage.input_tokens)
    assert line["out"] == str(final.usage.output_tokens)


def test_a_failover_shows_both_targets(
    gateway: GatewayThread, oai: openai.OpenAI, sim: SimServer, lines: Lines
) -> None:
    sim.set_fault("gpt-4o", {"kind": "status", "status": 529, "count": 1})
    raw = oai.chat.completions.with_raw_response.create(model="gpt", messages=HI, stream=True)  # type: ignore[arg-type]
    for _ in raw.parse():
        pass
    (line,) = lines.wait_access(1)
    assert line["attempts"] == "2"
    assert line["trail"] == raw.headers["x-failsoft-trail"]
    assert line["trail"] == "openai/gpt-4o:529,openai/gpt-4o-mini:200"
    assert line["answered"] == "openai/gpt-4o-mini"
    assert line["status"] == "200" and line["stream"] == "true"
    assert sim.attempts("gpt-4o") == 1 and sim.attempts("gpt-4o-mini") == 1


def test_a_broken_stream_is_marked_broken(
    gateway: GatewayThread, oai: openai.OpenAI, sim: SimServer, lines: Lines
) -> None:
    sim.set_fault("gpt-4o", {"kind": "cut", "after": 2, "stream": True})
    with pytest.raises(openai.APIError):
        for _ in oai.chat.completions.create(model="gpt-one", messages=HI, stream=True):  # type: ignore[call-overload]
            pass
    (line,) = lines.wait_access(1)
    assert line["status"] == "200"  # committed before it broke
    assert line["broken"] == "true"
    assert line["disconnect"] == "false"


def test_a_client_disconnect_is_logged_once(
    gateway: GatewayThread, sim: SimServer, lines: Lines
) -> None:
    sim.set_model("gpt-4o", chunk_delay=0.05, answer_words=200)
    body = json.dumps(chat("gpt", "long please", stream=True)).encode()
    try:
        sock = socket.create_connection(("127.0.0.1", gateway.port), timeout=5)
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        assert b"200 OK" in sock.recv(65536)
        sock.close()
        (line,) = lines.wait_access(1)
    finally:
        sim.set_model("gpt-4o", chunk_delay=0.0, answer_words=12)
    assert line["disconnect"] == "true"
    assert line["stream"] == "true" and line["status"] == "200"
    assert line["model"] == "gpt"


def test_query_strings_and_headers_never_reach_the_log(
    gateway: GatewayThread, lines: Lines, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "AIzaSySECRET-query-key-0123"
    url = gateway.url + "/v1beta/models/nope:generateContent?key=" + secret
    resp = request(url, body=chat("x"), headers={"x-goog-api-key": "hdr-" + secret})
    assert resp.status in (200, 400, 404)
    resp = request(
        gateway.url + "/v1/chat/completions?key=" + secret,
        body=chat("gpt"),
        headers={"authorization": "Bearer " + secret},
    )
    assert resp.status == 200
    logged = lines.wait_access(2)
    assert [line["path"] for line in logged] == [
        "/v1beta/models/nope:generateContent",
        "/v1/chat/completions",
    ]
    assert logged[0]["surface"] == "gemini"
    every = "\n".join(r.getMessage() for r in lines.records) + caplog.text
    assert secret not in every and CALLER_KEY not in every and PROVIDER_KEY not in every


def test_every_route_is_logged(gateway: GatewayThread, lines: Lines) -> None:
    assert request(gateway.url + "/v1/models", method="GET").status == 200
    assert request(gateway.url + "/healthz", method="GET").status == 200
    assert request(gateway.url + "/metrics", method="GET").status == 200
    assert request(gateway.url + "/nowhere", method="GET").status == 404
    logged = lines.wait_access(4)
    assert [(x["surface"], x["status"]) for x in logged] == [
        ("models", "200"),
        ("health", "200"),
        ("metrics", "200"),
        ("unknown", "404"),
    ]
    assert logged[-1]["refused"] == "unknown_route"


def test_a_control_character_in_a_path_cannot_forge_a_line(
    gateway: GatewayThread, lines: Lines
) -> None:
    assert request(gateway.url + "/x%0Arid=forged%20status=200", method="GET").status == 404
    (line,) = lines.wait_access(1)
    record = lines.access_records()[0].getMessage()
    assert "\n" not in record
    assert line["path"] == "/x\nrid=forged status=200"
    assert line["rid"] == "-" and line["status"] == "404"


# ----------------------------------------------------------------------------- refusals


def test_an_unknown_model_is_refused_in_the_log_rate_limited(
    gateway: GatewayThread, oai: openai.OpenAI, lines: Lines
) -> None:
    for _ in range(6):
        with pytest.raises(openai.NotFoundError):
            oai.chat.completions.create(model="no-such-model", messages=HI)  # type: ignore[arg-type]
    assert len(lines.wait_access(6)) == 6
    assert {line["refused"] for line in lines.access} == {"unknown_model"}
    refused = [r for r in lines.refusals if r.get("subject") == "no-such-model"]
    assert len(refused) == 3  # per (kind, key) and minute
    assert refused[0]["refused"] == "unknown_model" and refused[0]["status"] == "404"
    assert refused[0]["rid"].startswith("fs_")
    assert next(r for r in lines.records if r.name == "failsoft.refusal").levelno == logging.WARNING


def test_malformed_and_untranslatable_requests_are_refused_in_the_log(
    gateway: GatewayThread, oai: openai.OpenAI, lines: Lines
) -> None:
    assert request(gateway.url + "/v1/chat/completions", body=b"{not json").status == 400
    with pytest.raises(openai.BadRequestError):
        oai.chat.completions.create(model="claude-one", messages=HI, n=2)  # type: ignore[arg-type]
    kinds = [(r["refused"], r.get("status")) for r in lines.refusals if "refused" in r]
    assert ("malformed", "400") in kinds and ("untranslatable", "400") in kinds
    untranslatable = next(r for r in lines.refusals if r.get("refused") == "untranslatable")
    assert untranslatable["subject"] == "claude-one"
    assert "anthropic/claude-opus-4-7" in untranslatable["reason"]
    skipped = [r for r in lines.refusals if r.get("skipped") == "untranslatable"]
    assert skipped and skipped[0]["target"] == "anthropic/claude-opus-4-7"


def test_a_breaker_open_skip_is_logged(
    gateway: GatewayThread, oai: openai.OpenAI, lines: Lines
) -> None:
    target = gateway.runtime.config.models["gpt"].targets[0]
    gateway.runtime.router.state.breakers[target].force(State.OPEN, 30)
    raw = oai.chat.completions.with_raw_response.create(model="gpt", messages=HI)  # type: ignore[arg-type]
    assert raw.headers["x-failsoft-trail"] == "openai/gpt-4o:open,openai/gpt-4o-mini:200"
    (skip,) = [r for r in lines.refusals if r.get("skipped") == "open"]
    assert skip["target"] == "openai/gpt-4o" and "breaker open" in skip["reason"]
    (line,) = lines.wait_access(1)
    assert line["attempts"] == "1" and line["trail"] == raw.headers["x-failsoft-trail"]


def test_a_shed_request_is_refused_in_the_log(
    make_gateway: Callable[[str], GatewayThread], sim: SimServer, lines: Lines
) -> None:
    gw = make_gateway("admission: {max_in_flight: 1}")
    sim.set_model("gpt-4o", chunk_delay=0.05, answer_words=100)
    try:
        with openai.OpenAI(base_url=gw.url + "/v1", api_key=CALLER_KEY, max_retries=0) as c:
            with c.chat.completions.create(model="gpt-one", messages=HI, stream=True) as held:  # type: ignore[call-overload]
                next(iter(held))
                with pytest.raises(openai.InternalServerError):
                    c.chat.completions.create(model="gpt-one", messages=HI)  # type: ignore[arg-type]
    finally:
        sim.set_model("gpt-4o", chunk_delay=0.0, answer_words=12)
    (shed,) = [r for r in lines.refusals if r.get("refused") == "shed"]
    assert shed["status"] == "503"


# ----------------------------------------------------------------------------- config


def test_the_log_can_be_turned_off(
    make_gateway: Callable[[str], GatewayThread], lines: Lines
) -> None:
    gw = make_gateway("log: {access: false}")
    assert request(gw.url + "/v1/chat/completions", body=chat("gpt")).status == 200
    assert lines.access == []
    metrics = request(gw.url + "/metrics", method="GET").body.decode()
    assert 'failsoft_http_requests_total{class="2xx",surface="openai"} 1.0' in metrics


def test_json_lines(make_gateway: Callable[[str], GatewayThread], lines: Lines) -> None:
    gw = make_gateway("log: {access_format: json}")
    resp = request(gw.url + "/v1/messages", body=anthropic_chat("claude"))
    assert resp.status == 200
    lines.wait_access(1)
    (record,) = lines.access_records()
    line = json.loads(record.getMessage())
    assert line["surface"] == "anthropic" and line["status"] == 200
    assert line["trail"] == resp.headers["x-failsoft-trail"]
    assert line["stream"] is False and line["ttft_ms"] is None
    assert isinstance(line["in"], int) and isinstance(line["out"], int)


# ----------------------------------------------------------------------------- unknown routes


@pytest.mark.parametrize(
    ("path", "shape"),
    [
        ("/v1/messages/batches/x", "anthropic"),
        ("/v1beta/models/x:embedContent", "google"),
        ("/v1/embeddings", "openai"),
        ("/nowhere", "openai"),
    ],
)
def test_an_unknown_route_is_a_404_in_the_callers_dialect(
    gateway: GatewayThread, path: str, shape: str
) -> None:
    resp = request(gateway.url + path + "?key=abc", body=chat("gpt"))
    assert resp.status == 404
    assert resp.headers["x-should-retry"] == "false"
    error = resp.json()["error"]
    assert "abc" not in error["message"]
    if shape == "anthropic":
        assert resp.json()["type"] == "error" and error["type"] == "not_found_error"
    elif shape == "google":
        assert error["code"] == 404 and error["status"] == "NOT_FOUND"
    else:
        assert error["type"] == "invalid_request_error"


def test_a_wrong_method_is_a_405_that_is_not_retried(gateway: GatewayThread) -> None:
    resp = request(gateway.url + "/v1/messages", method="GET")
    assert resp.status == 405
    assert resp.headers["x-should-retry"] == "false"
    assert resp.headers["allow"] == "POST"
    assert resp.json()["error"]["type"] == "invalid_request_error"


def test_the_sdks_do_not_retry_an_unknown_route(gateway: GatewayThread, lines: Lines) -> None:
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key=CALLER_KEY) as client:
        with pytest.raises(openai.NotFoundError):
            client.with_options(max_retries=2).get("/no-such-thing", cast_to=object)
        with pytest.raises(openai.APIStatusError) as caught:
            client.with_options(max_retries=2).get("/chat/completions", cast_to=object)
        assert caught.value.status_code == 405
    with anthropic.Anthropic(base_url=gateway.url, api_key=CALLER_KEY) as ant:
        with pytest.raises(anthropic.NotFoundError) as found:
            ant.with_options(max_retries=2).get("/v1/messages/nope", cast_to=object)
        assert found.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
    logged = lines.wait_access(3)
    assert [(x["path"], x["status"]) for x in logged] == [
        ("/v1/no-such-thing", "404"),
        ("/v1/chat/completions", "405"),
        ("/v1/messages/nope", "404"),
    ]


# ----------------------------------------------------------------------------- metrics


def _metrics(gw: GatewayThread) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client.parser import text_string_to_metric_families

    text = request(gw.url + "/metrics", method="GET").body.decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_requests_are_counted_by_surface(
    make_gateway: Callable[[str], GatewayThread], sim: SimServer
) -> None:
    gw = make_gateway("")
    assert request(gw.url + "/v1/chat/completions", body=chat("gpt")).status == 200
    assert request(gw.url + "/v1/chat/completions", body=chat("nope")).status == 404
    assert request(gw.url + "/v1/messages", body=anthropic_chat("claude")).status == 200
    assert request(gw.url + "/v1/responses", body={"model": "gpt", "input": "hi"}).status == 200
    assert request(gw.url + "/v1beta/models/m:generateContent?key=k", body={}).status in (
        200,
        400,
        404,
    )
    assert request(gw.url + "/a/model/name/from/a/caller", method="GET").status == 404
    found = _metrics(gw)

    def count(surface: str, klass: str) -> float:
        key = (("class", klass), ("surface", surface))
        return found.get(("failsoft_http_requests_total", key), 0)

    assert count("openai", "2xx") == 1 and count("openai", "4xx") == 1
    assert count("anthropic", "2xx") == 1
    assert count("responses", "2xx") == 1
    assert count("gemini", "2xx") + count("gemini", "4xx") == 1
    assert count("unknown", "4xx") == 1
    surfaces = {dict(labels)["surface"] for (_, labels) in found if "surface" in dict(labels)}
    assert surfaces <= {"openai", "anthropic", "responses", "gemini", "unknown", "metrics"}
    histogram = ("failsoft_http_request_duration_seconds_count", (("surface", "openai"),))
    assert found[histogram] == 2


def test_a_cached_answer_shows_its_cache_rung(
    make_gateway: Callable[[str], GatewayThread], sim: SimServer, lines: Lines
) -> None:
    gw = make_gateway("cache: {ttl: 60, backend: memory}")
    first = request(gw.url + "/v1/chat/completions", body=chat("gpt-one", "cache me"))
    second = request(gw.url + "/v1/chat/completions", body=chat("gpt-one", "cache me"))
    assert (first.status, second.status) == (200, 200)
    miss, hit = lines.wait_access(2)
    assert (miss["cache"], miss["rung"]) == ("MISS", "targets")
    assert hit["cache"] == "HIT" and hit["cache"] == second.headers["x-failsoft-cache"]
    assert hit["rung"] == second.headers["x-failsoft-rung"]
    assert sim.attempts("gpt-4o") == 1


def test_a_refusal_never_quotes_a_header_the_caller_sent(
    gateway: GatewayThread, lines: Lines, caplog: pytest.LogCaptureFixture
) -> None:
    url = gateway.url + "/v1/chat/completions"
    body = json.dumps(chat("gpt"))
    resp = request(url, body=body, headers={"content-type": "text/plain; sk-secret-in-ctype"})
    assert resp.status == 415 and "sk-secret-in-ctype" in resp.body.decode()
    headers = {"content-type": "application/json", "x-failsoft-timeout": "sk-secret-timeout"}
    assert request(url, body=body, headers=headers).status == 400
    kinds = [r["refused"] for r in lines.refusals]
    assert kinds == ["media_type", "malformed"]
    assert lines.refusals[0]["reason"] == "expected content-type application/json"
    assert "sk-secret" not in caplog.text
