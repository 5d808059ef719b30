"""`POST /v1/chat/completions`: the OpenAI Chat Completions surface."""

from __future__ import annotations

from failsoft.server.chat import Surface

SURFACE = Surface("openai")
