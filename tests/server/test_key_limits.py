"""Per-key limits through the real SDKs against gateway + simulator: a key over its rpm,
tpm or concurrency gets a retryable 429 in its own dialect with the rate-limit headers;
the SDKs retry it by themselves and get their answer; tokens are counted from the real
usage of the answers, streamed or not; a long stream holds its slot until it ends or its
caller leaves; the refusal shows in the access line, the refusal log and /metrics."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import anthropic
import openai
import pytest
from google import genai
from google.genai import errors, types

from failsoft.auth import limits
from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from tests.helpers import request
from tests.server.test_access_log import Lines

RPM = "rpm-" + "a1" * 20
TPM = "tpm-" + "b2" * 20
CONC = "conc-" + "c3" * 20
FREE = "free-" + "d4" * 20

AUTH = f"""
auth:
  keys:
    - {{name: rpm-key, key: "{RPM}", limits: {{rpm: 1}}}}
    - {{name: tpm-key, key: "{TPM}", limits: {{tpm: 1000}}}}
    - {{name: conc-key, key: "{CONC}", limits: {{concurrency: 1}}}}
    - {{name: free, key: "{FREE}"}}
"""
HI = [{"role": "user", "content": "hello"}]


@pytest.fixture
def gw(make_gateway: Callable[[str], GatewayThread]) -> GatewayThread:
    return make_gateway(AUTH)


@pytest.fixture
def clients(gw: GatewayThread) -> Iterator[Callable[..., openai.OpenAI]]:
    made: list[openai.OpenAI | anthropic.Anthropic] = []

    def oai(key: str, retries: int = 0) -> openai.OpenAI:
        client = openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=retries)
        made.append(client)
        return client

    yield oai
    for c in made:
        c.close()


def ant(gw: GatewayThread, key: str, retries: int = 0) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key=key, max_retries=retries)


def test_rpm_429_in_each_dialect_with_the_headers(
    gw: GatewayThread, sim: SimServer, clients: Callable[..., openai.OpenAI]
) -> None:
    raw = clients(RPM).chat.completions.with_raw_response.create(model="gpt", messages=HI)  # type: ignore[arg-type]
    assert raw.parse().choices[0].message.content
    assert raw.headers["x-ratelimit-limit-requests"] == "1"
    assert raw.headers["x-ratelimit-remaining-requests"] == "0"
    assert raw.headers["x-ratelimit-reset-requests"].endswith("s")
    assert raw.headers["anthropic-ratelimit-requests-limit"] == "1"

    with pytest.raises(openai.RateLimitError) as o:
        clients(RPM).chat.completions.create(model="gpt", messages=HI)  # type: ignore[arg-type]
    assert o.value.status_code == 429
    assert o.value.code == "rate_limit_exceeded"
    assert o.value.type == "rate_limit_exceeded"
    headers = o.value.response.headers
    assert int(headers["retry-after"]) >= 1
    assert headers["x-should-retry"] == "true"
    assert headers["x-ratelimit-limit-requests"] == "1"
    assert headers["x-ratelimit-remaining-requests"] == "0"
    reset = headers["x-ratelimit-reset-requests"]
    assert reset.endswith("s") and reset[0].isdigit()
    assert headers["anthropic-ratelimit-requests-remaining"] == "0"
    assert headers["anthropic-ratelimit-requests-reset"].endswith("Z")
    assert RPM not in o.value.message

    with ant(gw, RPM) as client, pytest.raises(anthropic.RateLimitError) as a:
        client.messages.create(model="claude", max_tokens=50, messages=HI)  # type: ignore[arg-type]
    assert a.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
    assert int(a.value.response.headers["retry-after"]) >= 1

    options = types.HttpOptions(base_url=gw.url, timeout=10_000)
    with (
        genai.Client(api_key=RPM, http_options=options) as g_client,
        pytest.raises(errors.ClientError) as g,
    ):
        g_client.models.generate_content(model="gpt", contents="hello")
    assert g.value.code == 429
    assert g.value.status == "RESOURCE_EXHAUSTED"
    assert len(sim.requests()) == 1  # refusals never reach upstream

    # Another key, and a key without limits, are not affected; nor is the model list.
    assert clients(FREE).chat.completions.create(model="gpt", messages=HI)  # type: ignore[arg-type]
    assert (
        request(gw.url + "/v1/models", "GET", headers={"authorization": f"Bearer {RPM}"}).status
        == 200
    )
    metrics = request(gw.url + "/metrics", "GET").body.decode()
    assert 'failsoft_key_limited_total{key="rpm-key",limit="rpm"} 3.0' in metrics
    assert RPM not in metrics


def test_a_key_without_limits_gets_no_rate_limit_headers(
    gw: GatewayThread, sim: SimServer, clients: Callable[..., openai.OpenAI]
) -> None:
    raw = clients(FREE).chat.completions.with_raw_response.create(model="gpt", messages=HI)  # type: ignore[arg-type]
    assert "x-ratelimit-limit-requests" not in raw.headers


def test_the_refusal_is_in_the_access_line_and_the_refusal_log(
    gw: GatewayThread, sim: SimServer, lines: Lines
) -> None:
    body = {"model": "gpt", "messages": HI}
    auth = {"authorization": f"Bearer {RPM}"}
    assert request(gw.url + "/v1/chat/completions", body=body, headers=auth).status == 200
    assert request(gw.url + "/v1/chat/completions", body=body, headers=auth).status == 429
    found = lines.wait_access(2)
    assert found[-1]["refused"] == "rate_limited"
    assert found[-1]["status"] == "429"
    assert found[-1]["key"] == "rpm-key"
    refusal = lines.refusals[-1]
    assert refusal["refused"] == "rate_limited"
    assert refusal["subject"] == "rpm-key"
    assert RPM not in str(lines.records)


@pytest.fixture
def lines(caplog: pytest.LogCaptureFixture) -> Iterator[Lines]:
    import logging

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
def short(monkeypatch: pytest.MonkeyPatch) -> None:
    """A two-second window, so a refused SDK retries within seconds."""
    monkeypatch.setattr(limits, "WINDOW", 2.0)


def test_the_sdks_retry_a_limit_refusal_and_then_succeed(
    short: None, make_gateway: Callable[[str], GatewayThread], sim: SimServer
) -> None:
    gw = make_gateway(AUTH)
    with openai.OpenAI(base_url=gw.url + "/v1", api_key=RPM, max_retries=4) as client:
        first = client.chat.completions.create(model="gpt", messages=HI)  # type: ignore[arg-type]
        second = client.chat.completions.create(model="gpt", messages=HI)  # type: ignore[arg-type]
    assert first.choices[0].message.content and second.choices[0].message.content
    with ant(gw, RPM, retries=4) as a_client:
        message = a_client.messages.create(model="claude", max_tokens=50, messages=HI)  # type: ignore[arg-type]
    assert message.content
    metrics = request(gw.url + "/metrics", "GET").body.decode()
    line = next(m for m in metrics.splitlines() if m.startswith("failsoft_key_limited_total{"))
    assert float(line.rsplit(" ", 1)[1]) >= 2  # each SDK met a 429 and retried it
    assert len(sim.requests()) == 3


def _call(client: openai.OpenAI) -> tuple[int, int]:
    """The tokens the answer's headers say are left (before its own charge), and its usage."""
    raw = client.chat.completions.with_raw_response.create(model="gpt", messages=HI)  # type: ignore[arg-type]
    usage = raw.parse().usage
    assert usage is not None
    return int(raw.headers["x-ratelimit-remaining-tokens"]), usage.total_tokens


