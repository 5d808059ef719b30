"""What a listener exposes, and to whom: the warnings `failsoft serve` logs at start and
`failsoft check-config` prints, and the check of `server.tls` files at load.

A gateway holds every provider key it is configured with; bound to an address other
machines can reach and without `auth:`, it lends them to anyone who finds the port. Without
TLS, the caller keys (and prompts) cross the network readable by anyone on the path. Both
are legitimate behind a proxy that adds them, so they are warnings, not errors.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import ssl
from pathlib import Path

from failsoft.config.loader import Document
from failsoft.config.schema import Config, ServerConfig

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def is_loopback(host: str) -> bool:
    """Whether `host` is reachable from this machine only: 127.0.0.0/8, ::1, `localhost`.
    `0.0.0.0`, `::`, other addresses and any other name count as exposed."""
    name = host.strip().strip("[]").lower()
    if name in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def exposure_warnings(config: Config, host: str | None = None) -> list[str]:
    """Warnings about what serving `config` on `host` (default `server.host`) exposes.
    Never quotes a secret: only which keys are set or not."""
    host = config.server.host if host is None else host
    out: list[str] = []
    if not is_loopback(host):
        if config.auth is None:
            out.append(
                f"listening on {host}, reachable from the network, with no `auth:` section: "
                "anyone who can reach this port can spend every provider key configured "
                f"({', '.join(config.providers)}). Declare caller keys under `auth:` "
                "(docs/security.md) or bind 127.0.0.1"
            )
        if config.server.tls is None:
            out.append(
                f"listening on {host} without `server.tls`: caller keys and prompts cross "
                "the network in clear text unless a TLS-terminating proxy fronts failsoft "
                "(docs/deploy.md#tls)"
            )
    admin = config.admin
    if admin.token is not None and not admin.token:
        out.append(
            f"admin.token is empty (from {admin.token.source}): the admin API is off; "
            "set it to a random token (`openssl rand -hex 32`) or remove the key"
        )
    if admin.metrics_token is not None and not admin.metrics_token:
        out.append(
            f"admin.metrics_token is empty (from {admin.metrics_token.source}): "
            "/metrics opens with the admin token only"
        )
    status = config.status
    if not status.public and not admin.token and not admin.metrics_token:
        out.append(
            "status.public is false and no admin.token or admin.metrics_token is set: "
            "/status and /metrics answer 401 to everyone"
        )
    return out


def exposure_summary(config: Config) -> list[str]:
    """What is open without a key, for `check-config`."""
    server, status = config.server, config.status
    where = "loopback only" if is_loopback(server.host) else "reachable from the network"
    scheme = "https" if server.tls is not None else "http"
    tls = (
        f"TLS: {server.tls.cert} (key {server.tls.key})"
        if server.tls is not None
        else "no TLS (plain HTTP)"
    )
    if status.public:
        open_routes = "/healthz, /readyz, /status, /metrics"
    else:
        token = "admin or metrics token" if config.admin.metrics_token else "admin token"
        open_routes = f"/healthz, /readyz; /status and /metrics need the {token}"
    return [
        f"listener: {scheme}://{server.host}:{server.port} ({where}; {tls})",
        f"public without a key: {open_routes}",
    ]


def resolve_tls(server: ServerConfig, doc: Document) -> ServerConfig | None:
    """`server` with its TLS paths made absolute (relative ones from the config file's
    directory), after checking that the pair loads; problems go to `doc`."""
    tls = server.tls
    if tls is None:
        return server
    source = Path(doc.source)
    base = source.parent if source.is_file() else Path.cwd()
    paths: dict[str, str] = {}
    missing = False
    for name in ("cert", "key"):
        path = (base / getattr(tls, name)).resolve()
        if not path.is_file():
            doc.problem(
                ("server", "tls", name),
                f"no such file: {path} (relative paths are read from {base})",
            )
            missing = True
        paths[name] = str(path)
    if missing:
        return None
    try:
        # An empty password: an encrypted key is refused here rather than prompted for.
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(
            paths["cert"], paths["key"], password=lambda: b""
        )
    except (ssl.SSLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc.strerror or "unreadable"
        doc.problem(
            ("server", "tls"),
            f"cannot load the certificate and key ({reason}); both must be PEM, the key "
            "unencrypted and matching the certificate",
        )
        return None
    return dataclasses.replace(server, tls=dataclasses.replace(tls, **paths))
