"""Spend per caller key: token usage of every billed attempt, priced, totalled per key,
model and day in the store, and the budgets (docs/spend.md)."""
