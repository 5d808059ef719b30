"""Virtual model → targets; the fallback loop; the streaming commit point."""

from failsoft.router.outcome import Answer
from failsoft.router.router import Router
from failsoft.router.streaming import CommittedStream

__all__ = ["Answer", "CommittedStream", "Router"]
