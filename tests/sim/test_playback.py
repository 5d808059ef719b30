"""Response plans, checked without sockets: what each fault does to the sequence of writes."""

from __future__ import annotations

from failsoft.sim import Fault
from failsoft.sim.playback import (
    LAST_CHUNK,
    Action,
    Step,
    body_steps,
    chunk,
    is_immediate,
    stream_steps,
)
from failsoft.sim.wire import StreamPlan

PLAN = StreamPlan(
    preamble=(b"P1", b"P2"),
    content=(b"C0", b"C1", b"C2", b"C3"),
    close=(b"X",),
    terminal=(b"T1", b"T2"),
)


def steps(fault: Fault | None = None, **timing: float) -> list[Step]:
    return stream_steps(
        b"HEAD",
        PLAN,
        fault,
        before_head=timing.get("before_head", 0.0),
        first_wait=timing.get("first_wait", 0.0),
        chunk_delay=timing.get("chunk_delay", 0.0),
        malformed=b"BAD",
        error_event=b"ERR",
    )


def frames(*events: bytes) -> bytes:
    return b"".join(chunk(event) for event in events)


def test_chunk_framing() -> None:
    assert chunk(b"hello") == b"5\r\nhello\r\n"
    assert chunk(b"x" * 26) == b"1a\r\n" + b"x" * 26 + b"\r\n"


def test_healthy_stream_is_one_immediate_write() -> None:
    planned = steps()
    assert is_immediate(planned)
    expected = b"HEAD" + frames(b"P1", b"P2", b"C0", b"C1", b"C2", b"C3", b"X", b"T1", b"T2")
    assert planned == [expected + LAST_CHUNK, Action.FINISH]


def test_latencies_become_waits_between_content_events() -> None:
    planned = steps(before_head=0.5, first_wait=0.2, chunk_delay=0.1)
    assert not is_immediate(planned)
    assert planned == [
        0.5,
        b"HEAD" + frames(b"P1", b"P2"),
        0.2,
        chunk(b"C0"),
        0.1,
        chunk(b"C1"),
        0.1,
        chunk(b"C2"),
        0.1,
        frames(b"C3", b"X", b"T1", b"T2") + LAST_CHUNK,
        Action.FINISH,
    ]


def test_cut_after_n_content_events() -> None:
    head = b"HEAD" + frames(b"P1", b"P2")
    assert steps(Fault("cut", after=2)) == [head + frames(b"C0", b"C1"), Action.CLOSE]
    assert steps(Fault("cut", after=0, mode="reset")) == [head, Action.RESET]
    assert steps(Fault("cut", after=99))[-1] is Action.CLOSE
    assert steps(Fault("cut", after=99))[0] == head + frames(b"C0", b"C1", b"C2", b"C3")


def test_stall_abandons() -> None:
    assert steps(Fault("stall", after=1)) == [
        b"HEAD" + frames(b"P1", b"P2", b"C0"),
        Action.ABANDON,
    ]


def test_malformed_inserts_one_bad_event_and_continues() -> None:
    planned = steps(Fault("malformed", after=1))
    assert planned == [
        b"HEAD"
        + frames(b"P1", b"P2", b"C0", b"BAD", b"C1", b"C2", b"C3", b"X", b"T1", b"T2")
        + LAST_CHUNK,
        Action.FINISH,
    ]


def test_mid_stream_error_replaces_the_rest() -> None:
    assert steps(Fault("mid_stream_error", after=3), chunk_delay=0.1)[-3:] == [
        0.1,
        chunk(b"ERR") + LAST_CHUNK,
        Action.FINISH,
    ]


def test_no_terminal_keeps_close_events_and_ends_cleanly() -> None:
    planned = steps(Fault("no_terminal"))
    body = b"HEAD" + frames(b"P1", b"P2", b"C0", b"C1", b"C2", b"C3", b"X") + LAST_CHUNK
    assert planned == [body, Action.FINISH]


def test_no_done_drops_only_the_marker() -> None:
    plan = StreamPlan(
        preamble=(b"P",), content=(b"C0",), close=(b"X",), terminal=(b"T",), marker=(b"M",)
    )

    def body(fault: Fault | None) -> bytes:
        planned = stream_steps(
            b"H",
            plan,
            fault,
            before_head=0.0,
            first_wait=0.0,
            chunk_delay=0.0,
            malformed=b"BAD",
            error_event=b"ERR",
        )
        assert planned[-1] is Action.FINISH
        assert isinstance(planned[0], bytes)
        return planned[0]

    assert body(None) == b"H" + frames(b"P", b"C0", b"X", b"T", b"M") + LAST_CHUNK
    assert body(Fault("no_done")) == b"H" + frames(b"P", b"C0", b"X", b"T") + LAST_CHUNK
    assert body(Fault("no_terminal")) == b"H" + frames(b"P", b"C0", b"X") + LAST_CHUNK


