"""failsoft.sim: a fault-injecting simulator of the OpenAI, Anthropic and Gemini APIs.

A real HTTP/1.1 server on loopback that the official SDKs accept unchanged, with
deterministic answers (text, tool calls, replies to tool results) that let a test see
what crossed a gateway's translation, and faults set per model (status errors, resets,
hangs, cut or stalled or malformed streams) from Python, a control API, a request header
or a scenario timeline. See docs/simulator.md.
"""

from failsoft.sim.faults import FAULT_KINDS, Fault
from failsoft.sim.scenarios import Scenario, TimelineEntry
from failsoft.sim.server import SimServer, serve
from failsoft.sim.settings import ModelSettings
from failsoft.sim.spec import SpecError
from failsoft.sim.stats import RequestRecord

__all__ = [
    "FAULT_KINDS",
    "Fault",
    "ModelSettings",
    "RequestRecord",
    "Scenario",
    "SimServer",
    "SpecError",
    "TimelineEntry",
    "serve",
]
