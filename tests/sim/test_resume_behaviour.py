"""Asked to continue: the four ways `on_continue` makes a model pick up an earlier answer.

A gateway that resumes a broken stream asks the next model to continue the partial answer
A of the answer F, and must stitch whatever comes back onto A. Real models continue, start
over, restate the last sentence, or wander off; each is pinned here, in every dialect.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import anthropic
import openai
import pytest

from failsoft.sim import Scenario, SimServer, SpecError

from .helpers import GEMINI, GPT, MODEL, gemini_frames, gemini_path, gemini_text

TEXT = "Retries need jitter. They also need a budget! Why? Because storms hurt.\nBreakers help too."
Q = "Explain retries"
ASK = "Please continue"
DIALECTS = ["openai", "anthropic", "gemini"]
MODELS = {"openai": GPT, "anthropic": MODEL, "gemini": GEMINI}


def pieces_of(text: str) -> list[str]:
    first, *rest = text.split(" ")
    return [first, *(" " + word for word in rest)]


async def ask(
    sim: SimServer,
    dialect: str,
    turns: list[tuple[str, str]],
    aoai: openai.AsyncOpenAI,
    aant: anthropic.AsyncAnthropic,
) -> list[str]:
    """The streamed text pieces of the answer to `turns` ((role, text) pairs)."""
    if dialect == "openai":
        messages: Any = [{"role": role, "content": text} for role, text in turns]
        stream = await aoai.chat.completions.create(model=GPT, messages=messages, stream=True)
        return [c.choices[0].delta.content async for c in stream if c.choices[0].delta.content]
    if dialect == "anthropic":
        messages = [{"role": role, "content": text} for role, text in turns]
        async with aant.messages.stream(model=MODEL, max_tokens=200, messages=messages) as s:
            return [text async for text in s.text_stream]
    contents = [
        {"role": "model" if role == "assistant" else "user", "parts": [{"text": text}]}
        for role, text in turns
    ]
    async with (
        aiohttp.ClientSession() as http,
        http.post(sim.url + gemini_path(stream=True), json={"contents": contents}) as resp,
    ):
        assert resp.status == 200
        chunks = gemini_frames(await resp.read())
    return [text for chunk in chunks if (text := gemini_text(chunk))]


def conversation(said: str, ask_text: str = ASK) -> list[tuple[str, str]]:
    return [("user", Q), ("assistant", said), ("user", ask_text)]


@pytest.fixture
def fixed(sim: SimServer) -> None:
    """One answer for every model, so every dialect's continuation can be compared."""
    for model in MODELS.values():
        sim.set_model(model, answer=TEXT)


