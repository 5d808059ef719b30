"""A human-readable account of a loaded config: what `failsoft check-config` prints."""

from __future__ import annotations

from failsoft.config.policies import Deadlines
from failsoft.config.schema import Config
from failsoft.types import DIALECTS


def render_plan(config: Config) -> str:
    lines = [f"{config.source}: OK", "", "providers:"]
    width = max((len(n) for n in config.providers), default=0)
    for name, provider in config.providers.items():
        key = "no key"
        if provider.api_key:
            key = f"key from {provider.api_key.source}"
        extras = [] if provider.always_stream else ["always_stream: off"]
        if provider.status_page:
            extras.append(f"status page {provider.status_page}")
        tail = f"  ({', '.join(extras)})" if extras else ""
        lines.append(
            f"  {name:<{width}}  {provider.dialect:<9}  {provider.normalized_url}  [{key}]{tail}"
        )
    lines += ["", "models (targets in fallback order):"]
    if not config.models:
        lines.append("  (none; requests must name '<provider>/<model>')")
    for name, model in config.models.items():
        lines.append(f"  {name}")
        for i, target in enumerate(model.targets, 1):
            dialect = config.providers[target.provider].dialect
            lines.append(f"    {i}. {target.label}  ({dialect})")
        serving = []
        for dialect in DIALECTS:
            n = len(model.targets_for(config.providers, dialect))
            surface = "/v1/chat/completions" if dialect == "openai" else "/v1/messages"
            serving.append(f"{surface}: {n} of {len(model.targets)}")
        lines.append(f"    reachable from {'; '.join(serving)}")
        if model.deadlines != config.deadlines:
            lines.append(f"    deadlines: {_deadlines(model.deadlines)}")
    lines += [
        "",
        f"deadlines: {_deadlines(config.deadlines)}",
        f"server: {config.server.host}:{config.server.port}, "
        f"max body {config.server.max_body_bytes} bytes",
        "direct: any '<provider>/<model>' ("
        + ", ".join(f"{p}/..." for p in config.providers)
        + ")",
    ]
    return "\n".join(lines)


def _deadlines(d: Deadlines) -> str:
    return (
        f"connect {d.connect:g}s, first_token {d.first_token:g}s, "
        f"idle {d.idle:g}s, total {d.total:g}s"
    )
