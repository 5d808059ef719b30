"""The public surface changes only on purpose: `failsoft.__all__` is complete and sorted."""

from __future__ import annotations

import failsoft


def test_all_is_sorted_and_complete() -> None:
    assert failsoft.__all__ == sorted(failsoft.__all__)
    public = {n for n in dir(failsoft) if not n.startswith("_")}
    modules = {
        "clock",
        "config",
        "errors",
        "events",
        "gateway",
        "types",
        "dialects",
        "router",
        "policy",
        "providers",
        "transport",
        "assemble",
        "conversations",
        "server",
        "sim",
        "serve",
        "cli",
        "demo",
        "translate",
        "health",
        "notify",
        "status",
        "store",
        "cache",
        "logfmt",
        "logjson",
        "readiness",
        "reload",
        "supervise",
        "tracing",
        "fleet",
        "auth",
        "keys_cli",
        "usage",
        "validate",
    }
    assert public - modules <= set(failsoft.__all__)
    for name in failsoft.__all__:
        assert hasattr(failsoft, name)
