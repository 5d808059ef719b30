"""failsoft: an LLM gateway that keeps answering when providers fail.

Run it as a proxy (`failsoft serve --config failsoft.yaml`) that the OpenAI and Anthropic
SDKs use as their `base_url`, or in-process with `Gateway`.
"""

from failsoft.config import Config, load_config, parse_config
from failsoft.errors import (
    AllTargetsFailed,
    ConfigError,
    FailsoftError,
    Overloaded,
    RequestError,
    StreamInterrupted,
    Untranslatable,
    UpstreamClientFault,
    UpstreamError,
)
from failsoft.events import AttemptFinished, BreakerChanged, RequestFinished
from failsoft.gateway import Gateway, Reply, ReplyStream

__version__ = "0.1.0"

__all__ = [
    "AllTargetsFailed",
    "AttemptFinished",
    "BreakerChanged",
    "Config",
    "ConfigError",
    "FailsoftError",
    "Gateway",
    "Overloaded",
    "Reply",
    "ReplyStream",
    "RequestError",
    "RequestFinished",
    "StreamInterrupted",
    "Untranslatable",
    "UpstreamClientFault",
    "UpstreamError",
    "__version__",
    "load_config",
    "parse_config",
]
