"""Gemini generateContent ⇄ the internal form: requests and whole responses.

Two Gemini habits shape this module:

* Function calls have no ids (or optional ones) and function responses are matched by
  name; other dialects match results to calls by id. failsoft gives each Gemini call an
  id, and looks the name up by id when a result goes back to Gemini.
* Gemini 3 signs its function calls (`thoughtSignature`) and refuses a history whose
  calls lost their signature. The signature travels inside the id failsoft gives the
  call (`<id>__sig__<signature>`), so it comes back with the caller's next request. Calls
  that never came from Gemini get Google's documented `skip_thought_signature_validator`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

import orjson

from failsoft.translate import thinking
from failsoft.translate.common import (
    TargetOptions,
    Warnings,
    args_object,
    expect,
    guess_media_type,
    integer,
    number,
    system_texts,
)
from failsoft.translate.ir import (
    Block,
    Image,
    Message,
    Reasoning,
    Request,
    Response,
    ResponseFormat,
    Role,
    Text,
    Tool,
    ToolCall,
    ToolChoice,
    ToolResult,
    Usage,
)

SKIP_SIGNATURE = "skip_thought_signature_validator"
_SIG = "__sig__"
_GENERATED = "fsg_"
_REFUSALS = frozenset(
    {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY",
     "LANGUAGE", "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION"}
)  # fmt: skip
_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY", "tool": "ANY"}


# --------------------------------------------------------------------------- call ids


def call_id(base: str | None, response_id: str, position: int, signature: str | None) -> str:
    """The id a Gemini function call gets in other dialects (signature inside)."""
    if not base:
        digest = hashlib.blake2b(f"{response_id}:{position}".encode(), digest_size=12)
        base = _GENERATED + digest.hexdigest()
    if not signature or type(signature) is not str:  # an upstream's odd value: no signature
        return base
    packed = signature.replace("+", "-").replace("/", "_").rstrip("=")
    return f"{base}{_SIG}{packed}"


def split_call_id(value: str) -> tuple[str | None, str | None]:
    """`(Gemini's own id or None, signature or None)` of an id made by `call_id`."""
    base, sep, packed = value.partition(_SIG)
    signature = None
    if sep and packed:
        padded = packed.replace("-", "+").replace("_", "/") + "=" * (-len(packed) % 4)
        try:
            base64.b64decode(padded, validate=True)
            signature = padded
        except binascii.Error:
            signature = None
    own = None if base.startswith(_GENERATED) or not base else base
    return own, signature


# --------------------------------------------------------------------------- requests out


def build_request(request: Request, options: TargetOptions, warnings: Warnings) -> dict[str, Any]:
    """The body of a generateContent request (the model goes in the URL)."""
    out: dict[str, Any] = {"contents": _contents(request.messages, warnings)}
    # Gemini has no system turn mid-conversation: such instructions join the system
    # instruction, which applies to the whole conversation.
    system = system_texts(request)
    if system:
        out["systemInstruction"] = {"parts": [{"text": text} for text in system]}
    if request.tools:
        out["tools"] = [
            {
                "functionDeclarations": [
                    {
                        "name": tool.name,
                        **({"description": tool.description} if tool.description else {}),
                        "parametersJsonSchema": tool.parameters,
                    }
                    for tool in request.tools
                ]
            }
        ]
        if request.parallel_tool_calls is False:
            warnings.drop("parallel_tool_calls", "Gemini cannot forbid parallel calls")
    choice = request.tool_choice
    if choice is not None and request.tools:
        config: dict[str, Any] = {"mode": _MODES[choice.mode]}
        if choice.mode == "tool":
            config["allowedFunctionNames"] = [choice.name]
        out["toolConfig"] = {"functionCallingConfig": config}
    generation = _generation(request)
    _thinking(request, warnings, generation)
    if request.metadata:
        warnings.drop("metadata", "Gemini has no request metadata")
    if generation:
        out["generationConfig"] = generation
    return out


def _generation(request: Request) -> dict[str, Any]:
    config: dict[str, Any] = {}
    pairs = (
        ("maxOutputTokens", request.max_tokens),
        ("temperature", request.temperature),
        ("topP", request.top_p),
        ("topK", request.top_k),
        ("seed", request.seed),
        ("presencePenalty", request.presence_penalty),
        ("frequencyPenalty", request.frequency_penalty),
    )
    for key, value in pairs:
        if value is not None:
            config[key] = value
    if request.stop:
        config["stopSequences"] = request.stop
    fmt = request.response_format
    if fmt is not None:
        config["responseMimeType"] = "application/json"
        if fmt.kind == "json_schema" and fmt.schema is not None:
            config["responseJsonSchema"] = fmt.schema
    return config


def _thinking(request: Request, warnings: Warnings, config: dict[str, Any]) -> None:
    """A Responses `reasoning.effort` as a thinking budget (the Anthropic table, within
    Gemini 2.5 Flash's 24576). "none" is dropped: Gemini's Pro models cannot stop thinking."""
    effort = request.reasoning_effort
    if effort in thinking.BUDGETS:
        config["thinkingConfig"] = {"thinkingBudget": thinking.BUDGETS[effort]}
    elif effort is not None:
        warnings.drop(f"reasoning.effort {effort!r}", "no Gemini thinking budget for it")
    if request.reasoning_summary is not None:
        warnings.drop("reasoning.summary", "Gemini's thought summaries are not carried")


def _contents(messages: list[Message], warnings: Warnings) -> list[dict[str, Any]]:
    names: dict[str, str] = {}
    out: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            continue  # in the system instruction (see build_request)
        role = "user" if message.role == "user" else "model"
        parts: list[dict[str, Any]] = []
        first_call = True
        for block in message.content:
            if isinstance(block, Text):
                if block.text:
                    parts.append({"text": block.text})
            elif isinstance(block, Image):
                parts.append(_image_part(block))
            elif isinstance(block, ToolCall):
                names[block.id] = block.name
                parts.append(_call_part(block, first_call))
                first_call = False
            elif isinstance(block, ToolResult):
                parts.append(_result_part(block, names, warnings))
            elif not thinking.is_tagged(block.encrypted_content):
                warnings.drop("reasoning items", "only the provider that issued them reads them")
        if not parts:
            continue
        if out and out[-1]["role"] == role:
            out[-1]["parts"].extend(parts)
        else:
            out.append({"role": role, "parts": parts})
    return out


def _image_part(image: Image) -> dict[str, Any]:
    if image.url is not None:
        return {"fileData": {"mimeType": guess_media_type(image.url), "fileUri": image.url}}
    return {"inlineData": {"mimeType": image.media_type or "image/png", "data": image.data}}


def _call_part(call: ToolCall, first: bool) -> dict[str, Any]:
    _, signature = split_call_id(call.id)
    function: dict[str, Any] = {"name": call.name, "args": args_object(call.arguments)}
    part: dict[str, Any] = {"functionCall": function}
    if signature is not None:
        part["thoughtSignature"] = signature
    elif first:
        # Only the first call of a turn carries a signature; one from another model has
        # none, and Gemini 3 refuses a turn without it unless told to skip the check.
        part["thoughtSignature"] = SKIP_SIGNATURE
    return part


def _result_part(result: ToolResult, names: dict[str, str], warnings: Warnings) -> dict[str, Any]:
    name = names.get(result.call_id)
    expect(
        name is not None,
        f"a tool result answers call {result.call_id!r}, which no earlier assistant turn made "
        "(Gemini matches results to calls by name)",
    )
    texts = [part.text for part in result.content if isinstance(part, Text)]
    if len(texts) != len(result.content):
        warnings.drop("images in tool results", "Gemini function responses carry JSON only")
    text = "\n".join(texts)
    response = {"error": text} if result.is_error else {"result": text}
    return {"functionResponse": {"name": name, "response": response}}


# --------------------------------------------------------------------------- requests in


def parse_request(payload: dict[str, Any]) -> Request:
    """A Gemini request in the internal form (used by round-trip tests and tools)."""
    request = Request(messages=[])
    system = payload.get("systemInstruction") or {}
    request.system = [p["text"] for p in system.get("parts") or () if p.get("text")]
    pending: dict[str, list[str]] = {}
    for i, content in enumerate(payload.get("contents") or ()):
        role: Role = "user" if content.get("role", "user") == "user" else "assistant"
        blocks = [_block_in(part, f"contents[{i}]", pending) for part in content.get("parts") or ()]
        if request.messages and request.messages[-1].role == role:
            request.messages[-1].content.extend(blocks)
        else:
            request.messages.append(Message(role, blocks))
    declarations = [
        declaration
        for tool in payload.get("tools") or ()
        for declaration in tool.get("functionDeclarations") or ()
    ]
    request.tools = [
        Tool(
            d["name"],
            d.get("description"),
            d.get("parametersJsonSchema") or d.get("parameters") or {"type": "object"},
        )
        for d in declarations
    ]
    calling = (payload.get("toolConfig") or {}).get("functionCallingConfig") or {}
    mode = calling.get("mode")
    allowed = calling.get("allowedFunctionNames") or []
    if mode == "ANY" and len(allowed) == 1:
        request.tool_choice = ToolChoice("tool", allowed[0])
    elif mode == "AUTO":
        request.tool_choice = ToolChoice("auto")
    elif mode == "NONE":
        request.tool_choice = ToolChoice("none")
    elif mode == "ANY":
        request.tool_choice = ToolChoice("required")
    config = payload.get("generationConfig") or {}
    request.max_tokens = integer(config.get("maxOutputTokens"), "maxOutputTokens")
    request.temperature = number(config.get("temperature"), "temperature")
    request.top_p = number(config.get("topP"), "topP")
    request.top_k = integer(config.get("topK"), "topK")
    request.seed = integer(config.get("seed"), "seed")
    request.presence_penalty = number(config.get("presencePenalty"), "presencePenalty")
    request.frequency_penalty = number(config.get("frequencyPenalty"), "frequencyPenalty")
    request.stop = list(config.get("stopSequences") or ())
    if config.get("responseMimeType") == "application/json":
        schema = config.get("responseJsonSchema")
        request.response_format = (
            ResponseFormat("json_schema", schema) if schema else ResponseFormat("json_object")
        )
    return request


def _block_in(part: dict[str, Any], where: str, pending: dict[str, list[str]]) -> Block:
    if "text" in part:
        # proto3 JSON: a null field is the field's default, here "" (found by atheris).
        return Text(part["text"] or "")
    if "inlineData" in part:
        data = part["inlineData"]
        return Image(media_type=data.get("mimeType"), data=data.get("data"))
    if "fileData" in part:
        return Image(url=part["fileData"].get("fileUri"))
    if "functionCall" in part:
        call = part["functionCall"]
        signature = part.get("thoughtSignature")
        if signature == SKIP_SIGNATURE:
            signature = None
        number_ = sum(len(ids) for ids in pending.values())
        ident = call_id(call.get("id"), where, number_, signature)
        pending.setdefault(call["name"], []).append(ident)
        return ToolCall(ident, call["name"], call.get("args") or {})
    if "functionResponse" in part:
        response = part["functionResponse"]
        waiting = pending.get(response["name"]) or [response.get("id") or response["name"]]
        own = response.get("id")
        # By its id when it names a call (parallel calls of one function answered out of
        # order), else the first call of that name still waiting.
        found = [i for i, ident in enumerate(waiting) if own and split_call_id(ident)[0] == own]
        ident = waiting.pop(found[0] if found else 0)
        body = response.get("response")
        is_error = isinstance(body, dict) and set(body) == {"error"}
        return ToolResult(ident, [Text(_response_text(body))], is_error)
    expect(False, f"{where}: a part with {sorted(part)} has no equivalent")
    raise AssertionError  # unreachable


def _response_text(body: Any) -> str:
    if isinstance(body, dict) and len(body) == 1:
        (value,) = body.values()
        if isinstance(value, str):
            return value
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS).decode()


# --------------------------------------------------------------------------- responses


def stop_reason(finish: Any, has_calls: bool) -> str:
    if finish == "MAX_TOKENS":
        return "max_tokens"
    if finish in _REFUSALS:
        return "refusal"
    return "tool_use" if has_calls else "end_turn"


def parse_usage(value: Any) -> Usage:
    if not isinstance(value, dict):
        return Usage()
    candidates = value.get("candidatesTokenCount")
    thoughts = value.get("thoughtsTokenCount")
    output = None
    if candidates is not None or thoughts is not None:
        output = (candidates or 0) + (thoughts or 0)
    return Usage(
        input=value.get("promptTokenCount"),
        output=output,
        cache_read=value.get("cachedContentTokenCount"),
        reasoning=thoughts,
    )


def parse_response(obj: dict[str, Any]) -> Response:
    response_id = str(obj.get("responseId") or "")
    candidates = obj.get("candidates") or []
    candidate = candidates[0] if candidates and isinstance(candidates[0], dict) else {}
    content: list[Text | ToolCall | Reasoning] = []
    calls = 0
    for part in (candidate.get("content") or {}).get("parts") or ():
        if part.get("thought"):
            continue
        if isinstance(part.get("text"), str) and part["text"]:
            if content and isinstance(content[-1], Text):
                content[-1].text += part["text"]
            else:
                content.append(Text(part["text"]))
        elif isinstance(part.get("functionCall"), dict):
            call = part["functionCall"]
            ident = call_id(call.get("id"), response_id, calls, part.get("thoughtSignature"))
            content.append(ToolCall(ident, str(call.get("name")), call.get("args") or {}))
            calls += 1
    # No candidate: the prompt itself was blocked (promptFeedback.blockReason).
    stop = stop_reason(candidate.get("finishReason"), calls > 0) if candidate else "refusal"
    return Response(
        id=response_id,
        model=str(obj.get("modelVersion") or ""),
        content=content,
        stop=stop,
        usage=parse_usage(obj.get("usageMetadata")),
    )


def build_response(response: Response) -> dict[str, Any]:
    """A generateContent response, for round-trip tests (Gemini callers get theirs from
    `gemini_caller.build_response`, which keeps call ids)."""
    parts: list[dict[str, Any]] = []
    for block in response.content:
        if isinstance(block, Text):
            parts.append({"text": block.text})
        elif isinstance(block, ToolCall):
            parts.append(_call_part(block, False))
    finish = {"max_tokens": "MAX_TOKENS", "refusal": "SAFETY"}.get(response.stop, "STOP")
    usage = response.usage
    return {
        "candidates": [
            {"content": {"role": "model", "parts": parts}, "finishReason": finish, "index": 0}
        ],
        "usageMetadata": {
            "promptTokenCount": usage.input or 0,
            "candidatesTokenCount": (usage.output or 0) - (usage.reasoning or 0),
            "totalTokenCount": (usage.input or 0) + (usage.output or 0),
        },
        "modelVersion": response.model,
        "responseId": response.id,
    }
