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

from failsoft.config.loader import Document, Path, load_text
from failsoft.config.schema import (
    MODEL_SECTIONS,
    Config,
    Deadlines,
    ProviderConfig,
    ServerConfig,
    VirtualModel,
)
from failsoft.config.validate import Secret, build, describe, suggest
from failsoft.errors import ConfigError
from failsoft.types import Target

__all__ = [
    "Config",
    "Deadlines",
    "ProviderConfig",
    "Secret",
    "ServerConfig",
    "VirtualModel",
    "load_config",
    "parse_config",
]

_TOP_LEVEL = ("providers", "models", "deadlines", "server")


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
    deadlines = build(Deadlines, raw.get("deadlines"), ("deadlines",), doc)
    server = build(ServerConfig, raw.get("server"), ("server",), doc)
    providers = _providers(raw.get("providers"), doc)
    raw_providers = raw.get("providers")
    names = set(raw_providers) if isinstance(raw_providers, dict) else None
    models = _models(raw.get("models"), names, deadlines or Deadlines(), doc)
    if deadlines is None or server is None or providers is None or models is None:
        return None
    return Config(providers, models, deadlines, server, doc.source)


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
        out[name] = provider
    return out if ok else None


def _models(
    raw: Any,
    providers: set[str] | None,
    defaults: Deadlines,
    doc: Document,
) -> dict[str, VirtualModel] | None:
    path: Path = ("models",)
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        doc.problem(path, f"expected a mapping of virtual model names, got {describe(raw)}")
        return None
    out: dict[str, VirtualModel] = {}
    ok = True
    for name, spec in raw.items():
        model = _model(name, spec, (*path, name), providers, defaults, doc)
        if model is None:
            ok = False
        else:
            out[name] = model
    return out if ok else None


def _model(
    name: str,
    spec: Any,
    path: Path,
    providers: set[str] | None,
    defaults: Deadlines,
    doc: Document,
) -> VirtualModel | None:
    deadlines: Deadlines | None = defaults
    if isinstance(spec, dict):
        for key in spec:
            if key != "targets" and key not in MODEL_SECTIONS:
                doc.problem(
                    (*path, key), "unknown key" + suggest(key, ("targets", *MODEL_SECTIONS))
                )
        section = spec.get("deadlines")
        if isinstance(section, dict):
            # A per-model section overrides the top-level one key by key.
            section = {**dataclasses.asdict(defaults), **section}
        if section is not None:
            deadlines = build(Deadlines, section, (*path, "deadlines"), doc)
        if "targets" not in spec:
            doc.problem(path, "missing required key 'targets'")
            return None
        entries, tpath = spec["targets"], (*path, "targets")
    elif isinstance(spec, list):
        entries, tpath = spec, path
    else:
        doc.problem(
            path, f"expected a list of targets or a mapping with 'targets', got {describe(spec)}"
        )
        return None
    if not isinstance(entries, list) or not entries:
        doc.problem(tpath, "expected a non-empty list of targets")
        return None
    targets: list[Target] = []
    ok = deadlines is not None
    for i, entry in enumerate(entries):
        target = _target(entry, (*tpath, i), providers, doc)
        if target is None:
            ok = False
        elif target in targets:
            doc.problem((*tpath, i), f"duplicate target {target.label}")
            ok = False
        else:
            targets.append(target)
    if not ok or deadlines is None:
        return None
    return VirtualModel(name, tuple(targets), deadlines)


def _target(entry: Any, path: Path, providers: set[str] | None, doc: Document) -> Target | None:
    provider: Any
    model: Any
    if isinstance(entry, str):
        provider, sep, model = entry.partition("/")
        if not sep or not provider or not model:
            doc.problem(path, f"expected 'provider/model' or {{provider, model}}, got {entry!r}")
            return None
    elif isinstance(entry, dict):
        for key in entry:
            if key not in ("provider", "model"):
                doc.problem((*path, key), "unknown key" + suggest(key, ("provider", "model")))
        provider, model = entry.get("provider"), entry.get("model")
        missing = [k for k, v in (("provider", provider), ("model", model)) if v is None]
        if missing:
            doc.problem(path, "missing required key " + " and ".join(repr(m) for m in missing))
            return None
        bad = [
            (k, v)
            for k, v in (("provider", provider), ("model", model))
            if not isinstance(v, str) or not v
        ]
        for key, value in bad:
            doc.problem((*path, key), f"expected a non-empty string, got {describe(value)}")
        if bad:
            return None
    else:
        doc.problem(path, f"expected a target mapping {{provider, model}}, got {describe(entry)}")
        return None
    if providers is not None and provider not in providers:
        known = ", ".join(sorted(providers)) or "none"
        doc.problem(
            (*path, "provider") if isinstance(entry, dict) else path,
            f"unknown provider {provider!r}{suggest(provider, providers)}; "
            f"defined providers: {known}",
        )
        return None
    return Target(provider, model)
