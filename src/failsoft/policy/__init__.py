"""Resilience policies: small objects without I/O, reading time only through a Clock."""
