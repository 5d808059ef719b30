"""Figures derived from the measured rows: the gateway's added latency (gateway minus
direct, same run; for gw as=on also minus "direct stream", the same upstream work) and the
verdicts on the targets. Kept apart from the printing because the JSON records them too."""

from __future__ import annotations

from typing import Any

from fsbench.settings import DIRECT, DIRECT_STREAM, FLOOR, GW_AS, GW_NS, TARGETS


def _find(rows: list[dict[str, Any]], **match: Any) -> dict[str, Any] | None:
    for row in rows:
        if all(row.get(k) == v for k, v in match.items()):
            return row
    return None


def _lat(row: dict[str, Any] | None, key: str, field_: str = "latency_us") -> float | None:
    if row is None:
        return None
    value = row.get(field_, {}).get(key)
    return float(value) if value is not None else None


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def derive(results: dict[str, Any]) -> None:
    """Added latency (via − direct, same run) on every other row (on "direct stream": what
    streaming the answer costs the simulator and the load generator); on gw as=on rows also
    via − direct stream."""
    for row in results["fixed_rate"]:
        if row["path"] == DIRECT:
            continue
        base = _find(results["fixed_rate"], rate=row["rate"], path=DIRECT)
        row["added_us"] = {
            q: _diff(_lat(row, q), _lat(base, q)) for q in ("p50", "p90", "p99", "p99.9")
        }
        row["added_sched_us"] = {
            q: _diff(_lat(row, q, "latency_sched_us"), _lat(base, q, "latency_sched_us"))
            for q in ("p50", "p99")
        }
        stream = _find(results["fixed_rate"], rate=row["rate"], path=DIRECT_STREAM)
        if row["path"] == GW_AS and stream is not None:
            # as=on makes the simulator stream: compare also with the simulator streaming
            row["added_vs_direct_stream_us"] = {
                q: _diff(_lat(row, q), _lat(stream, q)) for q in ("p50", "p90", "p99", "p99.9")
            }
    for section in ("streaming", "relay"):
        for row in results[section]:
            if row["path"] == DIRECT:
                continue
            base = _find(
                results[section], dialect=row["dialect"], streams=row["streams"], path=DIRECT
            )
            key = "ttfc_us" if section == "streaming" else "relay_us"
            row["added_us"] = {
                q: _diff(_lat(row, q, key), _lat(base, q, key)) for q in ("p50", "p99")
            }
    for row in results["failover"]:
        if row["path"] == "direct to backup":
            continue
        base = _find(results["failover"], test=row["test"], path="direct to backup")
        row["added_us"] = {q: _diff(_lat(row, q), _lat(base, q)) for q in ("p50", "p99")}


def floor_share(results: dict[str, Any], rate: int = 500) -> dict[str, Any]:
    """failsoft's own share of its added latency at `rate`: gateway p50 minus floor p50,
    per mode (the floor proxy is the same server and client stack with nothing else)."""
    floor = _find(results["fixed_rate"], rate=rate, path=FLOOR)
    out: dict[str, Any] = {}
    for path in (GW_AS, GW_NS):
        row = _find(results["fixed_rate"], rate=rate, path=path)
        out[path] = {
            "rate": rate,
            "gw_p50_us": _lat(row, "p50"),
            "floor_p50_us": _lat(floor, "p50"),
            "own_p50_us": _diff(_lat(row, "p50"), _lat(floor, "p50")),
            "gw_added_p50_us": (row or {}).get("added_us", {}).get("p50"),
            "floor_added_p50_us": (floor or {}).get("added_us", {}).get("p50"),
        }
    return out


def vs_direct_stream(results: dict[str, Any], rate: int = 500) -> dict[str, Any]:
    """gw as=on against the same upstream work at `rate`: as=on minus "direct stream" (the
    simulator streaming the answer straight to the load generator). Empty when not run."""
    row = _find(results["fixed_rate"], rate=rate, path=GW_AS)
    stream = _find(results["fixed_rate"], rate=rate, path=DIRECT_STREAM)
    if row is None or stream is None:
        return {}
    return {
        "rate": rate,
        "path": GW_AS,
        "gw_p50_us": _lat(row, "p50"),
        "gw_p99_us": _lat(row, "p99"),
        "direct_stream_p50_us": _lat(stream, "p50"),
        "direct_stream_p99_us": _lat(stream, "p99"),
        "added_p50_us": _diff(_lat(row, "p50"), _lat(stream, "p50")),
        "added_p99_us": _diff(_lat(row, "p99"), _lat(stream, "p99")),
        "direct_stream_added_p50_us": (stream.get("added_us") or {}).get("p50"),
        "direct_stream_added_p99_us": (stream.get("added_us") or {}).get("p99"),
    }


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in (GW_AS, GW_NS):
        row = _find(results["fixed_rate"], rate=500, path=path)
        added = row.get("added_us", {}) if row else {}
        out.append(
            {
                "target": f"added latency p50 at 500 req/s ({path})",
                "limit": f"<= {TARGETS['added_p50_us_at_500']:.0f} us",
                "measured": added.get("p50"),
                "unit": "us",
                "pass": added.get("p50") is not None
                and added["p50"] <= TARGETS["added_p50_us_at_500"],
            }
        )
        out.append(
            {
                "target": f"added latency p99 at 500 req/s ({path})",
                "limit": f"<= {TARGETS['added_p99_us_at_500']:.0f} us",
                "measured": added.get("p99"),
                "unit": "us",
                "pass": added.get("p99") is not None
                and added["p99"] <= TARGETS["added_p99_us_at_500"],
            }
        )
    for path in (GW_AS, GW_NS):
        rows = [r for r in results["throughput"] if r["path"] == path]
        best = max((r["ok_per_s"] for r in rows), default=None)
        out.append(
            {
                "target": f"non-streaming throughput, one core ({path}, best of c32/c64)",
                "limit": f">= {TARGETS['throughput_rps']:,.0f} req/s",
                "measured": best,
                "unit": "req/s",
                "pass": best is not None and best >= TARGETS["throughput_rps"],
            }
        )
    idle = results.get("memory", {}).get("idle_rss_mb")
    out.append(
        {
            "target": "gateway RSS, idle after start",
            "limit": f"<= {TARGETS['idle_rss_mb']:.0f} MB",
            "measured": idle,
            "unit": "MB",
            "pass": idle is not None and idle <= TARGETS["idle_rss_mb"],
        }
    )
    for target in out:
        if target["measured"] is None:
            target["pass"] = None
    return out
