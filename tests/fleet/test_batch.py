"""The batch message: times as ages, bounded, and nothing foreign merged."""

from __future__ import annotations

import orjson

from failsoft.fleet.batch import MAX_FAILURES, Batch, Closed, Opened, decode
from failsoft.types import Target

A, B = Target("p", "a"), Target("p", "org/model")


def test_times_travel_as_ages_and_land_on_the_receivers_clock() -> None:
    batch = Batch()
    batch.add_failure(A, 99.0)
    batch.add_success(B, 99.5)
    batch.add_success(B, 99.8)
    batch.add_spent(A)
    batch.add_change(A, Opened(until=102.0, open_for=2.0, reason="5 consecutive failures"))
    batch.add_change(B, Closed("probe succeeded", 99.9))
    data = batch.encode("sender", now=100.0, wall=5000.0)
    heard = decode(data, now=500.0, wall=5000.0, known=lambda t: True)
    assert heard is not None and heard.origin == "sender"
    assert heard.failed == {A: [499.0]}
    assert heard.succeeded[B][0] == 2 and abs(heard.succeeded[B][1] - 499.8) < 1e-6
    assert heard.spent == {A: 1}
    opened = heard.changes[A]
    assert isinstance(opened, Opened) and opened.until == 502.0 and opened.open_for == 2.0
    closed = heard.changes[B]
    assert isinstance(closed, Closed) and abs(closed.at - 499.9) < 1e-6


def test_unknown_targets_and_foreign_messages_are_ignored() -> None:
    batch = Batch()
    batch.add_failure(A, 1.0)
    batch.add_failure(B, 1.0)
    heard = decode(batch.encode("x", 1.0, 1.0), 1.0, 1.0, known=lambda t: t == A)
    assert heard is not None and list(heard.failed) == [A]
    assert decode(b"not json", 1.0, 1.0, lambda t: True) is None
    assert decode(orjson.dumps({"o": "x"}), 1.0, 1.0, lambda t: True) is None
    bad = orjson.dumps({"o": "x", "t": 1.0, "f": {"p/a": "zz"}})
    assert decode(bad, 1.0, 1.0, lambda t: True) is None


def test_a_batch_is_bounded() -> None:
    batch = Batch()
    for i in range(MAX_FAILURES * 2):
        batch.add_failure(A, float(i))
    assert len(batch.failed[A]) == MAX_FAILURES
