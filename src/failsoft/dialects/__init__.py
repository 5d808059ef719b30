"""Pure wire formats: one module per API dialect, plus SSE framing. No I/O here."""

from __future__ import annotations

from failsoft.dialects import anthropic, gemini, openai, responses
from failsoft.dialects.base import Wire

# Modules satisfy the `Wire` protocol; mypy checks each against it here.
WIRES: dict[str, Wire] = {
    "openai": openai,
    "anthropic": anthropic,
    "gemini": gemini,
    "responses": responses,
}

__all__ = ["WIRES", "Wire"]
