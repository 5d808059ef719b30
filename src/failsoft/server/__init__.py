"""The HTTP server: a raw ASGI app serving the OpenAI and Anthropic surfaces."""

from failsoft.server.app import GatewayApp

__all__ = ["GatewayApp"]
