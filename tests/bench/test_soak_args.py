"""The flat-RSS soak's own logic (bench/soak.py): its arguments, the request mix, the
per-minute buckets and the verdict on RSS samples. The soak itself never runs inside pytest
(a meaningful one takes 30 minutes; `--duration 180` checks that it works)."""

from __future__ import annotations

import importlib
from collections import Counter
from typing import Any

import pytest

from tests.bench.scripts import load

soak = load("soak")
mix = importlib.import_module("fsbench.soak.mix")
rss = importlib.import_module("fsbench.soak.rss")
soak_load = importlib.import_module("fsbench.soak.load")
sample_mod = importlib.import_module("fsbench.loadgen.sample")


def test_the_defaults_are_the_issue_s_run() -> None:
    args = soak.parse_args([])
    assert (args.rate, args.duration, args.warmup) == (1000.0, 1800.0, 300.0)
    assert args.mix == {"plain": 0.8, "ns": 0.1, "stream": 0.1}


def test_a_short_run_warms_up_for_a_sixth_of_it() -> None:
    assert soak.parse_args(["--duration", "180"]).warmup == 30.0
    assert soak.parse_args(["--duration", "180", "--warmup", "0"]).warmup == 0.0


@pytest.mark.parametrize(
    "argv",
    [
        ["--rate", "0"],
        ["--duration", "0"],
        ["--duration", "60", "--warmup", "60"],
        ["--warmup", "-1"],
        ["--sample-every", "0"],
        ["--connections", "0"],
        ["--mix", "plain=-1"],
        ["--mix", "plain=0"],
        ["--mix", "nope=1"],
        ["--mix", "plain"],
        ["--mix", "plain=1,plain=2"],
        ["--mix", "plain=inf"],
    ],
)
def test_nonsense_is_refused(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        soak.parse_args(argv)


def test_weights_are_normalised() -> None:
    assert mix.parse_mix("plain=8, ns=1, stream=1") == mix.parse_mix(mix.DEFAULT_MIX)
    assert mix.parse_mix("anthropic=1,plain=0") == {"anthropic": 1.0}


def test_the_picker_spreads_each_kind_evenly() -> None:
    picker = mix.Picker(mix.parse_mix(mix.DEFAULT_MIX))
    picks = [picker.names[picker.next()] for _ in range(1000)]
    assert Counter(picks) == {"plain": 800, "ns": 100, "stream": 100}
    for start in range(0, 1000, 10):  # every ten requests hold each kind's share
        assert Counter(picks[start : start + 10]) == {"plain": 8, "ns": 1, "stream": 1}


def _sample(t_sched: int, status: int = 200) -> Any:
    sample = sample_mod.Sample(t_sched)
    sample.t_send, sample.t_done, sample.status = t_sched, t_sched + 1_000_000, status
    return sample


async def test_exchanges_land_in_the_minute_they_were_scheduled_in() -> None:
    minutes = soak_load.Minutes(["plain"], 60_000_000_000, start_ns=0, end_ns=90_000_000_000)
    for t in (0, 59_999_999_999, 60_000_000_000):
        tally = minutes.tally(_sample(t), 0)
        tally.add(_sample(t), None, None, True)
    assert await minutes.close_before(69_000_000_000) == []  # minute 1 settles 10 s after its end
    assert await minutes.close_before(71_000_000_000) == [0]
    assert minutes.closed[0]["plain"]["ok"] == 2
    assert minutes.tally(_sample(1), 0) is None  # too late: counted, not tallied
    assert minutes.late == 1
    assert await minutes.close_before(0, final=True) == [1]
    assert minutes.closed[1]["partial_s"] == 30.0
    assert minutes.closed[1]["plain"]["ok_per_s"] == round(1 / 30, 1)


def _series(values: list[float], every: float = 5.0) -> list[dict[str, Any]]:
    return [{"t": i * every, "gateway_rss_mb": v} for i, v in enumerate(values)]


def test_flat_rss_passes_whatever_the_warm_up_did() -> None:
    warm = [40.0 + i for i in range(60)]  # 5 min of growth: not judged
    steady = [100.0 + (0.8 if i % 3 else -0.6) for i in range(300)]  # 25 min, noise only
    verdict = rss.flatness(_series(warm + steady), 300.0)
    assert verdict["verdict"] == "PASS", verdict
    assert verdict["judged"]
    assert abs(verdict["slope_mb_per_10min"]) < 0.5


def test_a_slow_leak_is_a_miss() -> None:
    leak = [100.0 + i * 5 / 600 * 3.0 for i in range(360)]  # 3 MB per 10 min
    verdict = rss.flatness(_series(leak), 300.0)
    assert verdict["verdict"] == "MISS"
    assert verdict["slope_mb_per_10min"] == pytest.approx(3.0)


def test_a_late_step_up_is_a_miss_even_with_a_small_slope() -> None:
    step = [100.0] * 330 + [106.0] * 30
    verdict = rss.flatness(_series(step), 300.0)
    assert verdict["slope_mb_per_10min"] < 2.0
    assert verdict["growth_mb"] == 6.0
    assert verdict["verdict"] == "MISS"


def test_a_short_window_is_indicative_and_too_few_samples_a_miss() -> None:
    assert not rss.flatness(_series([50.0] * 30), 30.0)["judged"]
    assert rss.flatness(_series([50.0, 50.0]), 9.0)["verdict"] == "MISS"


def test_the_load_must_be_delivered() -> None:
    assert rss.load_delivered(1000, 999.0, 0, 1_800_000)["delivered"]
    assert not rss.load_delivered(1000, 900.0, 0, 1_800_000)["delivered"]
    assert not rss.load_delivered(1000, 1000.0, 5_000, 1_800_000)["delivered"]


def test_least_squares_slope() -> None:
    assert rss.slope_per_s([(0, 1.0), (10, 3.0), (20, 5.0)]) == pytest.approx(0.2)
    assert rss.slope_per_s([(5, 1.0), (5, 2.0)]) is None
