"""Sections 3 and 4 run in interleaved rounds (direct, floor, gateway per dialect, every
round in a rotated order), so that a change in the machine's load between two phases falls
on every row alike instead of on one. Here the rows of all rounds are folded into one row per
dialect, stream count and path: each figure is the median over the rounds, its min-max is
kept beside it, and the per-round rows stay in the JSON as `<section>_rounds`."""

from __future__ import annotations

import statistics
from typing import Any

SUMMED = ("ok", "error_count", "content_events", "connects", "reconnects", "window_s")
"""Counts that add up over the rounds (the rest is a median)."""
SPREAD = ("ttfc_us", "ttfb_us", "gap_us", "relay_us", "added_us")
"""Percentile dicts whose min-max over the rounds is kept in `ranges`."""
LABELS = ("dialect", "streams", "path")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _median_tree(values: list[Any]) -> Any:
    """Median of each numeric leaf over the rounds (None where no round has one); dicts are
    folded key by key; anything else is the first round's."""
    if all(isinstance(v, dict) for v in values):
        keys = dict.fromkeys(k for v in values for k in v)
        return {k: _median_tree([v[k] for v in values if k in v]) for k in keys}
    numbers = [v for v in values if _number(v)]
    if numbers:
        return statistics.median(numbers)
    return next((v for v in values if v is not None), None)


def _min_max(values: list[Any]) -> list[float] | None:
    numbers = [v for v in values if _number(v)]
    return [min(numbers), max(numbers)] if numbers else None


def fold_rows(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One dialect, stream count and path over its rounds: medians, sums of the counts,
    and `ranges` (min-max over the rounds) of the percentiles and of the CPU per unit."""
    body = [{k: v for k, v in r.items() if k not in ("round", *LABELS)} for r in rows]
    out: dict[str, Any] = {k: rows[0][k] for k in LABELS if k in rows[0]}
    out.update(_median_tree(body))
    for key in SUMMED:
        if any(key in r for r in rows):
            out[key] = sum(r.get(key, 0) for r in rows)
    if "window_s" in out:
        out["window_s"] = round(out["window_s"], 3)
        out["ok_per_s"] = round(out["ok"] / out["window_s"], 1) if out["window_s"] else 0.0
    if "events_per_stream" in out:
        out["events_per_stream"] = round(out["content_events"] / out["ok"], 2) if out["ok"] else 0
    errors: dict[str, int] = {}
    for r in rows:
        for name, count in r.get("errors", {}).items():
            errors[name] = errors.get(name, 0) + count
    out["errors"] = errors
    out["runs"] = max(r.get("runs", 1) for r in rows)
    out["rounds"] = len(rows)
    ranges: dict[str, Any] = {}
    for field in SPREAD:
        dicts = [r[field] for r in rows if isinstance(r.get(field), dict)]
        if dicts:
            keys = dict.fromkeys(k for d in dicts for k in d)
            ranges[field] = {k: _min_max([d.get(k) for d in dicts]) for k in keys}
    cpu = _min_max([r.get("gw_cpu_us_per_unit") for r in rows])
    if cpu is not None:
        ranges["gw_cpu_us_per_unit"] = cpu
    out["ranges"] = ranges
    return out


def fold(results: dict[str, Any], section: str) -> None:
    """Replace `results[section]`'s per-round rows (those with a `round` label) by one row
    per dialect, stream count and path, and keep the per-round rows as
    `results[section + "_rounds"]`. Rows without rounds (an older run) are left alone."""
    rows = results.get(section, [])
    if not any("round" in r for r in rows):
        return
    results[f"{section}_rounds"] = rows
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(row.get(k) for k in LABELS), []).append(row)
    results[section] = [fold_rows(group) for group in groups.values()]
