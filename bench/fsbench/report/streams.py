"""Report tables of the streaming sections: time to first content event and per-event
relay latency, one row per dialect, concurrency and path; measured in interleaved rounds,
the main figures read "median (min-max)" over the rounds."""

from __future__ import annotations

from typing import Any

from fsbench.report.tables import errors_cell, number, other_cell, ranged, table
from fsbench.settings import CHUNK_DELAY, STREAM_CHUNKS


def _rounds_note(rows: list[dict[str, Any]]) -> str:
    """How the rows were measured, when in rounds: what "median (min-max)" means."""
    rounds = max((row.get("rounds", 1) for row in rows), default=1)
    if rounds < 2:
        return ""
    return (
        f" {rounds} interleaved rounds (every row's path in turn, each round starting one "
        "row later); 'median (min..max)' over the rounds, +p50/+p99 against the direct row "
        "of the same round; streams and events summed, other figures medians."
    )


def streaming(results: dict[str, Any], meta: dict[str, Any]) -> list[str]:
    out: list[str] = []
    d = meta["durations"]
    out.append(
        "3. Streaming, time to first content event (TTFC), simulator streams of "
        f"{STREAM_CHUNKS} content events {CHUNK_DELAY * 1000:g} ms apart, closed loop "
        f"({d['stream']:g} s). "
        "gap = time between content events as received; +p50/+p99 = path minus direct. "
        "floor = minimal pass-through (lower bound), its CPU in 'gw CPU us/event'."
        + _rounds_note(results["streaming"])
    )
    rows = []
    for row in results["streaming"]:
        ttfc = row.get("ttfc_us", {})
        gap = row.get("gap_us", {})
        rows.append(
            [
                f"{row['dialect']} x{row['streams']}",
                row["path"],
                str(row["ok"]),
                errors_cell(row),
                ranged(row, "ttfc_us", "p50"),
                number(ttfc.get("p99")),
                ranged(row, "added_us", "p50"),
                ranged(row, "added_us", "p99"),
                f"{number(gap.get('p50'))} / {number(gap.get('p99'))}",
                number(row.get("events_per_stream"), 1),
                ranged(row, "gw_cpu_us_per_unit", digits=1),
                other_cell(row),
            ]
        )
    out.append(
        table(
            [
                "dialect x streams",
                "path",
                "streams",
                "err",
                "TTFC p50",
                "TTFC p99",
                "+p50",
                "+p99",
                "gap p50 / p99",
                "events/stream",
                "gw CPU us/event",
                "other %",
            ],
            rows,
        )
    )
    out.append("")
    return out


def relay(results: dict[str, Any], meta: dict[str, Any]) -> list[str]:
    out: list[str] = []
    out.append(
        "4. Streaming relay latency per content event (stamping upstream: each event "
        f"carries its send time; {STREAM_CHUNKS} events {CHUNK_DELAY * 1000:g} ms apart). "
        "Relay = received - stamped, us." + _rounds_note(results["relay"])
    )
    rows = []
    for row in results["relay"]:
        relay = row.get("relay_us", {})
        ttfc = row.get("ttfc_us", {})
        rows.append(
            [
                f"{row['dialect']} x{row['streams']}",
                row["path"],
                str(row.get("content_events", 0)),
                errors_cell(row),
                ranged(row, "relay_us", "p50"),
                number(relay.get("p99")),
                number(relay.get("p99.9")),
                ranged(row, "added_us", "p50"),
                ranged(row, "added_us", "p99"),
                number(ttfc.get("p50")),
                ranged(row, "gw_cpu_us_per_unit", digits=1),
                other_cell(row),
            ]
        )
    out.append(
        table(
            [
                "dialect x streams",
                "path",
                "events",
                "err",
                "relay p50",
                "relay p99",
                "relay p99.9",
                "+p50",
                "+p99",
                "TTFC p50",
                "gw CPU us/event",
                "other %",
            ],
            rows,
        )
    )
    out.append("")
    return out
