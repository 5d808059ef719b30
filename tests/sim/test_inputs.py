"""What the simulator reads from requests: images, API versions, and the logged bodies."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import anthropic
import openai
import pytest

from failsoft.sim import SimServer

from .helpers import GEMINI, GPT, MODEL, gemini_path, gemini_text, user

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
QUESTION = "Describe these"  # 14 characters: 4 tokens


def words(text: str) -> list[str]:
    """The generated words, without the model-specific prefix."""
    return text.split(" ")[4:]


# --- images ----------------------------------------------------------------------------------


def test_openai_images(oai: openai.OpenAI) -> None:
    content: Any = [
        {"type": "text", "text": QUESTION},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
    ]
    messages: Any = [{"role": "user", "content": content}]
    completion = oai.chat.completions.create(model=GPT, messages=messages)
    text = completion.choices[0].message.content or ""
    plain = oai.chat.completions.create(model=GPT, messages=user(QUESTION)).choices[0].message
    assert text == f"{plain.content} (saw 2 images: image/png, url)"
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == 4 + 2 * 256
    streamed = oai.chat.completions.create(model=GPT, messages=messages, stream=True)
    assert "".join(chunk.choices[0].delta.content or "" for chunk in streamed) == text


def test_anthropic_images(ant: anthropic.Anthropic) -> None:
    content: Any = [
        {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": PNG}},
        {"type": "text", "text": QUESTION},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
    ]
    message = ant.messages.create(
        model=MODEL, max_tokens=100, messages=[{"role": "user", "content": content}]
    )
    text = message.content[0].text  # type: ignore[union-attr]
    assert text.endswith(". (saw 2 images: image/jpeg, url)")
    assert message.usage.input_tokens == 4 + 512
    one = [{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}]
    only_image = ant.messages.create(
        model=MODEL, max_tokens=100, messages=[{"role": "user", "content": one}]
    )
    assert only_image.content[0].text.endswith(" (saw 1 image: image/png)")  # type: ignore[union-attr]


async def test_gemini_images_and_the_same_words_everywhere(
    sim: SimServer, oai: openai.OpenAI
) -> None:
    parts = [
        {"text": QUESTION},
        {"inlineData": {"mimeType": "image/webp", "data": PNG}},
        {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/cat.jpg"}},
        {"inlineData": {"mimeType": "application/pdf", "data": PNG}},  # a document, not an image
    ]
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            sim.url + gemini_path(), json={"contents": [{"role": "user", "parts": parts}]}
        ) as resp,
    ):
        response = await resp.json()
    text = gemini_text(response)
    assert text.endswith(" (saw 2 images: image/webp, url)")
    assert response["usageMetadata"]["promptTokenCount"] == 4 + 512
    plain = oai.chat.completions.create(model=GPT, messages=user(QUESTION)).choices[0].message
    assert words(text)[: len(words(plain.content or ""))] == words(plain.content or "")


def test_only_the_newest_user_turn_counts(oai: openai.OpenAI) -> None:
    image = {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}
    messages: Any = [
        {"role": "user", "content": [{"type": "text", "text": "first"}, image]},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": QUESTION},
    ]
    text = oai.chat.completions.create(model=GPT, messages=messages).choices[0].message.content
    assert "(saw" not in (text or "")


# --- Anthropic API versions -------------------------------------------------------------------


@pytest.mark.parametrize("field", ["temperature", "top_p", "top_k"])
def test_2026_10_21_rejects_sampling_parameters(ant: anthropic.Anthropic, field: str) -> None:
    value = 5 if field == "top_k" else 1.0
    with pytest.raises(anthropic.BadRequestError) as error:
        ant.messages.create(model=MODEL, max_tokens=10, messages=user(), extra_body={field: value})
    message = error.value.body["error"]["message"]  # type: ignore[index]
    assert message.startswith(f"{field}: Extra inputs are not permitted")
    assert "2026-10-21" in message
    assert error.value.type == "invalid_request_error"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("version", "accepted"),
    [
        ("2023-06-01", True),
        ("2026-10-20", True),
        ("2026-10-21", False),
        ("2027-01-15", False),
        ("latest", True),
        ("2026-13-45", True),
    ],
)
def test_versions_compare_as_dates(ant: anthropic.Anthropic, version: str, accepted: bool) -> None:
    def ask() -> None:
        ant.messages.create(
            model=MODEL,
            max_tokens=10,
            messages=user(),
            extra_body={"temperature": 0.2},
            extra_headers={"anthropic-version": version},
        )

    if accepted:
        ask()
    else:
        with pytest.raises(anthropic.BadRequestError):
            ask()


# --- request bodies in the log ---------------------------------------------------------------


async def test_bodies_are_logged_as_received(sim: SimServer, oai: openai.OpenAI) -> None:
    oai.chat.completions.create(model=GPT, messages=user("hi"), temperature=0.5)
    assert sim.requests()[-1].body == {"messages": user("hi"), "model": GPT, "temperature": 0.5}
    async with aiohttp.ClientSession() as http:
        async with http.post(
            sim.url + "/v1/messages", data=b"{nope", headers={"anthropic-version": "2023-06-01"}
        ) as resp:
            assert resp.status == 400
        async with http.get(sim.url + "/_sim/requests") as resp:
            logged = (await resp.json())["requests"]
    assert sim.requests()[-1].body is None
    assert logged[0]["body"]["temperature"] == 0.5
    assert logged[-1]["body"] is None
    assert "sk-test" not in json.dumps(logged)
    assert sim.requests(GEMINI) == []
