"""The outages the benchmark can stage (`--fault`), each as the simulator fault put on the
primary's timeline entry plus what the run around it needs: the window, the load, the
simulator's model settings, and the targets the figures are judged by.

* `overload`: the primary answers 529 overloaded. The original run; its figures and
  targets are unchanged.
* `silent`: the primary accepts connections and never answers (`hang`). Nothing tells the
  gateway that anything is wrong; only its own clocks can, so the question is how fast.
* `cut`: every primary stream stops after 3 content events (FIN, no terminating chunk). The
  gateway's default config resumes a broken stream on the backup; both models give the same
  fixed answer and the backup repeats its last sentences when asked to continue, so each
  caller's text can be compared with the one right answer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

FAULTS = ("overload", "silent", "cut")

ANSWER = (
    "Arriving Thursday. Order 48213 left the Rotterdam depot on Tuesday and is due in Lyon on "
    "Thursday before noon. The pallet count did not change: four pallets were scanned at the "
    "gate and all four match the manifest. Nothing else changed."
)
"""The `cut` run's fixed answer (41 words, 41 content events): its first sentence is two
words, so a cut after 3 events leaves a partial answer that already spans a sentence end,
and the backup's answer to "continue" (its last two sentences again, the simulator's
`repeat_sentences` default, then the rest) overlaps it from the first word."""

CUT_AFTER = 3
"""Content events a primary stream delivers before it is cut."""

# failsoft's default breaker, as `failsoft check-config` prints it for the generated config:
# the limits below are what that breaker should achieve, so they are fixed here rather than
# read from the implementation (a change of default must not move the target with it).
BREAKER_FAILURES = 5
OPEN_FOR = 2.0
MAX_OPEN_FOR = 10.0

SILENCE_NOTICED = 2.5
"""Seconds of primary traffic a silent outage may cost before the gateway stops sending
(the silence recognised within ~2 s, plus the requests already waiting on it)."""
CUT_SPARE = 0.35
"""Seconds of traffic allowed beyond the ideal in a cut outage (streams that started on the
primary while the breaker was still closed): 7 at 20 streams/s, which with the 5 failures
that open the breaker and the 3 probes of a 16 s outage makes the target of 15."""


@dataclass(frozen=True, slots=True)
class Kind:
    """One outage kind and the run built around it."""

    name: str
    headline: str
    """What the primary does during the outage, for the report's first line."""
    fault: dict[str, Any]
    """The simulator fault on the primary's timeline entry."""
    outcome: str
    """The simulator's outcome for an attempt the fault hit ("529", "hang", "cut")."""
    full: tuple[float, float, float]
    """(duration, outage start, outage end) in seconds from t=0."""
    quick: tuple[float, float, float]
    rate: float
    """Default client requests per second."""
    streams_only: bool
    """Default load shape: every request streaming, or plain and streaming alternating."""
    answer: str | None
    """A fixed answer both models give; callers' answers are then checked word for word."""
    hold: float
    """Seconds a caller's request may hold its connection in the worst case the default
    config allows (sizes the connection pools and the drain)."""


KINDS: dict[str, Kind] = {
    "overload": Kind(
        "overload",
        "answers {primary} with 529 overloaded",
        {"kind": "status", "status": 529, "message": "Overloaded (bench/outage.py scenario)"},
        "529",
        (60.0, 10.0, 40.0),
        (20.0, 4.0, 14.0),
        50.0,
        False,
        None,
        0.0,
    ),
    "silent": Kind(
        "silent",
        "accepts connections to {primary} and never answers (hang)",
        {"kind": "hang"},
        "hang",
        (60.0, 10.0, 40.0),
        # Each probe of a silent primary takes the silence threshold (~1 s) to fail, which
        # pushes the breaker's 8 s open period past a 20 s run: 12 s after the outage.
        (26.0, 4.0, 14.0),
        50.0,
        False,
        None,
        16.0,  # the default first_byte limit (15 s), then the backup's answer
    ),
    "cut": Kind(
        "cut",
        f"cuts every {{primary}} stream after {CUT_AFTER} content events (FIN, no last chunk)",
        {"kind": "cut", "after": CUT_AFTER, "stream": True},
        "cut",
        (40.0, 10.0, 26.0),
        (20.0, 4.0, 9.0),  # the 16 s outage scaled like the overload's: a third, rounded
        20.0,
        True,
        ANSWER,
        1.0,
    ),
}


def probes(outage: float) -> int:
    """Half-open probes the default breaker sends during an outage of `outage` seconds if it
    opened at its start: one per open period (2 s, doubling to 10 s) that ends inside it."""
    count, t, period = 0, OPEN_FOR, OPEN_FOR
    while t < outage:
        count += 1
        period = min(period * 2, MAX_OPEN_FOR)
        t += period
    return count


def primary_limit(kind: str, rate: float, outage: float) -> int:
    """The most attempts on the primary during the outage that still count as the outage
    having been handled well.

    * overload: the 5 failures that open the breaker and one probe per open period (10 in
      the original 30 s target, kept as it was).
    * silent: `SILENCE_NOTICED` seconds of the primary's share of the load, then probes.
    * cut: the 5 failures, the probes, and `CUT_SPARE` seconds of traffic to spare.
    """
    if kind == "overload":
        return 10
    if kind == "silent":
        return math.ceil(SILENCE_NOTICED * rate) + probes(outage)
    return BREAKER_FAILURES + probes(outage) + max(7, math.ceil(CUT_SPARE * rate))
