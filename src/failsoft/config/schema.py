"""The config file's shape: frozen dataclasses with safe defaults.

`providers` and `models` alone are a complete config; every other section has defaults
chosen so that a silent upstream can never hang a caller.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from failsoft.config.auth import AuthConfig
from failsoft.config.health import (
    AdminConfig,
    HealthConfig,
    ProbeConfig,
    StatusConfig,
    StoreConfig,
    WebhookConfig,
)
from failsoft.config.log import LogConfig
from failsoft.config.policies import Admission, BreakerConfig, Deadlines, Policies
from failsoft.config.pricing import ModelPrice
from failsoft.config.responses import ResponsesConfig
from failsoft.config.state import StateConfig
from failsoft.config.tracing import TracingConfig
from failsoft.config.transport import TransportConfig
from failsoft.config.validate import Secret, check, non_negative, positive
from failsoft.types import Dialect, Target


def _url(value: str) -> str | None:
    if not value.startswith(("http://", "https://")):
        return f"must be an http:// or https:// URL, got {value!r}"
    if "?" in value or "#" in value:
        return "must not contain a query or fragment"
    return None


def _limits(value: dict[str, int]) -> str | None:
    bad = [f"{k}: {v}" for k, v in value.items() if v < 1]
    return f"must be positive token counts, got {', '.join(bad)}" if bad else None


def _port(value: int) -> str | None:
    return None if 0 <= value <= 65535 else f"must be a TCP port (0-65535), got {value}"


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    dialect: Literal["openai", "anthropic", "gemini"]
    base_url: str = check(_url)
    api: Literal["chat", "responses"] = "chat"
    """Which OpenAI API the provider is sent (`dialect: openai` only): `chat` posts to
    `{base_url}/chat/completions`, `responses` to `{base_url}/responses`, for models that
    only the Responses API serves (e.g. gpt-5-pro, the codex models)."""
    api_key: Secret | None = None
    status_page: str | None = None
    """The provider's public status page (`https://status.claude.com`, or the URL of its
    JSON); polled, shown beside failsoft's own observations."""
    status_page_kind: Literal["auto", "statuspage", "incidentio", "google"] = "auto"
    status_components: dict[str, list[str]] = field(default_factory=dict)
    """Status-page component name → models it covers (`["*"]`: every model of this
    provider). Unmapped components are shown for the provider as a whole."""
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    headers: dict[str, str] = field(default_factory=dict)
    max_connections: int = check(positive, 1024)
    """Connections to this provider's upstream in use at once (its own pool: a flood
    toward another provider never takes these). A request that finds all in use waits
    at most `admission.pool_wait` for one, then skips the target as `busy`, which is not
    a failure of the target. A streamed answer holds its connection to its end."""
    always_stream: bool = True
    """Ask this upstream for a stream even for non-streaming calls and assemble the answer,
    so `first_token`/`idle` catch a silent upstream there too. Turn off for servers that
    cannot stream; their non-streaming calls are then bounded by `deadlines.total` only."""
    anthropic_version: str = "2023-06-01"
    """Sent upstream when the caller gave none (Anthropic dialect only). Requests translated
    from another dialect follow its rules: from 2026-10-21 on, sampling parameters are
    dropped (with a warning) because that API version refuses them."""
    max_output_tokens: dict[str, int] = field(default_factory=dict, metadata={"check": _limits})
    """Output limit per model of this provider (a name or a glob pattern → tokens): a
    request asking for more is lowered to it, with a warning. Well-known models have
    built-in limits (`translate/output_cap.py`); these add to or override them."""
    default_max_tokens: int = check(positive, 4096)
    """`max_tokens` for requests translated to an Anthropic target that gave none (the
    Messages API requires it)."""
    max_tokens_field: Literal["auto", "max_tokens", "max_completion_tokens"] = "auto"
    """How translated requests name the output limit for an OpenAI-dialect target; `auto`
    is `max_completion_tokens` for api.openai.com and Azure OpenAI (whose reasoning
    models refuse `max_tokens`), `max_tokens` for other OpenAI-compatible servers."""
    prefill: Literal["auto", "on", "off"] = "auto"
    """Whether this provider really continues an answer from a final assistant message
    (mid-stream resume): `on` for vLLM-style servers (sent with `continue_final_message`),
    `off` where it is refused or ignored; `auto` knows the dialects (see docs/resilience.md)
    and remembers a target that refused one."""
    direct: tuple[str, ...] = ()
    """Models of this provider callers may name directly as `<provider>/<model>` (names or
    glob patterns; `["*"]`: any name, which lets callers grow nothing but still makes every
    made-up name an upstream call). A provider's model that is a target of a virtual model
    may always be named directly; any other name is the caller's 404 before an upstream
    call (docs/security.md#direct-model-names). The entry `"@listed"` (not a pattern: no
    model is named that) admits the models the provider itself lists (`GET /models`),
    fetched in the background at start-up and every `list_refresh`."""
    list_refresh: float = check(positive, 600.0)
    """Seconds between fetches of this provider's model list, when `direct` has `"@listed"`
    (a failed fetch keeps the last list it got)."""

    @property
    def wire_dialect(self) -> Dialect:
        """The dialect spoken on the wire: `responses` for an OpenAI provider with
        `api: responses`, else `dialect`."""
        if self.dialect == "openai" and self.api == "responses":
            return "responses"
        return self.dialect

    @property
    def normalized_url(self) -> str:
        url = self.base_url.rstrip("/")
        if self.dialect == "gemini" and urlsplit(url).path in ("", "/"):
            url += "/v1beta"  # like base_url: https://generativelanguage.googleapis.com
        return url