def test_tpm_counts_the_real_usage_of_answers(
    gw: GatewayThread, sim: SimServer, clients: Callable[..., openai.OpenAI]
) -> None:
    client = clients(TPM)
    spent = 0
    for _ in range(2):
        left, used = _call(client)
        assert used > 0
        assert left == 1000 - spent
        spent += used
    # A stream with include_usage is charged from its final usage chunk.
    stream = client.chat.completions.create(
        model="gpt",
        messages=HI,  # type: ignore[arg-type]
        stream=True,
        stream_options={"include_usage": True},
    )
    usage = [c.usage for c in stream if c.usage is not None]
    assert len(usage) == 1
    spent += usage[0].total_tokens
    left, used = _call(client)
    assert left == 1000 - spent
    spent += used
    # The anthropic surface (usage split over message_start and message_delta) alike.
    with ant(gw, TPM) as a_client:
        with a_client.messages.stream(model="claude", max_tokens=50, messages=HI) as s:  # type: ignore[arg-type]
            final = s.get_final_message()
    spent += final.usage.input_tokens + final.usage.output_tokens
    left, _ = _call(client)
    assert left == 1000 - spent


def test_a_key_over_its_tpm_is_refused_until_the_window_frees(
    short: None, make_gateway: Callable[[str], GatewayThread], sim: SimServer
) -> None:
    gw = make_gateway(AUTH.replace("tpm: 1000", "tpm: 5"))
    with openai.OpenAI(base_url=gw.url + "/v1", api_key=TPM, max_retries=0) as client:
        answer = client.chat.completions.create(model="gpt", messages=HI)  # type: ignore[arg-type]
        assert answer.usage is not None and answer.usage.total_tokens > 5  # overshoot allowed
        with pytest.raises(openai.RateLimitError) as o:
            client.chat.completions.create(model="gpt", messages=HI)  # type: ignore[arg-type]
        headers = o.value.response.headers
        assert headers["x-failsoft-limit"] == "tpm"
        assert headers["x-ratelimit-limit-tokens"] == "5"
        assert headers["x-ratelimit-remaining-tokens"] == "0"
        assert int(headers["retry-after"]) >= 1
    with openai.OpenAI(base_url=gw.url + "/v1", api_key=TPM, max_retries=4) as client:
        assert client.chat.completions.create(model="gpt", messages=HI)  # type: ignore[arg-type]


