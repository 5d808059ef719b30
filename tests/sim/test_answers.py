"""Deterministic answers, tool calls and token counts, without a server."""

from __future__ import annotations

from typing import Any

from failsoft.sim import anthropic_input, gemini_input, openai_input
from failsoft.sim.answers import Answer, build_answer, image_note
from failsoft.sim.prompt import Prompt, ToolSpec
from failsoft.sim.settings import ModelSettings
from failsoft.sim.tools import fragments, last_word, plan_calls

from .helpers import user

DEFAULT = ModelSettings()


def openai(messages: list[Any], **body: Any) -> Prompt:
    return openai_input.prompt({"messages": messages, **body})


def answer(
    messages: list[Any],
    settings: ModelSettings = DEFAULT,
    max_tokens: int | None = None,
    model: str = "m",
) -> Answer:
    return build_answer(model, openai(messages), settings, max_tokens)


def test_answer_is_pinned_across_processes_and_versions() -> None:
    """A literal, so any change to the generator (or a salted hash) shows up here."""
    pinned = answer(user("Say hello"), model="gpt-4o")
    assert pinned.text == (
        "Simulated answer from gpt-4o: breeze comet pine umber pine quietly birch yarrow "
        "lagoon dune coral summit."
    )
    assert pinned.input_tokens == 3
    assert not pinned.truncated
    assert pinned.calls == ()


def test_pieces_are_words_with_leading_spaces() -> None:
    pieces = answer(user()).pieces
    assert pieces[:4] == ("Simulated", " answer", " from", " m:")
    assert all(piece.startswith(" ") for piece in pieces[1:])
    assert answer(user()).output_tokens == len(pieces) == 4 + DEFAULT.answer_words


def test_answer_depends_on_the_last_user_message_only() -> None:
    history = [
        {"role": "system", "content": "system"},
        *user("first"),
        {"role": "assistant", "content": "ok"},
        *user("Say hello"),
    ]
    assert answer(history).text == answer(user("Say hello")).text
    assert answer(user("a")).text != answer(user("b")).text


def test_the_same_question_gets_the_same_words_in_every_dialect() -> None:
    parts = [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]
    prompts = [
        openai([{"role": "user", "content": parts}]),
        anthropic_input.prompt({"messages": [{"role": "user", "content": parts}]}),
        anthropic_input.prompt({"messages": user("one\ntwo")}),
        gemini_input.prompt({"contents": [{"parts": [{"text": "one"}, {"text": "two"}]}]}),
    ]
    texts = {build_answer("m", prompt, DEFAULT, None).text for prompt in prompts}
    assert len(texts) == 1
    assert {prompt.input_tokens for prompt in prompts} == {2}


def test_settings_and_truncation() -> None:
    assert answer(user(), ModelSettings(answer_words=1)).output_tokens == 5
    assert answer(user(), ModelSettings(answer="Just this.")).pieces == ("Just", " this.")
    short = answer(user(), max_tokens=2)
    assert short.pieces == ("Simulated", " answer")
    assert short.truncated
    assert not answer(user(), ModelSettings(answer="a b"), max_tokens=2).truncated


def test_input_tokens_are_a_rough_character_count_plus_images() -> None:
    assert openai([]).input_tokens == 1
    assert openai(user("x" * 40)).input_tokens == 10
    system = [{"role": "developer", "content": "sys"}]
    assert openai(system + user("x" * 41)).input_tokens == 11
    image = {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}
    with_image = [{"role": "user", "content": [{"type": "text", "text": "abcd"}, image]}]
    assert openai(with_image).input_tokens == 1 + 256
    anthropic = anthropic_input.prompt({"system": "abcd", "messages": user("abcd")})
    assert anthropic.input_tokens == 2


def test_image_note() -> None:
    assert image_note([]) == ""
    assert image_note(["image/png"]) == " (saw 1 image: image/png)"
    assert image_note(["image/png", "url"]) == " (saw 2 images: image/png, url)"
    data = "data:image/jpeg;base64,AAAA"
    content = [
        {"type": "text", "text": "Say hello"},
        {"type": "image_url", "image_url": {"url": data}},
    ]
    seen = answer([{"role": "user", "content": content}])
    assert seen.text == answer(user("Say hello")).text + " (saw 1 image: image/jpeg)"
    fixed = answer([{"role": "user", "content": content}], ModelSettings(answer="Fixed."))
    assert fixed.text == "Fixed."


