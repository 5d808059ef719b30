"""The CI benchmark smoke's own logic (bench/smoke.py): its arguments, the reference file and
the verdict on measured ratios. The benchmark itself never runs inside pytest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.bench.scripts import BENCH, load

smoke = load("smoke")


def _row(number: int, path: str, rps: float, errors: int = 0) -> dict[str, Any]:
    return {
        "round": number,
        "path": path,
        "ok_per_s": rps,
        "error_count": errors,
        "errors": {"HTTP 502": errors} if errors else {},
    }


REFERENCE = {"ratio_to_floor": {"gw as=on": 0.5, "gw as=off": 1.0}, "margin": 0.8}


def test_the_repository_reference_is_valid() -> None:
    reference = smoke.load_reference(BENCH / "reference.json")
    assert set(reference["ratio_to_floor"]) == {"gw as=on", "gw as=off"}
    assert 0 < reference["margin"] <= 1


def test_the_best_round_is_judged_against_the_margin() -> None:
    rows = [
        _row(1, "floor", 1000),
        _row(1, "gw as=on", 300),  # 0.30 < 0.8 x 0.5
        _row(1, "gw as=off", 700),
        _row(2, "floor", 1000),
        _row(2, "gw as=on", 420),  # 0.42 >= 0.40: the best round passes
        _row(2, "gw as=off", 820),  # 0.82 >= 0.80
    ]
    ok, lines = smoke.judge(rows, REFERENCE, 0.8)
    assert ok, lines
    assert smoke.round_ratios(rows)["gw as=on"] == [0.3, 0.42]


def test_a_ratio_under_the_bound_fails() -> None:
    rows = [_row(1, "floor", 1000), _row(1, "gw as=on", 450), _row(1, "gw as=off", 790)]
    ok, lines = smoke.judge(rows, REFERENCE, 0.8)
    assert not ok
    assert any(line.startswith("FAIL: gw as=off") for line in lines)


def test_any_request_error_fails() -> None:
    rows = [_row(1, "floor", 1000), _row(1, "gw as=on", 900, errors=1), _row(1, "gw as=off", 900)]
    ok, lines = smoke.judge(rows, REFERENCE, 0.8)
    assert not ok
    assert "request errors" in lines[0]


def test_a_floor_without_answers_fails_rather_than_divides_by_zero() -> None:
    rows = [_row(1, "floor", 0), _row(1, "gw as=on", 900), _row(1, "gw as=off", 900)]
    ok, _ = smoke.judge(rows, REFERENCE, 0.8)
    assert not ok


@pytest.mark.parametrize(
    "argv", [["--rounds", "0"], ["--seconds", "0"], ["--timeout", "-1"], ["--warmup", "-1"]]
)
def test_nonsense_arguments_are_refused(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        smoke.parse_args(argv)


def test_the_defaults_fit_in_about_two_minutes() -> None:
    args = smoke.parse_args([])
    phases = args.rounds * 3 * (args.seconds + args.warmup)
    assert phases <= 100
    assert args.timeout > phases


def test_a_bad_reference_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "reference.json"
    path.write_text('{"ratio_to_floor": {"gw as=on": 0.2}}')
    with pytest.raises(ValueError, match="ratio_to_floor"):
        smoke.load_reference(path)
