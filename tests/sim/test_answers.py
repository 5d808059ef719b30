"""Deterministic answers and token counts."""

from __future__ import annotations

from failsoft.sim.answers import build_answer, content_text, input_tokens, last_user_text
from failsoft.sim.settings import ModelSettings

from .helpers import user

DEFAULT = ModelSettings()


def test_answer_is_pinned_across_processes_and_versions() -> None:
    """A literal, so any change to the generator (or a salted hash) shows up here."""
    answer = build_answer("gpt-4o", user("Say hello"), None, DEFAULT, None)
    assert answer.text == (
        "Simulated answer from gpt-4o: breeze comet pine umber pine quietly birch yarrow "
        "lagoon dune coral summit."
    )
    assert answer.input_tokens == 3
    assert not answer.truncated


def test_pieces_are_words_with_leading_spaces() -> None:
    answer = build_answer("m", user(), None, DEFAULT, None)
    assert answer.pieces[:4] == ("Simulated", " answer", " from", " m:")
    assert all(piece.startswith(" ") for piece in answer.pieces[1:])
    assert answer.output_tokens == len(answer.pieces) == 4 + DEFAULT.answer_words


def test_answer_depends_on_the_last_user_message_only() -> None:
    history = [*user("first"), {"role": "assistant", "content": "ok"}, *user("Say hello")]
    assert build_answer("m", history, "system", DEFAULT, None).text == (
        build_answer("m", user("Say hello"), None, DEFAULT, None).text
    )
    assert build_answer("m", user("a"), None, DEFAULT, None).text != (
        build_answer("m", user("b"), None, DEFAULT, None).text
    )


def test_settings_and_truncation() -> None:
    assert build_answer("m", user(), None, ModelSettings(answer_words=1), None).output_tokens == 5
    fixed = build_answer("m", user(), None, ModelSettings(answer="Just this."), None)
    assert fixed.pieces == ("Just", " this.")
    short = build_answer("m", user(), None, DEFAULT, 2)
    assert short.pieces == ("Simulated", " answer")
    assert short.truncated
    exact = build_answer("m", user(), None, ModelSettings(answer="a b"), 2)
    assert not exact.truncated


def test_content_shapes() -> None:
    parts = [
        {"type": "text", "text": "one"},
        {"type": "image", "source": {}},
        {"type": "text", "text": "two"},
    ]
    assert content_text(parts) == "one\ntwo"
    assert content_text(None) == ""
    assert content_text([{"type": "tool_result", "content": "x"}]).startswith("[{")
    assert last_user_text([{"role": "user", "content": parts}, {"role": "assistant"}]) == "one\ntwo"
    assert last_user_text([]) == ""


def test_input_tokens_are_a_rough_character_count() -> None:
    assert input_tokens([], None) == 1
    assert input_tokens(user("x" * 40), None) == 10
    assert input_tokens(user("x" * 41), "sys") == 11
    assert input_tokens(user("abcd"), [{"type": "text", "text": "abcd"}]) == 2
