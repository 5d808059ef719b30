"""A human-readable account of a loaded config: what `failsoft check-config` prints."""

from __future__ import annotations

import importlib.util
from urllib.parse import urlsplit

from failsoft.config.auth import KeyLimits
from failsoft.config.exposure import exposure_summary, exposure_warnings
from failsoft.config.policies import Deadlines, Policies, Retry
from failsoft.config.schema import Config, ServerConfig, is_pattern
from failsoft.types import CALLER_DIALECTS

_SURFACES = {
    "openai": "/v1/chat/completions",
    "anthropic": "/v1/messages",
    "responses": "/v1/responses",
    "gemini": "generateContent",
}


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
        if provider.probe.enabled:
            extras.append(f"probes: {provider.probe.kind} every {provider.probe.interval:g}s")
        tail = f"  ({', '.join(extras)})" if extras else ""
        url = provider.normalized_url
        if provider.dialect == "openai":
            url += "/responses" if provider.api == "responses" else "/chat/completions"
            extras.insert(0, f"api: {provider.api}")
            tail = f"  ({', '.join(extras)})"
        lines.append(f"  {name:<{width}}  {provider.dialect:<9}  {url}  [{key}]{tail}")
    lines += ["", "models (targets in fallback order):"]
    if not config.models:
        lines.append("  (none; requests must name '<provider>/<model>')")
    for name, model in config.models.items():
        lines.append(f"  {name}")
        names = [a for a in model.aliases if not is_pattern(a)]
        patterns = [a for a in model.aliases if is_pattern(a)]
        if names:
            lines.append(f"    aliases: {', '.join(names)}")
        if patterns:
            lines.append(f"    patterns: {', '.join(patterns)}  (after names, in config order)")
        weighted = model.policies.balance.strategy == "weighted"
        for i, target in enumerate(model.targets, 1):
            dialect = config.providers[target.provider].wire_dialect
            weight = f", weight {model.weights[i - 1]:g}" if weighted and model.weights else ""
            lines.append(f"    {i}. {target.label}  ({dialect}{weight})")
        serving = []
        for caller in CALLER_DIALECTS:
            native = len(model.targets_for(config.providers, caller))
            surface = _SURFACES[caller]
            translated = len(model.targets) - native
            serving.append(f"{surface}: {native} native, {translated} translated")
        lines.append(f"    callers: {'; '.join(serving)}")
        own = model.policies
        if own.deadlines != config.deadlines:
            lines.append(f"    deadlines: {_deadlines(own.deadlines)}")
        if own.retry != config.policies.retry:
            lines.append(f"    retry: {_retry(own.retry)}")
        for line in _extras(own):
            lines.append(f"    {line}")
    top = config.policies
    breaker, admission = config.breaker, config.admission
    lines += [
        "",
        f"deadlines: {_deadlines(config.deadlines)}",
        f"retry: {_retry(top.retry)}",
        f"breaker: opens after {breaker.failures} consecutive failures or "
        f"{breaker.error_rate:.0%} of >= {breaker.min_requests} attempts in {breaker.window:g}s; "
        f"open {breaker.open_for:g}s, doubling to {breaker.max_open_for:g}s; "
        f"spent quota or refused key {breaker.quota_open_for:g}s",
        f"admission: {admission.max_in_flight} requests in flight, "
        f"{admission.per_target} per target; upstream connections "
        + ", ".join(f"{name} {p.max_connections}" for name, p in config.providers.items())
        + f", a full pool waited on for {admission.pool_wait:g}s at most (then: busy)",
        *_extras(top),
        f"server: {config.server.host}:{config.server.port}, "
        f"max body {config.server.max_body_bytes} bytes, "
        f"{config.server.max_inflight_bytes} in flight, "
        f"max answer {config.server.max_answer_bytes} bytes, "
        f"send timeout {config.server.send_timeout:g}s, drain {config.server.drain:g}s",
        _door(config.server),
        *exposure_summary(config),
        *_health(config),
        *_observability(config),
        "direct: '<provider>/<model>' for the targets of virtual models"
        + "".join(
            f"; {name}/{', '.join(p.direct)}" for name, p in config.providers.items() if p.direct
        ),
    ]
    warnings = exposure_warnings(config)
    if warnings:
        lines += ["", *(f"WARNING: {w}" for w in warnings)]
    return "\n".join(lines)


def _auth(config: Config) -> str:
    """Names, sources, grants, limits and expiry of the caller keys; never a key."""
    auth = config.auth
    if auth is None:
        return "off (anyone who reaches the port may use every model)"
    store = (
        f"; keys kept in the store (`failsoft keys`, /admin/keys) checked every {auth.refresh:g}s"
    )
    default = _limits(auth.limits)
    defaults = f"; every key without its own limits: {default}" if default else ""
    if not auth.keys:
        return "required; none in the config" + store + defaults
    parts = []
    for k in auth.keys:
        extras = [f"from {k.key.source}"]
        extras.append("models " + ", ".join(k.models) if k.models else "all virtual models")
        if k.expires:
            extras.append(f"expires {k.expires}")
        if k.limits is not None:
            extras.append(_limits(k.limits) or "no limits")
        parts.append(f"{k.name} ({'; '.join(extras)})")
    return "required: " + ", ".join(parts) + store + defaults


def _limits(limits: KeyLimits) -> str:
    """`rpm 600, tpm 200000, 20 at once, $5/day`, or "" for none."""
    out = []
    if limits.rpm is not None:
        out.append(f"rpm {limits.rpm}")
    if limits.tpm is not None:
        out.append(f"tpm {limits.tpm}")
    if limits.concurrency is not None:
        out.append(f"{limits.concurrency} at once")
    if limits.budget is not None:
        out.append(f"${limits.budget:g}/{limits.budget_period}")
    return ", ".join(out)


