"""The limiter a gateway process runs with: shared through Redis when `state.url` is set,
else this process's own counts (its 1/N part under `--workers N`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from failsoft.auth.limits import Limiter

if TYPE_CHECKING:
    from failsoft.assemble import Runtime


def limiter(runtime: Runtime) -> Limiter:
    """Built once per process (kept across config reloads: the limits themselves come
    with each request's key), its refusals registered on `/metrics`."""
    state = runtime.config.state
    shared = None
    if state.url:
        from failsoft.auth.limits_shared import SharedLimits

        shared = SharedLimits(state.url, state.prefix, state.timeout, runtime.clock)
    made = Limiter(runtime.clock, shared=shared)
    runtime.metric_sources.append(made.metrics)
    return made
