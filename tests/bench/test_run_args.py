"""bench/run.py's command line: which sections run, and how --compare joins them. The
benchmark itself never runs inside pytest."""

from __future__ import annotations

import pytest

from tests.bench.scripts import load

run = load("run")


def test_every_section_but_compare_by_default() -> None:
    args = run.parse_args([])
    assert "compare" not in args.only
    assert {"fixed", "throughput", "length", "outage", "memory"} <= set(args.only)


def test_compare_adds_its_section() -> None:
    assert "compare" in run.parse_args(["--compare", "HEAD~1"]).only
    args = run.parse_args(["--compare", "HEAD~1", "--only", "throughput"])
    assert args.only == ["throughput", "compare"]
    assert run.parse_args(["--quick", "--compare", "main"]).compare_rounds == 2


@pytest.mark.parametrize(
    "argv", [["--only", "compare"], ["--compare", "main", "--compare-rounds", "0"]]
)
def test_nonsense_is_refused(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        run.parse_args(argv)
