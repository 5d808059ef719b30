"""Section 8 (with --compare REV): the older revision (A) against this tree (B), measured
A/B within each round; every figure is a per-round ratio, with its median and spread, so
that a difference smaller than the spread reads as none."""

from __future__ import annotations

from typing import Any

from fsbench.report.tables import number, table


def render(results: dict[str, Any]) -> list[str]:
    meta = results["meta"].get("compare", {})
    rows = results.get("compare", [])
    rounds = max((r["round"] for r in rows), default=0)
    out = [
        "",
        f"8. Compare: A = {meta.get('commit')} ({meta.get('rev')}: {meta.get('subject')}), "
        f"B = this tree; {rounds} rounds, A then B for each path within a round, same "
        "simulator and floor. Ratios B/A below 1 are B cheaper (CPU) or faster (latency); "
        "req/s B/A above 1 is B faster. 'median (min-max)' over the rounds.",
    ]
    lines = []
    for entry in results.get("compare_ratios", []):
        digits = 0 if entry["metric"].endswith("us/req") else 2
        lines.append(
            [
                entry["test"],
                entry["path"],
                entry["metric"],
                f"{number(entry['median'], digits)} ({number(entry['min'], digits)}-"
                f"{number(entry['max'], digits)})",
                " ".join(number(v, digits) for v in entry["per_round"]),
            ]
        )
    out.append(table(["test", "path", "metric", "median (min-max)", "per round"], lines))
    errors = sum(r.get("error_count", 0) for r in rows)
    if errors:
        out.append(f"   {errors} errors in the compare rows (see the notes)")
    return out
