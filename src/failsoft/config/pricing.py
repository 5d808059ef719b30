"""The `pricing` section: prices that override (or add to) the maintained price table.

failsoft prices usage from the `genai-prices` table (docs/spend.md). A model the table does
not know, a negotiated rate, or a self-hosted model (price it 0 to silence the warning)
goes here, keyed by `provider/model` (as in the trail) or by the upstream model name alone:

```yaml
pricing:
  openai/gpt-4o-mini: {input: 0.15, output: 0.60, cached_input: 0.075}
  llama3.1:8b: {input: 0, output: 0}
```
"""

from __future__ import annotations

from dataclasses import dataclass

from failsoft.config.validate import check, non_negative


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """US dollars per million tokens."""

    input: float = check(non_negative)
    """Per million input tokens."""
    output: float = check(non_negative)
    """Per million output tokens."""
    cached_input: float | None = check(non_negative, None)
    """Per million input tokens read from the provider's prompt cache (default: `input`)."""
