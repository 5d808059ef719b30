"""Figures derived from the measured rows: the gateway's added latency (gateway minus
direct, same run; for gw as=on also minus "direct stream", the same upstream work) and the
verdicts on the targets. Kept apart from the printing because the JSON records them too."""

from __future__ import annotations

from typing import Any

from fsbench.report import rounds
from fsbench.settings import (
    ANSWER_TOKENS,
    DIRECT,
    DIRECT_STREAM,
    FLOOR,
    GW_AS,
    GW_NS,
    LONG_ANSWER_TOKENS,
    TARGET_RATE,
    TARGETS,
    TRANSLATED_RELAY,
    upstream_dialect,
)


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
    via − direct stream. The streaming sections' rows are per round: each against the
    direct row of its own round, then folded into medians over the rounds (`rounds.fold`)."""
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
            # the direct row of the same round: load drift between rounds cancels out
            base = _find(
                results[section],
                dialect=upstream_dialect(row["dialect"]),
                streams=row["streams"],
                path=DIRECT,
                round=row.get("round"),
            )
            key = "ttfc_us" if section == "streaming" else "relay_us"
            row["added_us"] = {
                q: _diff(_lat(row, q, key), _lat(base, q, key)) for q in ("p50", "p99")
            }
        rounds.fold(results, section)
    for row in results["failover"]:
        if row["path"] == "direct to backup":
            continue
        base = _find(results["failover"], test=row["test"], path="direct to backup")
        row["added_us"] = {q: _diff(_lat(row, q), _lat(base, q)) for q in ("p50", "p99")}


def floor_share(results: dict[str, Any], rate: int = TARGET_RATE) -> dict[str, Any]:
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


def vs_direct_stream(results: dict[str, Any], rate: int = TARGET_RATE) -> dict[str, Any]:
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


def _target(
    name: str, limit: float | None, measured: float | None, unit: str, most: bool = True
) -> dict[str, Any]:
    """One row of the targets table; `limit` None: reported, not judged; `most`: the
    limit is a maximum (else a minimum)."""
    sign = "<=" if most else ">="
    verdict: bool | None = None
    if limit is not None and measured is not None:
        verdict = measured <= limit if most else measured >= limit
    return {
        "target": name,
        "limit": f"{sign} {limit:,g} {unit}" if limit is not None else "reported",
        "measured": measured,
        "unit": unit,
        "pass": verdict,
    }


def _best_rps(results: dict[str, Any], path: str) -> float | None:
    return max((r["ok_per_s"] for r in results["throughput"] if r["path"] == path), default=None)


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 18's targets, each on the whole gateway (stack included); throughput as a
    ratio to the floor proxy measured in the same run. Floor rows are the yardstick: the
    same limits applied to the bare stack."""
    out: list[dict[str, Any]] = []
    floor = _best_rps(results, FLOOR)
    for path, key in ((GW_AS, "as_on_vs_floor"), (GW_NS, "as_off_vs_floor")):
        gw = _best_rps(results, path)
        ratio = gw / floor if gw is not None and floor else None
        out.append(
            _target(
                f"non-streaming throughput / floor's ({path}, best of each)",
                TARGETS[key],
                ratio,
                "x",
                most=False,
            )
        )
    rate = TARGET_RATE
    for path in (GW_AS, GW_NS, FLOOR):
        row = _find(results["fixed_rate"], rate=rate, path=path)
        added = (row or {}).get("added_us", {})
        tag = f"{path}, yardstick" if path == FLOOR else path
        out.append(
            _target(
                f"CPU per request at {rate:,} req/s ({tag})",
                TARGETS["cpu_us_at_1000"],
                (row or {}).get("gw_cpu_us_per_unit"),
                "us",
            )
        )
        out.append(
            _target(
                f"added p50 at {rate:,} req/s ({tag})",
                TARGETS["added_p50_us_at_1000"],
                added.get("p50"),
                "us",
            )
        )
        out.append(
            _target(
                f"added p99 at {rate:,} req/s ({tag})",
                TARGETS["added_p99_us_at_1000"],
                added.get("p99"),
                "us",
            )
        )
    streaming = [r for r in results["streaming"] if r["path"] == "gw"]
    fewest = min((r["streams"] for r in streaming), default=None)
    for row in streaming:
        if row["streams"] == fewest:
            out.append(
                _target(
                    f"stream first content added p50 ({row['dialect']} x{fewest})",
                    TARGETS["stream_ttfc_added_us"],
                    row.get("added_us", {}).get("p50"),
                    "us",
                )
            )
    relay = [r for r in results["relay"] if r["path"] == "gw"]
    most_streams = max((r["streams"] for r in relay), default=None)
    for row in relay:
        if row["streams"] != most_streams:
            continue
        translated = row["dialect"] == TRANSLATED_RELAY
        out.append(
            _target(
                f"relayed-event CPU, {'translated' if translated else 'same dialect'} "
                f"({row['dialect']} x{most_streams})",
                TARGETS["relay_cpu_us_translated" if translated else "relay_cpu_us_same"],
                row.get("gw_cpu_us_per_unit"),
                "us",
            )
        )
    token = results.get("per_token", {}).get(GW_AS, {})
    out.append(
        _target(
            f"CPU per answered token ({GW_AS}, (c{token.get('connections')} at "
            f"{LONG_ANSWER_TOKENS} - at {ANSWER_TOKENS} tokens) / "
            f"{LONG_ANSWER_TOKENS - ANSWER_TOKENS})",
            TARGETS["cpu_us_per_token"],
            token.get("cpu_us_per_token"),
            "us",
        )
    )
    mem = results.get("memory", {})
    out.append(
        _target(
            "gateway RSS, idle after start", TARGETS["idle_rss_mb"], mem.get("idle_rss_mb"), "MB"
        )
    )
    held = mem.get("open_streams", {}).get("gateway", {})
    out.append(
        _target(
            f"gateway memory per open stream ({held.get('streams', '-')} open)",
            None,
            held.get("kib_per_stream"),
            "KiB",
        )
    )
    for path, o in results.get("outage_summary", {}).items():
        out.append(
            _target(
                f"outage p99 - healthy p99 ({path}, primary 529 at {o['rate']} req/s)",
                TARGETS["outage_p99_added_us"],
                o.get("added_p99_us"),
                "us",
            )
        )
    return out
