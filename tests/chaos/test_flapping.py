"""A primary that goes down and comes back under steady traffic: the breaker opens, the
backup answers everything, only a few probes reach the primary while it is down, and
traffic is back on the primary within seconds of its recovery."""

from __future__ import annotations

import time

import openai

from failsoft.sim import SimServer
from tests.chaos.conftest import HI


def test_flapping_primary(oai: openai.OpenAI, sim: SimServer) -> None:
    outage = (1.0, 4.0)  # seconds from the start
    answered: list[tuple[float, str]] = []
    started = time.monotonic()
    down = up = False
    while (now := time.monotonic() - started) < 7.0:
        if not down and now >= outage[0]:
            sim.set_fault("gpt-4o", {"kind": "status", "status": 529})
            down_at = time.time()
            down = True
        if down and not up and now >= outage[1]:
            sim.clear_faults()
            up_at = time.time()
            up = True
        reply = oai.chat.completions.create(model="gpt", messages=HI)  # never raises
        answered.append((time.monotonic() - started, reply.model))
        time.sleep(0.04)
    # Every request was answered.
    assert len(answered) > 100
    during = [t for t in (r.time for r in sim.requests("gpt-4o")) if down_at <= t < up_at]
    # 3 failures open the breaker; then one probe per open period (0.5 s, 1 s, 2 s, 2 s).
    assert len(during) <= 8, f"{len(during)} attempts reached the primary while it was down"
    first_back = min(t for t, model in answered if t >= outage[1] and model == "gpt-4o")
    assert first_back - outage[1] <= 2.5  # the breaker's longest open period, plus slack
    late = [model for t, model in answered if t >= first_back]
    assert all(model == "gpt-4o" for model in late)