def _health(config: Config) -> list[str]:
    h, status = config.health, config.status
    lines = [
        f"health: degraded >= {h.degraded:.0%}, partial >= {h.partial:.0%}, major >= "
        f"{h.major:.0%} errors (of >= {h.min_requests} attempts); incident after "
        f"{h.open_after:g}s at {h.incident_at.replace('_', ' ')}, resolved after "
        f"{h.resolve_after:g}s quiet",
        "status page: "
        + (
            ("public" if status.public else "admin token only") + " at /status"
            if status.enabled
            else "off"
        ),
        "history: " + _store(config.store.url),
        "shared state: "
        + (
            f"{_store(config.state.url)} (prefix {config.state.prefix!r}, batches every "
            f"{config.state.publish_every:g}s)"
            if config.state.url
            else "off (each process decides alone)"
        ),
        "admin API: "
        + (f"on (token from {config.admin.token.source})" if config.admin.token else "off")
        + (
            f"; metrics token from {config.admin.metrics_token.source}"
            if config.admin.metrics_token
            else ""
        ),
        "caller keys: " + _auth(config),
    ]
    if config.auth is not None:
        overrides = f", {len(config.pricing)} set in `pricing`" if config.pricing else ""
        lines.append(
            "spend: counted per key (docs/spend.md); prices from the genai-prices table" + overrides
        )
    if config.webhooks:
        lines.append(
            "webhooks: "
            + ", ".join(
                f"{hook.url.split('/')[2]} ({hook.format}{', signed' if hook.secret else ''})"
                for hook in config.webhooks
            )
        )
    return lines


def _observability(config: Config) -> list[str]:
    """The log format and tracing, when not the defaults."""
    lines = []
    if config.log.format == "json":
        lines.append("log: one JSON object per line (access lines included)")
    tracing = config.tracing
    if tracing.enabled:
        where = _store(tracing.endpoint) if tracing.endpoint else "OTEL_EXPORTER_OTLP_* or default"
        extras = [f"service {tracing.service_name or 'OTEL_SERVICE_NAME or failsoft'}"]
        extras.append(f"sampling {tracing.sample_ratio:.0%} of new traces")
        if tracing.headers:
            sources = ", ".join(f"{k} from {v.source}" for k, v in tracing.headers.items())
            extras.append(f"headers {sources}")
        line = f"tracing: OTLP/HTTP to {where} ({'; '.join(extras)})"
        if importlib.util.find_spec("opentelemetry.sdk") is None:
            line += "; NOT INSTALLED (pip install 'failsoft[otel]'): would serve untraced"
        lines.append(line)
    if config.transport.client != "native":
        lines.append(f"transport: the proxied path over {config.transport.client}")
    return lines


def _store(url: str | None) -> str:
    """The store URL without credentials."""
    if url is None:
        return "sqlite:///failsoft.db under `failsoft serve`, memory in library mode"
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def _deadlines(d: Deadlines) -> str:
    if d.first_token == "auto":
        a = d.adaptive
        learnt = f"{a.factor:g} x p{a.quantile * 100:g}, >= {a.floor:g}s"
        first = f"auto (cold {a.cold:g}s, then {learnt})"
    else:
        first = f"{d.first_token:g}s"
    return (
        f"connect {d.connect:g}s, first_byte {d.first_byte:g}s, first_token "
        f"{first} then the next target races, idle {d.idle:g}s, total {d.total:g}s"
    )


def _retry(r: Retry) -> str:
    return (
        f"{r.max_attempts} attempts per target on {', '.join(r.retry_on)}; backoff "
        f"{r.backoff.base:g}-{r.backoff.cap:g}s; waits <= {r.max_wait:g}s while a backup "
        f"can answer; budget {r.budget.ratio:.0%} + {r.budget.min_per_second:g}/s"
    )


def _extras(p: Policies) -> list[str]:
    out = []
    if p.balance.strategy != "ordered":
        out.append(f"balance: {p.balance.strategy}")
    if p.hedge.enabled:
        delay = p.hedge.delay if isinstance(p.hedge.delay, str) else f"{p.hedge.delay:g}s"
        out.append(f"hedge: after {delay} without a first token")
    if p.resume.enabled:
        out.append(
            f"resume: on (up to {p.resume.max_resumes} per request, prefill {p.resume.prefill})"
        )
    else:
        out.append("resume: off (a stream that breaks after it started ends with an error)")
    cache = p.cache
    if cache.enabled:
        where = cache.backend + (f" {cache.url.split('@')[-1]}" if cache.url else "")
        semantic = f", semantic >= {cache.semantic.threshold:g}" if cache.semantic.enabled else ""
        out.append(
            f"cache: {where}, fresh {cache.ttl:g}s, stale-if-error {cache.stale_if_error:g}s"
            f"{semantic}"
        )
    if p.degrade.lighter or p.degrade.static is not None:
        rungs = [*p.degrade.lighter, *(["static answer"] if p.degrade.static else [])]
        out.append("degrade: " + ", then ".join(rungs))
    return out


def _door(server: ServerConfig) -> str:
    """The connection limits (server/door.py), one line."""
    per_client = server.max_connections_per_client or "no cap"
    total = server.max_connections or "no cap"
    return (
        f"connections: head <= {server.max_head_bytes} bytes and {server.max_headers} headers "
        f"within {server.head_timeout:g}s, body within {server.body_timeout:g}s; "
        f"{per_client} per client address, {total} in all"
    )
