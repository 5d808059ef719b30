"""Shared state for a fleet of gateway processes (workers and instances) through Redis:
breakers, failure counts, the half-open probe and retry budgets. See docs/fleet.md."""

from failsoft.fleet.shared import Fleet

__all__ = ["Fleet"]
