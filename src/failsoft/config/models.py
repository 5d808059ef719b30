"""The `models:` section: virtual models, their targets and their own policy sections."""

from __future__ import annotations

import dataclasses
from typing import Any

from failsoft.config.cache import CacheConfig, Degrade
from failsoft.config.loader import Document, Path
from failsoft.config.policies import (
    MODEL_SECTIONS,
    Balance,
    Deadlines,
    Hedge,
    Policies,
    Resume,
    Retry,
)
from failsoft.config.schema import VirtualModel
from failsoft.config.validate import build, describe, suggest
from failsoft.types import Target

_SECTION_TYPES: dict[str, type[Any]] = {
    "deadlines": Deadlines,
    "retry": Retry,
    "hedge": Hedge,
    "balance": Balance,
    "resume": Resume,
    "cache": CacheConfig,
    "degrade": Degrade,
}
_TARGET_KEYS = ("provider", "model", "weight")
_MODEL_KEYS = ("targets", "aliases")


def build_policies(
    raw: dict[str, Any], path: Path, base: Policies, doc: Document
) -> Policies | None:
    """The policy sections found in `raw`, each merged key by key over `base`'s."""
    values: dict[str, Any] = {}
    ok = True
    for name in MODEL_SECTIONS:
        section = raw.get(name)
        inherited = getattr(base, name)
        if section is None:
            values[name] = inherited
            continue
        if isinstance(section, dict):
            if name == "cache" and "enabled" not in section:
                section = {**section, "enabled": True}  # a `cache:` section turns it on
            section = deep_merge(dataclasses.asdict(inherited), section)
        built = build(_SECTION_TYPES[name], section, (*path, name), doc)
        if built is None:
            ok = False
        else:
            values[name] = built
    return Policies(**values) if ok else None


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`override` over `base`, mappings merged key by key at every depth."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def build_models(
    raw: Any,
    providers: set[str] | None,
    defaults: Policies,
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
    return out if ok and _aliases_unique(out, doc) else None


def _aliases_unique(models: dict[str, VirtualModel], doc: Document) -> bool:
    """An alias names one model: the same alias (or pattern) twice, or an alias that is
    another model's name, would leave a caller's name ambiguous."""
    owner: dict[str, str] = {}
    ok = True
    for model in models.values():
        for i, alias in enumerate(model.aliases):
            where = ("models", model.name, "aliases", i)
            if alias in models:
                doc.problem(where, f"{alias!r} is already the name of a model")
                ok = False
            elif alias in owner:
                first = owner[alias]
                other = "this model" if first == model.name else f"model {first!r}"
                doc.problem(where, f"duplicate alias {alias!r} (already an alias of {other})")
                ok = False
            else:
                owner[alias] = model.name
    return ok


def _aliases(raw: Any, path: Path, doc: Document) -> tuple[str, ...] | None:
    if not isinstance(raw, list):
        doc.problem(path, f"expected a list of names or glob patterns, got {describe(raw)}")
        return None
    bad = [i for i, alias in enumerate(raw) if not isinstance(alias, str) or not alias.strip()]
    for i in bad:
        doc.problem((*path, i), f"expected a non-empty string, got {describe(raw[i])}")
    return None if bad else tuple(raw)


def _model(
    name: str,
    spec: Any,
    path: Path,
    providers: set[str] | None,
    defaults: Policies,
    doc: Document,
) -> VirtualModel | None:
    policies: Policies | None = defaults
    aliases: tuple[str, ...] | None = ()
    if isinstance(spec, dict):
        for key in spec:
            if key not in _MODEL_KEYS and key not in MODEL_SECTIONS:
                doc.problem(
                    (*path, key), "unknown key" + suggest(key, (*_MODEL_KEYS, *MODEL_SECTIONS))
                )
        policies = build_policies(spec, path, defaults, doc)
        if "aliases" in spec:
            aliases = _aliases(spec["aliases"], (*path, "aliases"), doc)
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
    weights: list[float] = []
    ok = policies is not None
    for i, entry in enumerate(entries):
        found = _target(entry, (*tpath, i), providers, doc)
        if found is None:
            ok = False
            continue
        target, weight = found
        if target in targets:
            doc.problem((*tpath, i), f"duplicate target {target.label}")
            ok = False
        else:
            targets.append(target)
            weights.append(weight)
    if policies is not None:
        for i, label in enumerate(policies.degrade.lighter):
            ok = _target(label, (*path, "degrade", "lighter", i), providers, doc) is not None and ok
    if not ok or policies is None or aliases is None:
        return None
    return VirtualModel(name, tuple(targets), policies, tuple(weights), aliases)


def _target(
    entry: Any, path: Path, providers: set[str] | None, doc: Document
) -> tuple[Target, float] | None:
    provider: Any
    model: Any
    weight: Any = 1.0
    if isinstance(entry, str):
        provider, sep, model = entry.partition("/")
        if not sep or not provider or not model:
            doc.problem(path, f"expected 'provider/model' or {{provider, model}}, got {entry!r}")
            return None
    elif isinstance(entry, dict):
        for key in entry:
            if key not in _TARGET_KEYS:
                doc.problem((*path, key), "unknown key" + suggest(key, _TARGET_KEYS))
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
        weight = entry.get("weight", 1.0)
        if isinstance(weight, bool) or not isinstance(weight, int | float) or weight <= 0:
            doc.problem(
                (*path, "weight"), f"must be a number greater than 0, got {describe(weight)}"
            )
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
    return Target(provider, model), float(weight)