def test_last_word_and_fragments() -> None:
    assert last_word("What's the weather in Paris?") == "Paris"
    assert last_word("Paris ?!") == "Paris"
    assert last_word("?? !!") == "x"
    assert last_word("") == "x"
    assert fragments("{}") == ("{", "}")
    assert fragments('{"a":1}') == ('{"', 'a"', ":1}")
    assert "".join(fragments('{"location":"Paris"}')) == '{"location":"Paris"}'


def test_arguments_follow_the_schema() -> None:
    schema = {
        "properties": {
            "city": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer"},
            "ratio": {"type": "NUMBER"},
            "detailed": {"type": "boolean"},
            "tags": {"type": "array"},
            "extra": {"type": "object"},
            "note": {"type": ["string", "null"]},
            "free": {},
        }
    }
    tool = ToolSpec("get_weather", tuple(schema["properties"].items()))
    (call,) = plan_calls([tool], None, 1, "Weather in Paris?")
    assert call.arguments == {
        "city": "Paris",
        "unit": "celsius",
        "days": 1,
        "ratio": 1,
        "detailed": True,
        "tags": [],
        "extra": {},
        "note": "Paris",
        "free": "Paris",
    }
    assert list(call.arguments) == list(schema["properties"])  # declaration order
    assert call.json.startswith('{"city":"Paris","unit":"celsius"')


def test_parallel_calls_cycle_and_keep_strings_distinct() -> None:
    a = ToolSpec("a", (("q", {"type": "string"}),))
    b = ToolSpec("b", (("q", {"type": "string"}),))
    calls = plan_calls([a, b], None, 5, "find cats")
    assert [call.name for call in calls] == ["a", "b", "a", "b", "a"]
    assert [call.arguments["q"] for call in calls] == ["cats", "cats", "cats-2", "cats-2", "cats-3"]
    forced = plan_calls([a, b], "b", 2, "find cats")
    assert [(call.name, call.arguments["q"]) for call in forced] == [("b", "cats"), ("b", "cats-2")]


def test_tool_rules() -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    called = answer_with(user("hi"), tools=tools)
    assert [call.name for call in called.calls] == ["f"]
    assert called.pieces == ()
    assert called.output_tokens == 2  # "{}" in two fragments
    assert answer_with(user("hi"), tools=tools, tool_choice="none").calls == ()
    preface = ModelSettings(tool_preface="Let me check.", tool_calls=2)
    both = build_answer("m", openai(user("hi"), tools=tools), preface, None)
    assert both.text == "Let me check."
    assert len(both.calls) == 2
    assert both.output_tokens == 3 + 2 + 2


def test_a_tool_result_gets_a_reply_quoting_it() -> None:
    messages = [
        *user("weather?"),
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}},
                {"id": "c2", "type": "function", "function": {"name": "f", "arguments": "{}"}},
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "15 C"},
        {"role": "tool", "tool_call_id": "c2", "content": [{"type": "text", "text": "sunny"}]},
    ]
    tools = [{"type": "function", "function": {"name": "f"}}]
    reply = answer_with(messages, tools=tools)
    assert reply.calls == ()
    assert reply.text == "Simulated answer from m: the tool said 15 C; sunny."


def test_gemini_function_response_text() -> None:
    def said(response: object) -> str:
        contents = [
            {"role": "user", "parts": [{"text": "q"}]},
            {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": response}}]},
        ]
        prompt = gemini_input.prompt({"contents": contents})
        return build_answer("m", prompt, DEFAULT, None).text.removeprefix(
            "Simulated answer from m: the tool said "
        )

    assert said({"result": "15 C"}) == "15 C."
    assert said({"output": "ok"}) == "ok."
    assert said({"temp": 15, "sky": "clear"}) == '{"sky":"clear","temp":15}.'
    assert said({"result": 15}) == '{"result":15}.'


def answer_with(messages: list[Any], **body: Any) -> Answer:
    return build_answer("m", openai(messages, **body), DEFAULT, None)