def test_malformed_content_corrupts_one_content_event_in_place() -> None:
    def corrupt(event: bytes) -> bytes:
        return event.lower()

    def planned(after: int) -> list[Step]:
        fault = Fault("malformed", after=after, target="content")
        return stream_steps(
            b"HEAD",
            PLAN,
            fault,
            before_head=0.0,
            first_wait=0.0,
            chunk_delay=0.0,
            malformed=b"BAD",
            error_event=b"ERR",
            corrupt=corrupt,
        )

    rest = frames(b"X", b"T1", b"T2") + LAST_CHUNK
    head = b"HEAD" + frames(b"P1", b"P2")
    assert planned(1) == [head + frames(b"C0", b"c1", b"C2", b"C3") + rest, Action.FINISH]
    assert planned(0)[0] == head + frames(b"c0", b"C1", b"C2", b"C3") + rest
    assert planned(9)[0] == head + frames(b"C0", b"C1", b"C2", b"c3") + rest  # the last one
    # the default corruption only drops closing braces and brackets
    default = stream_steps(
        b"",
        StreamPlan(preamble=(), content=(b'data: {"a":[1]}\n\n',), close=(), terminal=()),
        Fault("malformed", after=0, target="content"),
        before_head=0.0,
        first_wait=0.0,
        chunk_delay=0.0,
        malformed=b"BAD",
        error_event=b"ERR",
    )
    assert default[0] == chunk(b'data: {"a":[1\n\n') + LAST_CHUNK


def test_stall_with_a_delay_closes_or_goes_on() -> None:
    head = b"HEAD" + frames(b"P1", b"P2", b"C0")
    assert steps(Fault("stall", after=1, delay=0.5)) == [head, 0.5, Action.CLOSE]
    assert steps(Fault("stall", after=1, delay=0.5, then="close")) == [head, 0.5, Action.CLOSE]
    assert steps(Fault("stall", after=1, delay=0.5, then="continue"), chunk_delay=0.1) == [
        head,
        0.6,  # the pause, then the usual gap before the next content event
        chunk(b"C1"),
        0.1,
        chunk(b"C2"),
        0.1,
        frames(b"C3", b"X", b"T1", b"T2") + LAST_CHUNK,
        Action.FINISH,
    ]
    # after every content event: the pause comes before the close and terminal events
    assert steps(Fault("stall", after=9, delay=0.5, then="continue")) == [
        b"HEAD" + frames(b"P1", b"P2", b"C0", b"C1", b"C2", b"C3"),
        0.5,
        frames(b"X", b"T1", b"T2") + LAST_CHUNK,
        Action.FINISH,
    ]


def test_faults_that_do_not_touch_the_stream_shape() -> None:
    assert steps(Fault("slow_headers", delay=1.0)) == steps()


def test_body_steps() -> None:
    def head(length: int) -> bytes:
        return b"H%d|" % length

    body = b"0123456789"
    assert body_steps(head, body, None, wait=0.0) == [b"H10|0123456789", Action.FINISH]
    assert body_steps(head, body, None, wait=0.3) == [0.3, b"H10|0123456789", Action.FINISH]
    assert body_steps(head, body, Fault("cut"), wait=0.0) == [b"H10|01234", Action.CLOSE]
    assert body_steps(head, body, Fault("cut", mode="reset"), wait=0.0)[-1] is Action.RESET
    assert body_steps(head, body, Fault("stall"), wait=0.0) == [b"H10|01234", Action.ABANDON]
    assert body_steps(head, body, Fault("malformed"), wait=0.0) == [b"H5|01234", Action.FINISH]
    stall = Fault("stall", delay=0.5)
    assert body_steps(head, body, stall, wait=0.0) == [b"H10|01234", 0.5, Action.CLOSE]
    stall = Fault("stall", delay=0.5, then="continue")
    assert body_steps(head, body, stall, wait=0.0) == [b"H10|01234", 0.5, b"56789", Action.FINISH]
    content = Fault("malformed", target="content")
    assert body_steps(head, body, content, wait=0.0, text_end=7) == [b"H7|0123456", Action.FINISH]
    assert body_steps(head, body, content, wait=0.0) == [b"H5|01234", Action.FINISH]
