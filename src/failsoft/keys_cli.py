"""`failsoft keys create|list|show|rotate|revoke --config FILE`: caller keys in the store the
config names, from a shell.

It opens the same store `failsoft serve --config FILE` would (`store.url`, where a relative
SQLite path is read from the config file's directory; else `sqlite:///failsoft.db` in the
working directory, as by `serve`), writes, and exits.
Running gateways see the change within `auth.refresh` seconds, or at once through Redis
when the config sets `state.url`. A secret is printed once, on creation or rotation.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from failsoft.config import Config
    from failsoft.store import Store


def add_parser(sub: Any) -> None:
    """`keys` and its commands, under the main parser's subcommands."""
    keys = sub.add_parser("keys", help="create, list, rotate and revoke caller keys in the store")
    commands = keys.add_subparsers(dest="keys_command", metavar="COMMAND", required=True)

    def command(name: str, help: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = commands.add_parser(name, help=help)
        parser.add_argument("--config", "-c", required=True, metavar="FILE", help="YAML config")
        parser.add_argument("--json", action="store_true", help="print JSON")
        parser.set_defaults(run=run)
        return parser

    create = command("create", "make a key; its secret is printed once")
    create.add_argument("--name", required=True, help="who holds it (unique among live keys)")
    create.add_argument("--expires", help="ISO 8601 date-time with a time zone")
    create.add_argument(
        "--model", action="append", dest="models", metavar="PATTERN", help="a grant (repeat)"
    )
    for name in ("rpm", "tpm", "concurrency"):
        create.add_argument(f"--{name}", type=int, help=f"limit: {name}")
    create.add_argument("--budget", type=float, help="limit: US dollars per budget period")
    create.add_argument("--budget-period", choices=("day", "month"))
    create.add_argument(
        "--meta", action="append", default=[], metavar="KEY=VALUE", help="a label (repeat)"
    )
    command("list", "every key: the config's (read-only) and the store's")
    show = command("show", "one key")
    show.add_argument("key", metavar="ID_OR_NAME")
    rotate = command("rotate", "a new secret for a key (printed once); the old one stops")
    rotate.add_argument("key", metavar="ID_OR_NAME")
    rotate.add_argument(
        "--grace", type=float, default=0.0, help="seconds the old secret still works (default 0)"
    )
    revoke = command("revoke", "refuse a key from now on")
    revoke.add_argument("key", metavar="ID_OR_NAME")


def run(args: argparse.Namespace) -> int:
    from failsoft.assemble import SERVE_STORE
    from failsoft.auth.manage import KeyConflict, KeyInputError, KeyNotFound
    from failsoft.config import load_config
    from failsoft.errors import ConfigError
    from failsoft.store import StoreSetupError, open_store
    from failsoft.store.report import one_line, store_name

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    url = config.store.url or SERVE_STORE
    if url.startswith("memory://") or url.endswith(":memory:"):
        print(
            "failsoft keys: store.url keeps keys in each gateway's memory, where this command "
            "cannot reach them: use /admin/keys, or a sqlite:/// or postgresql:// store",
            file=sys.stderr,
        )
        return 1
    try:
        return asyncio.run(_run(args, config, open_store(url, timeout=config.store.timeout)))
    except (KeyInputError, KeyNotFound, KeyConflict) as exc:
        print(f"failsoft keys: {exc}", file=sys.stderr)
        return 1
    except StoreSetupError as exc:
        print(f"failsoft keys: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # the store is unreachable, refuses us, or is not failsoft's
        where = store_name(open_store(url).describe())  # never the URL: it may hold a password
        print(
            f"failsoft keys: store {where}: {one_line(exc, config.store.timeout)}", file=sys.stderr
        )
        return 1


async def _run(args: argparse.Namespace, config: Config, store: Store) -> int:
    from failsoft.auth.manage import KeyAdmin, parse_spec

    await asyncio.wait_for(store.open(), config.store.timeout)
    try:
        admin = KeyAdmin(store, config)
        command = args.keys_command
        if command == "list":
            keys = await admin.listing()
            print(_dumps({"keys": keys}) if args.json else _table(keys))
            return 0
        if command == "show":
            key = await admin.get(args.key)
            print(_dumps(key) if args.json else _details(key))
            return 0
        secret = None
        if command == "create":
            key, secret = await admin.create(parse_spec(_spec(args)))
        elif command == "rotate":
            key, secret = await admin.rotate(args.key, args.grace)
        else:
            key = await admin.revoke(args.key)
        await _announce(config)
    finally:
        await store.close()
    if args.json:
        print(_dumps(key if secret is None else {**key, "secret": secret}))
    elif secret is not None:
        print(_details(key))
        print(f"\nsecret (shown once, keep it now):\n{secret}")
    else:
        print(f"revoked {key['name']} ({key['id']})")
    return 0


def _spec(args: argparse.Namespace) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": args.name}
    if args.expires:
        spec["expires"] = args.expires
    if args.models:
        spec["models"] = args.models
    limits = {
        k: getattr(args, k)
        for k in ("rpm", "tpm", "concurrency", "budget", "budget_period")
        if getattr(args, k) is not None
    }
    if limits:
        spec["limits"] = limits
    meta = {}
    for item in args.meta:
        name, sep, value = item.partition("=")
        if not sep or not name:
            from failsoft.auth.manage import KeyInputError

            raise KeyInputError(f"--meta expects KEY=VALUE, got {item!r}")
        meta[name] = value
    if meta:
        spec["metadata"] = meta
    return spec


async def _announce(config: Config) -> None:
    if config.state.url:
        from failsoft.auth.notice import announce

        await announce(config.state)


def _dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ",".join(value)
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items()) or "-"
    return str(value)


_COLUMNS = (
    "name",
    "id",
    "source",
    "status",
    "created",
    "expires",
    "revoked",
    "models",
    "limits",
)


def _table(keys: list[dict[str, Any]]) -> str:
    rows = [[c.upper() for c in _COLUMNS]]
    for key in keys:
        row = [_cell(key[c]) for c in _COLUMNS]
        if key["models"] is None:
            row[7] = "*"
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(_COLUMNS))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in rows)


def _details(key: dict[str, Any]) -> str:
    return "\n".join(f"{k}: {_cell(v)}" for k, v in key.items())
