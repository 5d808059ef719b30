"""The demo's world: three simulated providers, a gateway config, and a scripted outage.

The outage follows the shape of real incidents: the flagship model is overloaded (529)
for a while, then fails part of its requests with 500s as it recovers; meanwhile two
streams are cut mid-answer (failsoft finishes them from another model) and a lighter
OpenAI model stops answering altogether (hangs).
Then every Claude model is overloaded for a few seconds, and Anthropic-SDK callers are
answered by a Gemini model, translated both ways; then everything recovers and traffic
goes back to the primaries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from failsoft.config import Config, parse_config

DEFAULT_DURATION = 40.0

CONFIG = """
providers:
  anthropic: {{dialect: anthropic, base_url: "{anthropic}", api_key: sk-demo-anthropic}}
  openai: {{dialect: openai, base_url: "{openai}/v1", api_key: sk-demo-openai}}
  google: {{dialect: gemini, base_url: "{google}", api_key: sk-demo-google}}
models:
  claude-opus:
    - anthropic/claude-opus-4-7
    - anthropic/claude-sonnet-4-5
    - anthropic/claude-haiku-4-5
    - google/gemini-2.5-flash    # another dialect: requests and streams are translated
  gpt-4o:
    - openai/gpt-4o
    - openai/gpt-4o-mini
deadlines: {{connect: 2, first_token: 1.5, idle: 2, total: 20}}
# Quicker than the defaults, so the demo's short outage opens an incident within seconds.
health: {{open_after: 3, evaluate_every: 1, recover_after: 10, resolve_after: 30}}
status: {{title: "failsoft demo status"}}
"""

ANSWER = (
    "A gateway keeps answering when a provider fails. It retries with jitter, waits out a "
    "short Retry-After, races a slow model, and finishes a broken stream exactly."
)
"""What every simulated model answers, so that a stream cut on one model and finished on
another can be checked word for word."""

SIM_DEFAULTS = {
    "ttft": 0.12,
    "chunk_delay": 0.015,
    "answer": ANSWER,
    # Asked (in a user turn) to continue a cut answer, repeat its last sentences first, as
    # failsoft's continue prompt asks: an overlap failsoft can verify.
    "on_continue": "sentence",
}


@dataclass(frozen=True)
class Phase:
    start: float
    """Fraction of the run."""
    end: float
    label: str


# Fractions of the run, so `--duration` stretches or shrinks the same story.
PHASES = (
    Phase(0.000, 0.125, "healthy"),
    Phase(0.125, 0.300, "opus-4-7: 529 overloaded"),
    Phase(0.300, 0.375, "opus-4-7: 529; 2 streams cut"),
    Phase(0.375, 0.450, "opus-4-7: 60% 500 api_error"),
    Phase(0.450, 0.550, "opus-4-7: 60% 500; gpt-4o hangs"),
    Phase(0.550, 0.625, "opus-4-7: 60% 500 api_error"),
    Phase(0.625, 0.725, "every claude model: 529"),
    Phase(0.725, 1.000, "recovered"),
)


def gateway_config(anthropic_url: str, openai_url: str, google_url: str) -> Config:
    text = CONFIG.format(anthropic=anthropic_url, openai=openai_url, google=google_url)
    return parse_config(text, "<demo>")


def anthropic_scenario(duration: float) -> dict[str, Any]:
    d = duration
    return {
        "seed": 7,
        "description": "failsoft demo: Anthropic side",
        "models": {"claude-opus-4-7": {}, "claude-sonnet-4-5": {}, "claude-haiku-4-5": {}},
        "timeline": [
            {
                "at": 0.125 * d,
                "until": 0.375 * d,
                "model": "claude-opus-4-7",
                "fault": {"kind": "status", "status": 529},
            },
            {
                "at": 0.375 * d,
                "until": 0.625 * d,
                "model": "claude-opus-4-7",
                "fault": {"kind": "status", "status": 500, "rate": 0.6},
            },
            # One answer cut mid-stream, on the backup that carries the load.
            {
                "at": 0.30 * d,
                "until": 0.36 * d,
                "model": "claude-sonnet-4-5",
                "fault": {"kind": "cut", "after": 3, "count": 2, "stream": True},
            },
            # The whole family overloaded: only another provider (and dialect) can answer.
            {
                "at": 0.625 * d,
                "until": 0.725 * d,
                "model": "*",
                "fault": {"kind": "status", "status": 529},
            },
        ],
    }


def openai_scenario(duration: float) -> dict[str, Any]:
    d = duration
    return {
        "seed": 7,
        "description": "failsoft demo: OpenAI side",
        "models": {"gpt-4o": {}, "gpt-4o-mini": {}},
        "timeline": [
            {"at": 0.45 * d, "until": 0.55 * d, "model": "gpt-4o", "fault": {"kind": "hang"}},
        ],
    }


def phase_at(elapsed: float, duration: float) -> Phase:
    fraction = elapsed / duration if duration > 0 else 1.0
    for phase in PHASES:
        if phase.start <= fraction < phase.end:
            return phase
    return PHASES[-1]
