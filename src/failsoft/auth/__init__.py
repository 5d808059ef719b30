"""Caller keys: who may use the gateway, and which models (the `auth` config section)."""
