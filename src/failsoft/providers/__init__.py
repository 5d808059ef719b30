"""Provider adapters over the pure wire formats in `failsoft.dialects`."""

from failsoft.providers.base import Provider
from failsoft.providers.registry import build_providers

__all__ = ["Provider", "build_providers"]