def set_mode(sim: SimServer, mode: str, **extra: Any) -> None:
    for model in MODELS.values():
        sim.set_model(model, on_continue=mode, **extra)


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_continue_picks_up_after_the_partial_answer(
    sim: SimServer,
    fixed: None,
    dialect: str,
    aoai: openai.AsyncOpenAI,
    aant: anthropic.AsyncAnthropic,
) -> None:
    said = "Retries need jitter. They"
    got = await ask(sim, dialect, conversation(said), aoai, aant)
    assert said + "".join(got) == TEXT
    assert got[0] == " also"
    set_mode(sim, "continue", resume_overlap=2)
    overlapping = await ask(sim, dialect, conversation(said), aoai, aant)
    assert overlapping == [" jitter.", " They", *got]


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_restart_gives_the_whole_answer_again(
    sim: SimServer,
    fixed: None,
    dialect: str,
    aoai: openai.AsyncOpenAI,
    aant: anthropic.AsyncAnthropic,
) -> None:
    set_mode(sim, "restart")
    assert await ask(sim, dialect, conversation("Retries need"), aoai, aant) == pieces_of(TEXT)
    # also when what it said is not how its answer begins
    assert await ask(sim, dialect, conversation("Hmm, well"), aoai, aant) == pieces_of(TEXT)


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(
    ("count", "said", "repeated"),
    [
        (1, "Retries need jitter. They also", "They also"),
        (1, "Retries need jitter. They also need a budget! Why? Because", "Because"),
        (1, "Retries need jitter. They also need a budget! Why?", "Why?"),
        (1, "Retries need jitter. They also need a budget! Why? Because storms hurt.\nBre", "Bre"),
        (1, "Retries ne", "Retries ne"),  # no sentence end: all of it
        # The default: the last two sentences (the last may be unfinished).
        (2, "Retries need jitter. They also", "Retries need jitter. They also"),
        (2, "Retries need jitter. They also need a budget! Why? Because", "Why? Because"),
        (2, "Retries need jitter. They also need a budget! Why?", "They also need a budget! Why?"),
        (2, "Retries need jitter. They also need a budget! Why? Because storms hurt.\nBre",
         "Because storms hurt.\nBre"),
    ],
)  # fmt: skip
async def test_sentence_repeats_the_last_sentences_then_goes_on(
    sim: SimServer,
    fixed: None,
    dialect: str,
    count: int,
    said: str,
    repeated: str,
    aoai: openai.AsyncOpenAI,
    aant: anthropic.AsyncAnthropic,
) -> None:
    set_mode(sim, "sentence", repeat_sentences=count)
    got = await ask(sim, dialect, conversation(said), aoai, aant)
    text = "".join(got)
    assert said.endswith(repeated)
    assert text.startswith(repeated)  # it overlaps the tail of what was said exactly
    assert said + text[len(repeated) :] == TEXT
    # streamed word by word from the start of the repeated sentence
    assert got[1:] == pieces_of(TEXT)[-(len(got) - 1) :]


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_sentence_on_a_foreign_partial_answers_like_continue(
    sim: SimServer, dialect: str, aoai: openai.AsyncOpenAI, aant: anthropic.AsyncAnthropic
) -> None:
    """Not a prefix of the answer: not a continuation, an ordinary question (as today)."""
    plain = await ask(sim, dialect, [("user", ASK)], aoai, aant)
    set_mode(sim, "sentence")
    assert await ask(sim, dialect, conversation("Nothing. Like it"), aoai, aant) == plain
    set_mode(sim, "continue")
    assert await ask(sim, dialect, conversation("Nothing. Like it"), aoai, aant) == plain


async def test_fresh_says_something_else_the_same_in_every_dialect(
    sim: SimServer, fixed: None, aoai: openai.AsyncOpenAI, aant: anthropic.AsyncAnthropic
) -> None:
    set_mode(sim, "fresh")
    said = "Retries need jitter."
    answers = [await ask(sim, dialect, conversation(said), aoai, aant) for dialect in DIALECTS]
    assert answers[0] == answers[1] == answers[2]
    got = "".join(answers[0])
    assert len(answers[0]) == 12  # answer_words, no "Simulated answer from" prefix
    assert got[0].isupper()
    assert got.endswith(".")
    assert not TEXT.startswith(got[:8])  # not a restart (the fixed answer is ignored)
    assert not got.startswith(said[:8])  # not a repetition
    assert "Simulated" not in got
    # deterministic, derived from the continue turn's text only
    assert await ask(sim, "openai", conversation("Not a prefix at all"), aoai, aant) == answers[0]
    other = await ask(sim, "openai", conversation(said, "go on"), aoai, aant)
    assert other != answers[0]


async def test_fresh_never_starts_with_the_first_word_of_the_partial_answer(
    sim: SimServer, aoai: openai.AsyncOpenAI, aant: anthropic.AsyncAnthropic
) -> None:
    set_mode(sim, "fresh")
    first = (await ask(sim, "anthropic", conversation("Retries need"), aoai, aant))[0]
    clash = f"{first.lower()}, as I said"
    again = await ask(sim, "anthropic", conversation(clash), aoai, aant)
    assert again[0].lower().strip(".") != first.lower().strip(".")
    assert len(again) == 12


async def test_the_setting_is_validated(sim: SimServer) -> None:
    with pytest.raises(
        SpecError,
        match=r"^m\.on_continue: unknown on_continue mode 'restrat' \(expected one of: "
        r"continue, restart, sentence, fresh\); did you mean 'restart'\?",
    ):
        sim.set_model("m", on_continue="restrat")
    with pytest.raises(SpecError, match=r"^defaults\.on_continue: unknown on_continue mode 3"):
        Scenario.from_dict({"defaults": {"on_continue": 3}})
    async with (
        aiohttp.ClientSession() as http,
        http.post(sim.url + "/_sim/models", json={"model": "m", "on_continue": "again"}) as resp,
    ):
        assert resp.status == 400
        assert (await resp.json())["error"].startswith("m.on_continue: unknown on_continue mode")
