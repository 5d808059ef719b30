"""The streaming sections in interleaved rounds (bench/fsbench/phases/streams.py and
report/rounds.py): the order the phases run in, each round's added latency against the
direct row of that round, and the fold into medians with their min..max. Synthetic rows:
the benchmark itself never runs inside pytest."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.bench.scripts import load

run = load("run")  # puts bench/ on sys.path for fsbench

from fsbench.phases import streams  # noqa: E402
from fsbench.report import derive, notes  # noqa: E402
from fsbench.report import streams as report_streams  # noqa: E402
from fsbench.report.tables import ranged  # noqa: E402


def _row(number: int, dialect: str, path: str, ttfc: float, cpu: float | None = None) -> dict:
    row: dict[str, Any] = {
        "round": number,
        "dialect": dialect,
        "streams": 1,
        "path": path,
        "ok": 10,
        "errors": {},
        "error_count": 0,
        "window_s": 0.5,
        "ok_per_s": 20.0,
        "latency_us": {"p50": ttfc * 10, "p99": ttfc * 12},
        "ttfc_us": {"p50": ttfc, "p99": ttfc + 100},
        "gap_us": {"p50": 2000, "p99": 2100},
        "content_events": 200,
        "events_per_stream": 20.0,
        "cpu": {"other_cpu_pct": 1.0 * number, "tcp_end": {"gw_to_sim": 1}},
        "runs": 1,
        "quiet_before": True,
    }
    if cpu is not None:
        row["gw_cpu_us_per_unit"] = cpu
    return row


def _results(streaming: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "meta": {"durations": {"stream": 1.5}},
        "fixed_rate": [],
        "throughput": [],
        "length": [],
        "streaming": streaming,
        "relay": [],
        "failover": [],
        "outage": [],
        "compare": [],
    }


def _drifting() -> list[dict[str, Any]]:
    """Three rounds; in round 2 the machine is 300 us slower for every row of anthropic
    (direct included): the gateway still adds 50 us in every round."""
    rows = []
    for number, slow in ((1, 0.0), (2, 300.0), (3, 0.0)):
        rows += [
            _row(number, "openai", "direct", 1000),
            _row(number, "openai", "gw", 1050 + number, cpu=20.0 + number),
            _row(number, "anthropic", "direct", 1000 + slow),
            _row(number, "anthropic", "gw", 1050 + slow, cpu=25.0),
        ]
    return rows


def test_added_latency_is_against_the_direct_row_of_the_same_round() -> None:
    results = _results(_drifting())
    derive.derive(results)
    per_round = results["streaming_rounds"]
    assert len(per_round) == 12
    assert {
        r["added_us"]["p50"] for r in per_round if r["dialect"] == "anthropic" and "added_us" in r
    } == {50.0}
    folded = {(r["dialect"], r["path"]): r for r in results["streaming"]}
    assert list(folded) == [
        ("openai", "direct"),
        ("openai", "gw"),
        ("anthropic", "direct"),
        ("anthropic", "gw"),
    ]
    gw = folded[("anthropic", "gw")]
    assert gw["added_us"]["p50"] == 50.0
    assert gw["ranges"]["added_us"]["p50"] == [50.0, 50.0]
    assert gw["ttfc_us"]["p50"] == 1050.0
    assert gw["ranges"]["ttfc_us"]["p50"] == [1050.0, 1350.0]
    openai = folded[("openai", "gw")]
    assert openai["added_us"]["p50"] == 52.0
    assert openai["ranges"]["added_us"]["p50"] == [51.0, 53.0]
    assert openai["gw_cpu_us_per_unit"] == 22.0
    assert openai["ranges"]["gw_cpu_us_per_unit"] == [21.0, 23.0]


def test_the_fold_sums_counts_and_keeps_the_fields_the_report_reads() -> None:
    results = _results(_drifting())
    results["streaming"][4]["error_count"] = 2
    results["streaming"][4]["errors"] = {"HTTP 502": 2}
    results["streaming"][4]["runs"] = 2
    derive.derive(results)
    row = results["streaming"][0]
    assert "round" not in row
    assert (row["dialect"], row["streams"], row["path"], row["rounds"]) == (
        "openai",
        1,
        "direct",
        3,
    )
    assert row["ok"] == 30
    assert row["content_events"] == 600
    assert row["events_per_stream"] == 20.0
    assert row["window_s"] == 1.5
    assert row["ok_per_s"] == 20.0
    assert row["errors"] == {"HTTP 502": 2}
    assert row["error_count"] == 2
    assert row["runs"] == 2
    assert row["cpu"]["other_cpu_pct"] == 2.0
    assert row["cpu"]["tcp_end"] == {"gw_to_sim": 1}
    assert row["gap_us"] == {"p50": 2000, "p99": 2100}
    targets = derive.targets(results)
    ttfc = [t for t in targets if t["target"].startswith("stream first content")]
    assert [t["measured"] for t in ttfc] == [52.0, 50.0]


def test_rows_without_rounds_are_left_as_they_are() -> None:
    rows = [_row(1, "openai", "direct", 1000), _row(1, "openai", "gw", 1040)]
    for row in rows:
        del row["round"]
    results = _results(rows)
    derive.derive(results)
    assert "streaming_rounds" not in results
    assert results["streaming"][1]["added_us"]["p50"] == 40.0
    assert ranged(results["streaming"][1], "ttfc_us", "p50") == "1,040"


def test_the_table_shows_median_and_range_and_notes_name_the_round() -> None:
    rows = _drifting()
    rows[7]["cpu"]["other_cpu_pct"] = 80.0  # round 2, anthropic gw
    results = _results(rows)
    derive.derive(results)
    text = "\n".join(report_streams.streaming(results, results["meta"]))
    assert "3 interleaved rounds" in text
    assert "1,050 (1,050..1,350)" in text
    assert "+52" not in text and "52 (51..53)" in text
    found = notes.observations(results, {})
    assert any(n.startswith("streaming round=2 dialect=anthropic") and "80%" in n for n in found)


def test_rounds_rotate_the_order_and_split_the_window(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[dict[str, Any], Any]] = []
    monkeypatch.setattr(streams, "closed_load", lambda port, request, **settings: settings)

    class FakeBench:
        def timing(self, phase: str) -> dict[str, float]:
            assert phase == "stream"
            return {"duration": 3.0, "warmup": 0.75}

        async def measure(self, section: str, labels: dict[str, Any], load: Any) -> None:
            assert section == "streaming"
            seen.append((labels, load))

    cases = [
        (dialect, path, 1, b"", None)
        for dialect in ("openai", "anthropic")
        for path in ("direct", "floor", "gw")
    ]
    asyncio.run(streams._streams(FakeBench(), "streaming", cases, [1, 16], 3))  # type: ignore[arg-type]
    order = [
        (label["streams"], label["round"], label["dialect"], label["path"]) for label, _ in seen
    ]
    assert len(order) == 2 * 3 * 6
    assert order[:6] == [(1, 1, d, p) for d, p, *_ in cases]
    assert order[6:12] == [(1, 2, d, p) for d, p, *_ in cases[1:] + cases[:1]]
    assert order[12:18] == [(1, 3, d, p) for d, p, *_ in cases[2:] + cases[:2]]
    assert {o[0] for o in order[18:]} == {16}
    assert {(load["duration"], load["warmup"]) for _, load in seen} == {(1.0, 0.25)}


def test_stream_rounds_argument() -> None:
    assert run.parse_args([]).stream_rounds == 3
    assert run.parse_args(["--quick", "--stream-rounds", "2"]).stream_rounds == 2
    with pytest.raises(SystemExit):
        run.parse_args(["--stream-rounds", "0"])
