"""Plain-text tables and the cells shared by several of them, so that every table of
the report aligns and rounds the same way."""

from __future__ import annotations

from typing import Any

from fsbench.settings import is_direct, proxy_of


def number(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def signed(value: float | None, digits: int = 0) -> str:
    """A difference with its sign: "+12", "-3" ("-" when unknown)."""
    if value is None:
        return "-"
    return ("+" if value >= 0 else "") + number(value, digits)


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]

    def line(cells: list[str]) -> str:
        return (
            "| "
            + " | ".join(
                c.ljust(w) if i == 0 or i == 1 else c.rjust(w)
                for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            )
            + " |"
        )

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(headers), sep, *(line(r) for r in rows)])


def errors_cell(row: dict[str, Any]) -> str:
    count = row.get("error_count", 0)
    return str(count) if count else "0"


def other_cell(row: dict[str, Any]) -> str:
    """CPU other processes used during the window (% of one core), and re-runs if any."""
    value = number(row.get("cpu", {}).get("other_cpu_pct"))
    return value + (f" (run {row['runs']})" if row.get("runs", 1) > 1 else "")


def proxy_cpu_cell(row: dict[str, Any], digits: int = 0) -> str:
    """CPU of the process under test (the gateway, or the floor proxy on floor rows) in % of
    one core; "-" on direct rows, where neither carries the load."""
    if is_direct(row["path"]):
        return "-"
    return number(row.get("cpu", {}).get(f"{proxy_of(row['path'])}_cpu_pct"), digits)


def conns_cell(row: dict[str, Any]) -> str:
    """The gateway's upstream connections and the new TIME_WAIT sockets on the simulator
    port: keep-alive reuse shows as a steady first number and a second near 0."""
    cpu = row.get("cpu", {})
    start, end = cpu.get("tcp_start", {}), cpu.get("tcp_end", {})
    if is_direct(row["path"]) or not end:
        return "-"
    new_tw = end.get("time_wait_sim", 0) - start.get("time_wait_sim", 0)
    return f"{end.get('gw_to_sim', 0)} / {max(0, new_tw)}"


def ranged(row: dict[str, Any], field: str, key: str | None = None, digits: int = 0) -> str:
    """A figure measured in rounds as "median (min..max)" over them (sections 3 and 4, see
    report/rounds.py); the bare figure for a row of one round or without rounds. `key`
    picks a percentile of a dict field ("p50" of "ttfc_us")."""
    value = row.get(field)
    spread = row.get("ranges", {}).get(field)
    if key is not None:
        value = (value or {}).get(key)
        spread = (spread or {}).get(key)
    cell = number(value, digits)
    if value is None or not spread or row.get("rounds", 1) < 2:
        return cell
    return f"{cell} ({number(spread[0], digits)}..{number(spread[1], digits)})"
