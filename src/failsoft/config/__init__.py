"""Load and validate failsoft's YAML config.

`load_config(path)` returns a frozen `Config` or raises `ConfigError` listing every problem
with its line and dotted key path, e.g.::

    failsoft.yaml: 2 problems:
      - line 3: providers.openai.dialect: expected one of 'openai', 'anthropic', got 'oai'
      - line 9: models.opus[1].provider: unknown provider 'antropic' (did you mean 'anthropic'?)
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path as FilePath
from typing import Any

from failsoft.config.auth import AuthConfig, AuthKey
from failsoft.config.exposure import resolve_tls
from failsoft.config.health import (
    AdminConfig,
    HealthConfig,
    ProbeConfig,
    StatusConfig,
    StoreConfig,
    WebhookConfig,
)
from failsoft.config.loader import Document, Path, load_text
from failsoft.config.log import LogConfig
from failsoft.config.models import build_models, build_policies
from failsoft.config.policies import (
    MODEL_SECTIONS,
    AdaptiveFirstToken,
    Admission,
    Backoff,
    BreakerConfig,
    Budget,
    Deadlines,
    Hedge,
    Policies,
    Resume,
    Retry,
    Silence,
)
from failsoft.config.pricing import ModelPrice
from failsoft.config.responses import ResponsesConfig
from failsoft.config.schema import Config, ProviderConfig, ServerConfig, TlsConfig, VirtualModel
from failsoft.config.state import StateConfig
from failsoft.config.tracing import TracingConfig
from failsoft.config.transport import TransportConfig
from failsoft.config.validate import _INVALID, Secret, build, build_list, convert, describe, suggest
from failsoft.errors import ConfigError

__all__ = [
    "AdaptiveFirstToken",
    "AdminConfig",
    "Admission",
    "AuthConfig",
    "AuthKey",
    "Backoff",
    "BreakerConfig",
    "Budget",
    "Config",
    "Deadlines",
    "HealthConfig",
    "Hedge",
    "LogConfig",
    "Policies",
    "ProbeConfig",
    "ProviderConfig",
    "ResponsesConfig",
    "Resume",
    "Retry",
    "Secret",
    "ServerConfig",
    "Silence",
    "StateConfig",
    "StatusConfig",
    "StoreConfig",
    "TlsConfig",
    "TracingConfig",
    "TransportConfig",
    "VirtualModel",
    "WebhookConfig",
    "load_config",
    "parse_config",
]

_TOP_LEVEL = (
    "providers",
    "models",
    *MODEL_SECTIONS,
    "breaker",
    "admission",
    "server",
    "health",
    "status",
    "store",
    "responses",
    "log",
    "tracing",
    "transport",
    "webhooks",
    "admin",
    "state",
    "auth",
    "pricing",
)


def load_config(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Config:
    """Read, interpolate and validate a config file."""
    file = FilePath(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"cannot read the file: {exc.strerror or exc}"], str(file)) from None
    return parse_config(text, source=str(file), env=env)


def parse_config(
    text: str, source: str = "<config>", env: Mapping[str, str] | None = None
) -> Config:
    """Validate config text (YAML or JSON)."""
    raw, doc = load_text(text, source, env)
    config = _build(raw, doc) if not doc.problems or raw is not None else None
    if doc.problems or config is None:
        raise ConfigError(doc.sorted_problems() or ["the config is empty"], source)
    return config


def _build(raw: Any, doc: Document) -> Config | None:
    if not isinstance(raw, dict):
        doc.problem(
            (), f"the config must be a mapping with 'providers' and 'models', got {describe(raw)}"
        )
        return None
    for key in raw:
        if key not in _TOP_LEVEL:
            hint = suggest(key, _TOP_LEVEL) or f" (valid keys: {', '.join(_TOP_LEVEL)})"
            doc.problem((key,), "unknown top-level key" + hint)
    policies = build_policies(raw, (), Policies(), doc)
    server = build(ServerConfig, raw.get("server"), ("server",), doc)
    if server is not None:
        if server.max_inflight_bytes < server.max_body_bytes:
            doc.problem(
                ("server", "max_inflight_bytes"),
                f"must be at least server.max_body_bytes ({server.max_body_bytes}): a body "
                "that large could never be accepted",
            )
        server = resolve_tls(server, doc)
    breaker = build(BreakerConfig, raw.get("breaker"), ("breaker",), doc)
    admission = build(Admission, raw.get("admission"), ("admission",), doc)
    health = build(HealthConfig, raw.get("health"), ("health",), doc)
    status = build(StatusConfig, raw.get("status"), ("status",), doc)
    store = build(StoreConfig, raw.get("store"), ("store",), doc)
    if store is not None:
        store = _anchor_store(store, doc.source)
    admin = build(AdminConfig, raw.get("admin"), ("admin",), doc)
    responses = build(ResponsesConfig, raw.get("responses"), ("responses",), doc)
    log = build(LogConfig, raw.get("log"), ("log",), doc)
    tracing = build(TracingConfig, raw.get("tracing"), ("tracing",), doc)
    transport = build(TransportConfig, raw.get("transport"), ("transport",), doc)
    state = build(StateConfig, raw.get("state"), ("state",), doc)
    auth = _auth(raw.get("auth"), doc) if "auth" in raw else None
    pricing = convert(dict[str, ModelPrice], raw.get("pricing") or {}, ("pricing",), doc)
    webhooks = build_list(WebhookConfig, raw.get("webhooks"), ("webhooks",), doc)
    providers = _providers(raw.get("providers"), doc)
    raw_providers = raw.get("providers")
    names = set(raw_providers) if isinstance(raw_providers, dict) else None
    models = build_models(raw.get("models"), names, policies or Policies(), doc)
    if (
        policies is None
        or server is None
        or breaker is None
        or admission is None
        or health is None
        or status is None
        or store is None
        or admin is None
        or responses is None
        or log is None
        or tracing is None
        or transport is None
        or state is None
        or ("auth" in raw and auth is None)
        or pricing is _INVALID
        or webhooks is None
        or providers is None
        or models is None
    ):
        return None
    return Config(
        providers,
        models,
        policies,
        server,
        breaker,
        admission,
        health,
        status,
        store,
        webhooks,
        admin,
        doc.source,
        responses,
        log,
        tracing=tracing,
        transport=transport,
        state=state,
        auth=auth,
        pricing=pricing,
    )


def _anchor_store(store: StoreConfig, source: str) -> StoreConfig:
    """A relative SQLite path in `store.url` read from the config file's directory, so that
    `failsoft serve` and `failsoft keys` open the same file wherever they are run from (the
    unset default, `sqlite:///failsoft.db`, stays in the working directory)."""
    url = store.url
    if url is None or not url.startswith("sqlite:///") or url.startswith("sqlite:////"):
        return store
    path = url[len("sqlite:///") :]
    config_file = FilePath(source)
    if path.startswith(":memory:") or not config_file.is_file():
        return store
    anchored = (config_file.parent / path).resolve()
    return dataclasses.replace(store, url="sqlite:///" + str(anchored))


def _auth(raw: Any, doc: Document) -> AuthConfig | None:
    auth = build(AuthConfig, raw, ("auth",), doc)
    if auth is None:
        return None
    problems = auth.problems()
    for path, message in problems:
        doc.problem(("auth", *path), message)
    return None if problems else auth


def _providers(raw: Any, doc: Document) -> dict[str, ProviderConfig] | None:
    path: Path = ("providers",)
    if raw is None or raw == {}:
        doc.problem(path, "at least one provider is required")
        return None
    if not isinstance(raw, dict):
        doc.problem(path, f"expected a mapping of provider names, got {describe(raw)}")
        return None
    out: dict[str, ProviderConfig] = {}
    ok = True
    for name, spec in raw.items():
        if "/" in name or not name.strip():
            doc.problem((*path, name), "a provider name must be non-empty and contain no '/'")
            ok = False
            continue
        provider = build(ProviderConfig, spec, (*path, name), doc)
        if provider is None:
            ok = False
            continue
        if provider.api != "chat" and provider.dialect != "openai":
            doc.problem(
                (*path, name, "api"),
                f"'api: {provider.api}' chooses between OpenAI's APIs: valid only with "
                f"dialect: openai, not {provider.dialect!r} (remove the key)",
            )
            ok = False
            continue
        out[name] = provider
    return out if ok else None