def _poll(check: Callable[[], bool], within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return False


def test_a_long_stream_holds_its_slot_until_its_caller_leaves(
    gw: GatewayThread, sim: SimServer, clients: Callable[..., openai.OpenAI]
) -> None:
    sim.set_model("gpt-4o", chunk_delay=0.05, answer_words=400)
    client = clients(CONC)
    stream = client.chat.completions.create(model="gpt", messages=HI, stream=True)  # type: ignore[arg-type]
    first = next(iter(stream))
    assert first is not None
    with pytest.raises(openai.RateLimitError) as o:
        client.chat.completions.create(model="gpt", messages=HI)  # type: ignore[arg-type]
    assert o.value.response.headers["x-failsoft-limit"] == "concurrency"
    with ant(gw, CONC) as a_client, pytest.raises(anthropic.RateLimitError):
        a_client.messages.create(model="claude", max_tokens=50, messages=HI)  # type: ignore[arg-type]
    stream.close()  # the caller leaves mid-stream: its slot comes back
    sim.set_model("gpt-4o", chunk_delay=0.0, answer_words=12)
    body = {"model": "gpt", "messages": HI}
    auth = {"authorization": f"Bearer {CONC}"}

    def admitted() -> bool:
        return request(gw.url + "/v1/chat/completions", body=body, headers=auth).status == 200

    assert _poll(admitted)


def test_a_stream_that_ends_gives_its_slot_back(
    gw: GatewayThread, sim: SimServer, clients: Callable[..., openai.OpenAI]
) -> None:
    client = clients(CONC)
    for _ in range(3):
        chunks = list(client.chat.completions.create(model="gpt", messages=HI, stream=True))  # type: ignore[arg-type]
        assert chunks
        assert client.chat.completions.create(model="gpt", messages=HI)  # type: ignore[arg-type]


def test_tokens_are_counted_with_the_access_log_off(
    make_gateway: Callable[[str], GatewayThread], sim: SimServer
) -> None:
    gw = make_gateway(AUTH + "log: {access: false}\n")
    with openai.OpenAI(base_url=gw.url + "/v1", api_key=TPM, max_retries=0) as client:
        left, used = _call(client)
        assert left == 1000
        left, _ = _call(client)
        assert left == 1000 - used
