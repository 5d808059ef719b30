"""`failsoft demo`: simulated providers, a gateway in front, a scripted outage, real SDKs.

No config, no keys, no network: everything runs on 127.0.0.1 inside this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, defaultdict

from rich.console import Console

from failsoft.assemble import Runtime
from failsoft.demo.report import second_line, summary
from failsoft.demo.script import (
    DEFAULT_DURATION,
    PHASES,
    SIM_DEFAULTS,
    anthropic_scenario,
    gateway_config,
    openai_scenario,
    phase_at,
)
from failsoft.demo.traffic import Result, Traffic
from failsoft.events import BreakerChanged, RequestFinished
from failsoft.health.types import Incident
from failsoft.serve import GatewayThread
from failsoft.sim import Scenario, SimServer

__all__ = ["run_demo"]


def run_demo(
    *, duration: float | None = None, rate: float = 8.0, keep: bool = False, quiet: bool = False
) -> int:
    duration = DEFAULT_DURATION if duration is None else duration
    console = Console(highlight=False, width=None if _is_tty() else 132)
    # The gateway's own failover log lines would drown the live view; the demo shows them.
    logging.basicConfig(level=logging.ERROR)
    with contextlib.ExitStack() as stack:
        sim_a = stack.enter_context(SimServer(defaults=SIM_DEFAULTS).run_in_thread())
        sim_o = stack.enter_context(SimServer(defaults=SIM_DEFAULTS).run_in_thread())
        sim_g = stack.enter_context(SimServer(defaults=SIM_DEFAULTS).run_in_thread())
        config = gateway_config(sim_a.url, sim_o.url, sim_g.url)
        runtime = Runtime(config, proxies={})  # 127.0.0.1 only, whatever HTTPS_PROXY says
        gateway = stack.enter_context(GatewayThread(config, runtime=runtime).running())
        console.print(
            "[bold]failsoft demo[/bold]: everything runs on 127.0.0.1; no config, keys or network\n"
            f"  gateway    [bold]{gateway.url}[/bold]\n"
            f"  status     {gateway.runtime.status_url} (failsoft's own status page)\n"
            f"  providers  simulated Anthropic {sim_a.url}, simulated OpenAI {sim_o.url},\n"
            f"             simulated Gemini {sim_g.url}\n"
            "  models     claude-opus → claude-opus-4-7, claude-sonnet-4-5, claude-haiku-4-5,\n"
            "             gemini-2.5-flash (Gemini dialect, translated)\n"
            "             gpt-4o → gpt-4o, gpt-4o-mini\n"
            f"  traffic    {rate:g} req/s for {duration:g}s through the real anthropic and openai "
            "SDKs (streaming and not, SDK retries off)\n"
            f"  outage     {_script(duration)}\n"
        )
        opens: Counter[str] = Counter()
        live: list[str] = []

        def breaker_changed(event: BreakerChanged) -> None:
            if event.state == "open":
                opens[event.target.label] += 1
            if event.state in ("open", "closed"):
                live.append(
                    f"breaker {event.target.label} {event.state}"
                    + (f" for {event.open_for:g}s" if event.open_for else "")
                    + f": {event.reason}"
                )

        gateway.runtime.hub.subscribe(BreakerChanged, breaker_changed)
        resumed: list[str] = []

        def request_finished(event: RequestFinished) -> None:
            if event.broken and event.target is not None:
                how = "finished by resume" if event.resumed else "ended with an error event"
                live.append(f"stream from {event.target.label} broke mid-answer: {how}")
                if event.resumed:
                    resumed.append(event.target.label)

        gateway.runtime.hub.subscribe(RequestFinished, request_finished)
        incidents: dict[str, Incident] = {}

        def incident_changed(kind: str, incident: Incident) -> None:
            incidents[incident.id] = incident
            verb = kind.removeprefix("incident.")
            live.append(f"incident {verb}: {incident.title} [{incident.status}]")

        gateway.runtime.health.listeners.append(incident_changed)
        sim_a.load_scenario(Scenario.from_dict(anthropic_scenario(duration)))
        sim_o.load_scenario(Scenario.from_dict(openai_scenario(duration)))
        start_wall = time.time()
        results = asyncio.run(_drive(console, gateway.url, duration, rate, quiet, live))
        stats = {
            **sim_a.stats()["models"],
            **sim_o.stats()["models"],
            **sim_g.stats()["models"],
        }
        flat = {m: {"attempts": s["attempts"], **s["outcomes"]} for m, s in stats.items()}
        console.print()
        summary(console, results, flat, opens, len(resumed))
        _incidents(console, gateway.runtime.status_url, incidents, start_wall)
        if keep:
            console.print(
                f"\nThe gateway stays up at [bold]{gateway.url}[/bold] (Ctrl-C to stop). Open\n"
                f"  {gateway.runtime.status_url} in a browser, or try:\n"
                f"  curl -s {gateway.url}/v1/chat/completions -H 'content-type: application/json' "
                '-d \'{"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}\'\n'
                f"  OPENAI_BASE_URL={gateway.url}/v1 ANTHROPIC_BASE_URL={gateway.url} "
                "your-app"
            )
            with contextlib.suppress(KeyboardInterrupt):
                while True:
                    time.sleep(3600)
    return 0


def _incidents(console: Console, url: str, incidents: dict[str, Incident], start: float) -> None:
    """What failsoft's own status page says about the outage it just watched."""
    console.print(f"\nStatus page: [bold]{url}[/bold] (JSON: {url}/api/v2/summary.json)")
    if not incidents:
        console.print("failsoft opened no incident (traffic never looked bad enough).")
        return
    for incident in sorted(incidents.values(), key=lambda i: i.started_at):
        at = incident.started_at.timestamp() - start
        models = ", ".join(incident.components)
        console.print(
            f"Incident opened by failsoft at t+{at:.0f}s: [bold]{incident.title}[/bold] "
            f"({incident.status}; {models}; peak error rate {incident.peak_error_rate:.0%}, "
            f"{incident.requests_failed_over} requests failed over, "
            f"{incident.requests_lost} lost)"
        )


def _script(duration: float) -> str:
    lines = [f"at {p.start * duration:3.0f}s  {p.label}" for p in PHASES if p.label != "healthy"]
    return "\n             ".join(lines)


def _is_tty() -> bool:
    import sys

    return sys.stdout.isatty()


async def _drive(
    console: Console, url: str, duration: float, rate: float, quiet: bool, live: list[str]
) -> list[Result]:
    results: list[Result] = []
    per_second: dict[int, list[Result]] = defaultdict(list)
    start = time.monotonic()

    def record(result: Result) -> None:
        results.append(result)
        per_second[int(result.finished - start)].append(result)

    traffic = Traffic(url, rate, record)
    printer = asyncio.create_task(_print_seconds(console, per_second, start, duration, quiet, live))
    try:
        await traffic.run(duration)
    finally:
        await traffic.close()
        await asyncio.sleep(1.05)
        printer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await printer
    return results


async def _print_seconds(
    console: Console,
    per_second: dict[int, list[Result]],
    start: float,
    duration: float,
    quiet: bool,
    live: list[str],
) -> None:
    second = 0
    while True:
        await asyncio.sleep(max(0.0, start + second + 1 - time.monotonic()))
        if not quiet:
            phase = phase_at(second, duration).label
            console.print(second_line(second, phase, per_second.get(second, [])))
            for line in live:
                console.print(f"       [cyan]↳ {line}[/cyan]")
        live.clear()
        second += 1
