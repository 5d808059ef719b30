"""What the demo prints: a line per second while it runs, a summary table at the end."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Sequence

from rich.console import Console
from rich.table import Table

from failsoft.demo.script import ANSWER
from failsoft.demo.traffic import Result

COLUMNS = (
    "asked for",
    "requests",
    "caller errors",
    "upstream attempts",
    "upstream errors",
    "answered by",
    "p50",
    "p95",
)


def rate(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:3.0f}%" if whole else "  - "


def short(model: str | None) -> str:
    return (model or "").removeprefix("claude-")


def second_line(t: int, phase: str, results: Sequence[Result]) -> str:
    """One second of traffic: what was asked, what answered, caller vs upstream errors."""
    done = len(results)
    failed = sum(1 for r in results if not r.ok)
    attempts = sum(r.upstream_attempts for r in results)
    upstream_failed = sum(r.upstream_failures for r in results)
    answered = Counter(short(r.answered_by) for r in results if r.ok and r.answered_by)
    by = ", ".join(f"{model} {n}" for model, n in answered.most_common()) or "-"
    skipped = sum(r.skipped for r in results)
    caller_style = "bold red" if failed else "green"
    upstream_style = "yellow" if upstream_failed else "green"
    line = (
        f"[dim]t+{t:02d}s[/dim] {phase[:34]:<34} {done:3d} done │ "
        f"caller errors [{caller_style}]{rate(failed, done)}[/] │ "
        f"upstream errors [{upstream_style}]{rate(upstream_failed, attempts)}[/] │ {by}"
    )
    if skipped:
        line += f" [dim]({skipped} skipped: breaker open)[/dim]"
    for result in results:
        if result.error:
            kind = "stream" if result.stream else "call"
            line += f"\n       [red]↳ {result.sdk} {kind}: {_short(result.error)}[/red]"
    return line


def _short(text: str, limit: int = 150) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def summary(
    console: Console,
    results: Sequence[Result],
    sim_stats: dict[str, dict[str, int]],
    breaker_opens: Counter[str] | None = None,
    resumed: int = 0,
) -> None:
    table = Table(title="What the callers saw (through failsoft)", title_justify="left")
    for col in COLUMNS:
        left = col in ("asked for", "answered by")
        table.add_column(col, justify="left" if left else "right", min_width=7)
    for model in sorted({r.model for r in results}):
        _row(table, model, [r for r in results if r.model == model])
    _row(table, "all", results, total=True)
    console.print(table)

    upstream = Table(title="What the providers saw (simulator counters)", title_justify="left")
    for col in ("upstream model", "attempts", "outcomes"):
        upstream.add_column(col, justify="right" if col == "attempts" else "left")
    for model, stats in sim_stats.items():
        outcomes = ", ".join(f"{k} ×{v}" for k, v in sorted(stats.items()) if k != "attempts")
        upstream.add_row(model, str(stats.get("attempts", 0)), outcomes)
    console.print(upstream)

    done = len(results)
    failed = sum(1 for r in results if not r.ok)
    attempts = sum(r.upstream_attempts for r in results)
    upstream_failed = sum(r.upstream_failures for r in results)
    skipped = sum(r.skipped for r in results)
    if breaker_opens:
        opens = ", ".join(f"{target} ×{n}" for target, n in breaker_opens.most_common())
        console.print(
            f"\nCircuit breakers opened: {opens}. {skipped} attempts were skipped while they were "
            "open, instead of hitting a failing model."
        )
    console.print(
        f"\nUpstream, {upstream_failed} of {attempts} attempts failed "
        f"({rate(upstream_failed, attempts).strip()}); the callers saw {failed} of {done} "
        f"requests fail ({rate(failed, done).strip()})."
    )
    if resumed:
        exact = sum(1 for r in results if r.ok and r.text == ANSWER)
        console.print(
            f"[green]{resumed} stream(s) broke after they had started; failsoft asked another "
            "model for the rest and relayed it only once it could check the join (the model "
            "repeated the answer's last sentences), so those callers got the whole answer, "
            f"word for word: {exact} of {len(results)} answers are exactly what the models "
            "say.[/green]"
        )
    broken = [r for r in results if r.error and r.error.startswith("stream broke")]
    if broken:
        console.print(
            f"[yellow]{len(broken)} stream(s) broke after they had started and could not be "
            "finished: failsoft ended each with an explicit error event, so the SDK raised "
            "instead of returning a silently truncated answer.[/yellow]"
        )


def _row(table: Table, name: str, rows: Sequence[Result], total: bool = False) -> None:
    ok = sum(1 for r in rows if r.ok)
    attempts = sum(r.upstream_attempts for r in rows)
    failures = sum(r.upstream_failures for r in rows)
    answered = Counter(r.answered_by for r in rows if r.ok and r.answered_by)
    by = "\n".join(f"{m} ×{n}" for m, n in answered.most_common())
    latencies = sorted(r.latency for r in rows)
    table.add_row(
        f"[bold]{name}[/bold]" if total else name,
        str(len(rows)),
        f"{len(rows) - ok} ({rate(len(rows) - ok, len(rows)).strip()})",
        str(attempts),
        f"{failures} ({rate(failures, attempts).strip()})",
        by,
        _pct(latencies, 50),
        _pct(latencies, 95),
        end_section=not total,
    )


def _pct(values: Iterable[float], pct: int) -> str:
    data = list(values)
    if not data:
        return "-"
    if len(data) == 1:
        return f"{data[0] * 1000:.0f} ms"
    q = statistics.quantiles(data, n=100, method="inclusive")[pct - 1]
    return f"{q * 1000:.0f} ms"
