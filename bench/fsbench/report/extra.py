"""Figures derived across sections for issue 18: CPU per answered token (long answers
against short ones), the outage case (outage p99 against healthy p99) and the --compare
ratios (B/A per round). Beside `derive`, which keeps the per-row differences to direct."""

from __future__ import annotations

import statistics
from typing import Any

from fsbench.settings import ANSWER_TOKENS, FLOOR, GW_AS, GW_NS, LONG_ANSWER_TOKENS


def find(rows: list[dict[str, Any]], **match: Any) -> dict[str, Any] | None:
    for row in rows:
        if all(row.get(k) == v for k, v in match.items()):
            return row
    return None


def _cpu(row: dict[str, Any] | None) -> float | None:
    value = (row or {}).get("gw_cpu_us_per_unit")
    return float(value) if value is not None else None


def _p(row: dict[str, Any] | None, q: str) -> float | None:
    value = (row or {}).get("latency_us", {}).get(q)
    return float(value) if value is not None else None


def per_token(results: dict[str, Any], concurrency: int) -> dict[str, Any]:
    """(CPU/req with 500-token answers − CPU/req with 50-token answers) / 450, at the same
    concurrency (sections 2b and 2): what each answered token costs the process."""
    span = LONG_ANSWER_TOKENS - ANSWER_TOKENS
    out: dict[str, Any] = {}
    for path in (GW_AS, GW_NS, FLOOR):
        short = _cpu(find(results["throughput"], connections=concurrency, path=path))
        long = _cpu(find(results["length"], connections=concurrency, path=path))
        out[path] = {
            "connections": concurrency,
            "cpu_us_per_req_short": short,
            "cpu_us_per_req_long": long,
            "cpu_us_per_token": (long - short) / span
            if short is not None and long is not None
            else None,
        }
    return out


def outage_summary(results: dict[str, Any]) -> dict[str, Any]:
    """Per mode: the caller's p99 during the outage minus its p99 while healthy."""
    out: dict[str, Any] = {}
    for path in (GW_AS, GW_NS):
        healthy = find(results.get("outage", []), phase="healthy", path=path)
        bad = find(results.get("outage", []), phase="outage", path=path)
        if healthy is None or bad is None:
            continue
        h99, o99 = _p(healthy, "p99"), _p(bad, "p99")
        out[path] = {
            "rate": bad.get("rate"),
            "healthy_p50_us": _p(healthy, "p50"),
            "healthy_p99_us": h99,
            "outage_p50_us": _p(bad, "p50"),
            "outage_p99_us": o99,
            "added_p99_us": o99 - h99 if o99 is not None and h99 is not None else None,
            "errors": healthy.get("error_count", 0) + bad.get("error_count", 0),
            "outage_attempts": bad.get("attempts_header", {}),
        }
    return out


def _ratio(a: float | None, b: float | None) -> float | None:
    return b / a if a and b is not None else None


def _spread(name: str, test: str, path: str, values: list[float | None]) -> dict[str, Any]:
    kept = [v for v in values if v is not None]
    return {
        "test": test,
        "path": path,
        "metric": name,
        "per_round": values,
        "median": statistics.median(kept) if kept else None,
        "min": min(kept) if kept else None,
        "max": max(kept) if kept else None,
    }


def compare_ratios(results: dict[str, Any]) -> list[dict[str, Any]]:
    """--compare: per test and path, B/A of each round (and each revision against the
    floor of the same round, for throughput), with the median and the spread."""
    rows = results.get("compare", [])
    if not rows:
        return []
    rounds = sorted({r["round"] for r in rows})
    tests = list(dict.fromkeys(r["test"] for r in rows))
    out: list[dict[str, Any]] = []
    for test in tests:
        closed = test.startswith("c")
        for path in (GW_AS, GW_NS):
            a_rows = [find(rows, round=n, test=test, rev="A", path=path) for n in rounds]
            b_rows = [find(rows, round=n, test=test, rev="B", path=path) for n in rounds]
            floors = [find(rows, round=n, test=test, path=FLOOR) for n in rounds]
            pairs = list(zip(a_rows, b_rows, strict=True))
            if closed:
                rps = [
                    _ratio((a or {}).get("ok_per_s"), (b or {}).get("ok_per_s")) for a, b in pairs
                ]
                out.append(_spread("req/s B/A", test, path, rps))
            out.append(
                _spread("CPU/req B/A", test, path, [_ratio(_cpu(a), _cpu(b)) for a, b in pairs])
            )
            if closed:
                for rev, revs in (("A", a_rows), ("B", b_rows)):
                    vs_floor = [
                        _ratio((f or {}).get("ok_per_s"), (r or {}).get("ok_per_s"))
                        for f, r in zip(floors, revs, strict=True)
                    ]
                    out.append(_spread(f"{rev} req/s / floor", test, path, vs_floor))
            else:
                for q in ("p50", "p99"):
                    out.append(
                        _spread(
                            f"{q} B/A", test, path, [_ratio(_p(a, q), _p(b, q)) for a, b in pairs]
                        )
                    )
            out.append(_spread("A CPU us/req", test, path, [_cpu(a) for a in a_rows]))
            out.append(_spread("B CPU us/req", test, path, [_cpu(b) for b in b_rows]))
    return out
