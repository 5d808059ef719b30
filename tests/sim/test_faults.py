"""Fault specs (validation, round trip) and fault selection (rate, count, filters, precedence)."""

from __future__ import annotations

import random

import pytest

from failsoft.sim import Fault, SpecError
from failsoft.sim.faults import FaultSlot, FaultTable, choose, seeded


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"kind": "cutt"}, "fault.kind: unknown fault kind 'cutt' (expected one of: status, reset, "
         "hang, slow_headers, slow_first_token, cut, stall, malformed, no_terminal, no_done, "
         "mid_stream_error, endless, huge_line); did you mean 'cut'?"),
        ({}, "fault.kind: required"),
        ({"kind": "status"}, "fault.status: required for kind 'status' (or give 'body')"),
        ({"kind": "status", "status": 200}, "fault.status: must be between 400 and 599, got 200"),
        ({"kind": "status", "status": "529"},
         "fault.status: expected an integer, got string '529'"),
        ({"kind": "reset", "rate": 1.5}, "fault.rate: must be between 0 and 1, got 1.5"),
        ({"kind": "reset", "count": True}, "fault.count: expected an integer, got boolean True"),
        ({"kind": "reset", "count": 0}, "fault.count: must be >= 1, got 0"),
        ({"kind": "cut", "after": 2, "mode": "rst"}, "fault.mode: unknown cut mode 'rst'"),
        ({"kind": "slow_headers"}, "fault.delay: required for kind 'slow_headers' (seconds)"),
        ({"kind": "cut", "afterr": 2}, "fault.afterr: unknown option for fault kind 'cut' "
         "(expected one of: after, count, kind, mode, rate, stream); did you mean 'after'?"),
        ({"kind": "hang", "status": 500}, "fault.status: unknown option for fault kind 'hang'"),
        ({"kind": "status", "body": "quota"}, "fault.body: unknown body preset 'quota'"),
        ({"kind": "status", "status": 400, "message": ""}, "fault.message: expected a non-empty"),
        ("529", "fault: expected a mapping, got string '529'"),
        ({"kind": "no_done", "after": 1}, "fault.after: unknown option for fault kind 'no_done'"),
        ({"kind": "malformed", "target": "text"}, "fault.target: unknown malformed target "
         "'text' (expected one of: extra, content)"),
        ({"kind": "cut", "target": "content"}, "fault.target: unknown option for fault kind 'cut'"),
        ({"kind": "stall", "then": "continue"},
         "fault.then: needs 'delay' (without it a stall never ends)"),
        ({"kind": "stall", "delay": 1, "then": "resume"}, "fault.then: unknown stall ending "
         "'resume' (expected one of: close, continue)"),
        ({"kind": "stall", "delay": -1}, "fault.delay: must be between 0 and 3600, got -1"),
    ],
)  # fmt: skip
def test_invalid_specs_name_the_field(spec: object, message: str) -> None:
    with pytest.raises(SpecError) as error:
        Fault.from_dict(spec)
    assert str(error.value).startswith(message)


def test_where_prefix_and_direct_construction_validate() -> None:
    with pytest.raises(SpecError, match=r"^timeline\[2\]\.fault\.kind: unknown fault kind 'cutt'"):
        Fault.from_dict({"kind": "cutt"}, "timeline[2].fault")
    with pytest.raises(SpecError, match=r"fault\.delay"):
        Fault("slow_first_token")


def test_round_trip_and_defaults() -> None:
    spec = {"kind": "status", "status": 429, "retry_after": 2, "rate": 0.5, "stream": False}
    fault = Fault.from_dict(spec)
    assert fault.to_dict() == spec
    assert Fault.from_dict(fault.to_dict()) == fault
    assert repr(fault.retry_after) == "2"  # stays an int, so the header reads "2"
    assert Fault.coerce(fault) is fault
    assert Fault(kind="status", body="insufficient_quota").http_status == 429
    assert Fault(kind="cut").events_before == 2
    assert Fault(kind="cut", after=0).events_before == 0
    options = {"kind": "stall", "after": 1, "delay": 0.5, "then": "continue"}
    assert Fault.from_dict(options).to_dict() == options
    assert Fault("malformed", target="content").to_dict() == {
        "kind": "malformed",
        "target": "content",
    }


