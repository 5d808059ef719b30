"""Cross-dialect translation through one internal form (see `ir.py` and docs/translation.md).

Only requests whose target speaks another dialect than the caller come here; the same
dialect travels as the caller's own bytes.
"""

from __future__ import annotations

from failsoft.translate.bridge import Translation, caller_include_usage, translate
from failsoft.translate.common import TargetOptions

__all__ = ["TargetOptions", "Translation", "caller_include_usage", "translate"]
