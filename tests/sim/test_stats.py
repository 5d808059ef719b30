"""Attempt counters and the request log, including concurrent use from several threads."""

from __future__ import annotations

import threading

from failsoft.sim.stats import RequestRecord, Stats


def record(model: str = "m", outcome: str = "200", **headers: str) -> RequestRecord:
    return RequestRecord(
        time=1.0,
        model=model,
        path="/v1/messages",
        dialect="anthropic",
        stream=False,
        outcome=outcome,
        fault=None,
        request_id="req_1",
        auth="x-api-key",
        headers=headers,
    )


def test_counts_and_snapshot() -> None:
    stats = Stats()
    for outcome in ["529", "529", "200", "reset"]:
        stats.record(record(outcome=outcome))
    stats.record(record(model="other"))
    assert stats.attempts("m") == 4
    assert stats.attempts("missing") == 0
    assert stats.snapshot() == {
        "attempts": 5,
        "models": {
            "m": {"attempts": 4, "outcomes": {"529": 2, "200": 1, "reset": 1}},
            "other": {"attempts": 1, "outcomes": {"200": 1}},
        },
    }
    assert [r.outcome for r in stats.requests("m", limit=2)] == ["200", "reset"]
    stats.clear()
    assert stats.snapshot() == {"attempts": 0, "models": {}}


def test_log_is_bounded_but_counters_are_not() -> None:
    stats = Stats(log_size=10)
    for _ in range(25):
        stats.record(record())
    assert len(stats.requests()) == 10
    assert stats.attempts("m") == 25


def test_retry_count_and_dict() -> None:
    item = record(**{"x-stainless-retry-count": "2"})
    assert item.retry_count == 2
    assert record().retry_count is None
    assert item.to_dict()["headers"] == {"x-stainless-retry-count": "2"}
    assert item.to_dict()["auth"] == "x-api-key"


def test_concurrent_records_are_exact() -> None:
    stats = Stats()

    def work() -> None:
        for _ in range(2000):
            stats.record(record())
            stats.snapshot() if _ % 500 == 0 else None

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert stats.attempts("m") == 8000