def test_stream_filter_and_stream_only_kinds() -> None:
    assert Fault("cut").applies_to(True)
    assert Fault("cut").applies_to(False)
    assert not Fault("no_terminal").applies_to(False)
    assert not Fault("mid_stream_error").applies_to(False)
    assert not Fault("no_done").applies_to(False)
    assert Fault("no_done").applies_to(True)
    assert not Fault("reset", stream=True).applies_to(False)
    assert Fault("reset", stream=False).applies_to(False)
    assert not Fault("reset", stream=False).applies_to(True)


def test_count_affects_exactly_n() -> None:
    slot = FaultSlot(Fault("reset", count=2), random.Random(0))
    assert [slot.consider(False) for _ in range(4)] == [True, True, None, None]
    assert slot.expired


def test_rate_is_about_right_and_reproducible() -> None:
    def pattern() -> list[bool | None]:
        slot = FaultSlot(Fault("reset", rate=0.5), seeded(7, "runtime", "m"))
        return [slot.consider(False) for _ in range(200)]

    first = pattern()
    assert 70 < first.count(True) < 130
    assert first == pattern()
    never = FaultSlot(Fault("reset", rate=0.0), random.Random(1))
    assert not any(never.consider(False) for _ in range(50))


def test_count_is_only_used_up_when_applied() -> None:
    slot = FaultSlot(Fault("reset", count=1, stream=True), random.Random(0))
    assert slot.consider(False) is None
    assert slot.remaining == 1
    assert slot.consider(True) is True
    assert slot.expired


def test_choose_first_matching_slot_decides() -> None:
    rng = random.Random(0)
    stream_only = FaultSlot(Fault("cut", stream=True), rng)
    wildcard = FaultSlot(Fault("status", status=500), rng)
    assert choose([None, stream_only, wildcard], stream=False) == wildcard.fault
    assert choose([None, stream_only, wildcard], stream=True) == stream_only.fault
    losing_roll = FaultSlot(Fault("reset", rate=0.0), rng)
    assert choose([losing_roll, wildcard], stream=False) is None
    assert choose([], stream=False) is None


def test_fault_table_replaces_and_expires() -> None:
    table = FaultTable(seed=3)
    assert not table
    table.set("m", Fault("reset"))
    table.set("m", Fault("hang", count=1))
    slot = table.get("m")
    assert slot is not None
    assert slot.fault.kind == "hang"
    assert table.snapshot() == {"m": {"fault": {"kind": "hang", "count": 1}, "remaining": 1}}
    assert slot.consider(False)
    assert table.get("m") is None
    assert not table
    table.set("a", Fault("reset"))
    table.set("b", Fault("reset"))
    table.clear("a")
    assert list(table.snapshot()) == ["b"]
    table.clear()
    assert not table


def test_endless_kinds_end_in_a_repeat() -> None:
    """`endless` and `huge_line` end their plan with bytes written forever (never a
    finish), and `huge_line` never writes a newline after its `data:` line began."""
    from failsoft.sim.playback import Repeat, body_steps, is_immediate

    steps = body_steps(lambda length: b"HEAD%d|" % length, b'{"a": "bc"}', Fault("endless"), wait=0)
    assert isinstance(steps[-1], Repeat) and not is_immediate(steps)
    assert steps[0].startswith(b"HEAD-1|")  # type: ignore[union-attr]
    assert Fault("huge_line").applies_to(stream=True)
    assert not Fault("huge_line").applies_to(stream=False)
    assert Fault("endless").applies_to(stream=False)