@dataclass(frozen=True, slots=True)
class TlsConfig:
    """The listener's own TLS (`server.tls`): HTTPS without a proxy in front."""

    cert: str
    """PEM certificate chain (the server's certificate first). A relative path is read from
    the config file's directory."""
    key: str
    """PEM private key of that certificate, unencrypted. A relative path is read from the
    config file's directory; keep the file readable by failsoft's user only."""


@dataclass(frozen=True, slots=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = check(_port, 8080)
    max_body_bytes: int = check(positive, 32 * 1024 * 1024)
    """Largest request body accepted (Anthropic's own limit is 32 MB); larger gets 413."""
    max_inflight_bytes: int = check(positive, 1024 * 1024 * 1024)
    """Request bytes all requests in flight may hold at once, per process (1 GiB): a body
    counts from its first byte until its request ends. A request whose declared
    `content-length` (or whose body, as it arrives) would go beyond it is refused with
    503 (Anthropic: 529) and `Retry-After`, before its body is read: 32 MiB bodies ×
    4,096 requests in flight would otherwise be 128 GiB (docs/security.md#limits). At
    least `max_body_bytes`."""
    max_answer_bytes: int = check(positive, 64 * 1024 * 1024)
    """Largest upstream answer read (64 MiB; an LLM answer is rarely over 1 MiB): a
    non-streaming answer (assembled from a stream or read as JSON), a stream relayed to a
    streaming caller (counted over all its bytes), and any one SSE event (at most 16 MiB
    in any case). Beyond it the attempt fails as `too_large`: the next target is tried,
    or, once a stream was committed, it ends with the in-band error event. It counts as
    a failure of the target (docs/resilience.md)."""
    send_timeout: float = check(positive, 30.0)
    """Seconds a caller may take nothing of what is queued for it while a write to it waits
    (its connection's buffers are full). A caller that reads nothing for this long is
    disconnected and its upstream stream closed, so a stalled reader cannot hold an
    upstream connection, an in-flight slot and buffered bytes
    (docs/operations.md#slow-readers-and-the-send-deadline)."""
    drain: float = check(non_negative, 30.0)
    """Seconds a SIGTERM leaves requests in flight to finish (`/readyz` answers 503 from the
    signal on). Streams still open then end with their dialect's in-band error event, and
    the process exits within `drain` + 5 s (docs/operations.md#shutdown-and-drain)."""
    max_head_bytes: int = check(positive, 64 * 1024)
    """Largest request head (request line and headers) accepted, in bytes; a larger one is
    answered 431 and the connection closed, before more of it is buffered (Envoy's default
    is 60 KiB, nginx's 32 KiB). SDK requests send well under 4 KiB."""
    max_headers: int = check(positive, 100)
    """Most header lines in one request (Envoy's default); more: 431."""
    head_timeout: float = check(positive, 10.0)
    """Seconds a request head may take to arrive, from the connection's start or from the
    first byte of a request on a kept-alive connection: then 408 and the connection closed
    (closed without an answer when nothing arrived). A slow-loris client holds nothing for
    longer. Idle kept-alive connections are closed after 30 s as before."""
    body_timeout: float = check(positive, 60.0)
    """Seconds a request body may take to arrive once its head has (32 MiB at 60 s is
    about 0.5 MiB/s): then 408 and the connection closed. The answer, however long it
    streams, is not under this deadline."""
    max_connections_per_client: int = check(non_negative, 256)
    """Open connections from one client address (per process); more are answered 503 and
    closed at once. 0: no cap. Behind a proxy or load balancer every caller has the
    proxy's address: raise it or set 0 there (docs/security.md#limits)."""
    max_connections: int = check(non_negative, 0)
    """Open connections to this process in all; more are answered 503 and closed at once.
    0: no cap but the process's file-descriptor limit (`ulimit -n`)."""
    tls: TlsConfig | None = None
    """Serve HTTPS with this certificate and key (restart-only). Unset: plain HTTP, which
    is fine on 127.0.0.1 or behind a TLS-terminating proxy, and never across a network:
    caller keys travel in every request (docs/deploy.md#tls)."""


@dataclass(frozen=True, slots=True)
class VirtualModel:
    name: str
    targets: tuple[Target, ...]
    policies: Policies = field(default_factory=Policies)
    weights: tuple[float, ...] = ()
    """Per target, for `balance.strategy: weighted` (all 1 when not given)."""
    aliases: tuple[str, ...] = ()
    """Other names callers may use for this model: literal names, and glob patterns
    (`claude-*`, `*-haiku-*`) for the names clients invent with every release."""

    @property
    def deadlines(self) -> Deadlines:
        return self.policies.deadlines

    def targets_for(self, providers: dict[str, ProviderConfig], dialect: Dialect) -> list[Target]:
        return [t for t in self.targets if providers[t.provider].wire_dialect == dialect]


@dataclass(frozen=True, slots=True)
class Config:
    providers: dict[str, ProviderConfig]
    models: dict[str, VirtualModel]
    policies: Policies
    server: ServerConfig
    breaker: BreakerConfig = field(default_factory=BreakerConfig)
    admission: Admission = field(default_factory=Admission)
    health: HealthConfig = field(default_factory=HealthConfig)
    status: StatusConfig = field(default_factory=StatusConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    webhooks: tuple[WebhookConfig, ...] = ()
    admin: AdminConfig = field(default_factory=AdminConfig)
    source: str = "<config>"
    responses: ResponsesConfig = field(default_factory=ResponsesConfig)
    log: LogConfig = field(default_factory=LogConfig)
    tracing: TracingConfig = field(default_factory=TracingConfig)
    transport: TransportConfig = field(default_factory=TransportConfig)
    """The proxied path's HTTP client (restart-only)."""
    state: StateConfig = field(default_factory=StateConfig)
    """Breakers and retry budgets shared through Redis (docs/fleet.md)."""
    auth: AuthConfig | None = None
    """Caller keys (docs/security.md); None: no key asked, as before the section existed."""
    pricing: dict[str, ModelPrice] = field(default_factory=dict)
    """Prices (USD per million tokens) by `provider/model` or model name, over the
    maintained table (docs/spend.md)."""
    names: ModelNames = field(init=False, repr=False, compare=False)
    """Aliases and patterns of the virtual models, with the cache of names matched."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", ModelNames(self.models))

    @property
    def deadlines(self) -> Deadlines:
        return self.policies.deadlines

    def resolve(self, name: str) -> VirtualModel | None:
        """A virtual model by name, else by alias, else `provider/model` as a one-target
        plan when that model may be named directly (`direct`), else by the first pattern
        that matches (in config order), else None."""
        found = self.models.get(name)
        if found is not None:
            return found
        alias = self.names.aliases.get(name)
        if alias is not None:
            return self.models[alias]
        provider, sep, model = name.partition("/")
        if sep and model and provider in self.providers and self.direct(provider, model):
            return VirtualModel(name, (Target(provider, model),), self.policies)
        matched = self.names.match(name)
        return None if matched is None else self.models[matched]

    def direct(self, provider: str, model: str) -> bool:
        """Whether `provider/model` may be asked for by name: a target of a virtual model,
        or a model the provider lists or its `direct` list names (callers choose these names, and
        each name they could invent would otherwise be an upstream call, a breaker, a
        health component)."""
        names = self.names
        if model in names.targets.get(provider, ()):
            return True
        allowed = self.providers[provider].direct
        if not allowed:
            return False
        listed = names.listed.get(provider)
        if listed is not None and model in listed:
            return True
        key = f"{provider}/{model}"
        if key in names.direct:
            return True
        if len(names.direct) >= MAX_DIRECT_NAMES or not any(
            fnmatch.fnmatchcase(model, p) for p in allowed if p != LISTED
        ):
            return False
        names.direct[key] = None
        return True


GLOB = frozenset("*?[")
LISTED = "@listed"
"""The `direct` entry that admits the models the provider lists (providers/listing.py)."""
MAX_DIRECT_NAMES = 1024
"""Distinct names a provider's `direct` patterns admit per process (per config: a reload
starts afresh). Every name admitted gets per-target router state (a breaker, latency
samples); further names are refused like unlisted ones."""
MAX_MATCHED = 4096
"""Names remembered after a pattern lookup; callers choose names, so the map is bounded
(emptied when full: a lookup costs one regex match per pattern, the cache only saves it)."""


def is_pattern(alias: str) -> bool:
    return not GLOB.isdisjoint(alias)


class ModelNames:
    """Aliases (exact names) and glob patterns → the virtual model they name."""

    __slots__ = ("aliases", "direct", "listed", "matched", "patterns", "targets")

    def __init__(self, models: dict[str, VirtualModel]) -> None:
        self.aliases: dict[str, str] = {}
        self.targets: dict[str, frozenset[str]] = {}
        """Provider → the models of it that virtual models target (nameable directly)."""
        by_provider: dict[str, set[str]] = {}
        for plan in models.values():
            for target in plan.targets:
                by_provider.setdefault(target.provider, set()).add(target.model)
        self.targets = {p: frozenset(ms) for p, ms in by_provider.items()}
        self.direct: dict[str, None] = {}
        """`provider/model` names a `direct` pattern admitted (at most MAX_DIRECT_NAMES)."""
        self.listed: dict[str, frozenset[str]] = {}
        """Provider → the models it last listed (`direct: ["@listed"]`), set by the runtime's
        `ModelLister` and handed to the next config on a reload."""
        self.patterns: list[tuple[re.Pattern[str], str, str]] = []
        """(compiled, pattern as written, model name), in config order."""
        for model in models.values():
            for alias in model.aliases:
                if is_pattern(alias):
                    self.patterns.append((re.compile(fnmatch.translate(alias)), alias, model.name))
                else:
                    self.aliases.setdefault(alias, model.name)
        self.matched: dict[str, str | None] = {}

    def match(self, name: str) -> str | None:
        """The virtual model whose pattern matches `name` first, or None."""
        if not self.patterns:
            return None
        try:
            return self.matched[name]
        except KeyError:
            pass
        found = next((model for rx, _, model in self.patterns if rx.match(name)), None)
        if len(self.matched) >= MAX_MATCHED:
            self.matched.clear()
        self.matched[name] = found
        return found
