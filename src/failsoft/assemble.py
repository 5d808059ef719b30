"""The composition root: one place that turns a `Config` into working objects."""

from __future__ import annotations

from failsoft.clock import SYSTEM_CLOCK, Clock
from failsoft.config import Config
from failsoft.events import EventHub
from failsoft.providers import Provider, build_providers
from failsoft.router import Router
from failsoft.transport import Transport


class Runtime:
    """Everything a gateway process (or a library user) needs, wired once.

    `start()` must run inside the event loop that will serve requests, because the shared
    aiohttp session belongs to that loop.
    """

    def __init__(self, config: Config, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.config = config
        self.clock = clock
        self.hub = EventHub()
        self.transport = Transport()
        self.providers: dict[str, Provider] = build_providers(config.providers)
        self.router = Router(config, self.providers, self.transport, clock=clock, hub=self.hub)

    async def start(self) -> None:
        await self.transport.start()

    async def close(self) -> None:
        await self.transport.close()
