"""Virtual model → targets; the fallback loop; the streaming commit point."""

from failsoft.router.router import Answer, Router
from failsoft.router.streaming import CommittedStream

__all__ = ["Answer", "CommittedStream", "Router"]
