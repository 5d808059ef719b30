"""`POST /v1/messages`: the Anthropic Messages surface.

Accepts `x-api-key` or `Authorization: Bearer` (anthropic SDK < 2.0 and ≥ 2.0) and any
`anthropic-version`; the version and `anthropic-beta` are relayed to Anthropic upstreams.
"""

from __future__ import annotations

from failsoft.server.chat import Surface

SURFACE = Surface("anthropic", forwarded=(b"anthropic-version", b"anthropic-beta"))
