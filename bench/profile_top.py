"""Where the gateway's event-loop thread spends its time: py-spy under closed-loop load, its
folded stacks aggregated into a top ten by own time, a top ten by inclusive time and a
breakdown by area.

The simulator (core 1) answers 50-word non-streaming answers; the gateway (`failsoft serve`,
core 0, default log level: the access log on) routes `gpt: [sim/gpt-4o, sim/gpt-4o-mini]`
(the default `always_stream: true`) and `gpt-ns` (the same on a provider with
`always_stream: false`); this script (core 1) keeps 32 keep-alive connections busy with
non-streaming chat completions and, after a warm-up, runs
`py-spy record -p <gateway> -d 15 -r 1000 --format raw --threads` (core 1).

    python bench/profile_top.py                          # both modes, one round
    python bench/profile_top.py --rounds 2 --json out.json
    python bench/profile_top.py --modes default --src /tmp/other/src
    python bench/profile_top.py --raw py-spy-out.txt     # aggregate a raw file only

Shares are of the event-loop thread's samples (py-spy counts a thread only while it runs
Python or holds the GIL; C calls are counted in their Python caller). A sample whose
innermost Python frame is asyncio's `Runner.run` is uvloop's own loop (Cython, no Python
frame of its own): its socket reads, writes and polling, and the callbacks it runs in C.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fsbench import procs
from fsbench.loadgen.closedloop import closed_loop
from fsbench.payloads import openai_request
from fsbench.testbed import src_env

ROOT = Path(__file__).resolve().parent.parent

CONFIG = """
providers:
  sim: {{dialect: openai, base_url: "http://127.0.0.1:{sim}/v1", api_key: "k"}}
  simNS: {{dialect: openai, base_url: "http://127.0.0.1:{sim}/v1", api_key: "k",
          always_stream: false}}
models:
  gpt: [sim/gpt-4o, sim/gpt-4o-mini]
  gpt-ns: [simNS/gpt-4o, simNS/gpt-4o-mini]
{extra}
"""

MODES = {"default": "gpt", "asoff": "gpt-ns"}
"""Mode name -> the virtual model that exercises it."""

AREAS = (
    ("router", "failsoft/router/"),
    ("server", "failsoft/server/"),
    ("transport", "failsoft/transport/"),
    ("dialects", "failsoft/dialects/"),
)
LOOP = frozenset(
    {
        "Runner.run",
        "BaseEventLoop.run_until_complete",
        "BaseEventLoop.run_forever",
        "BaseEventLoop._run_once",
        "Handle._run",
    }
)
"""The loop's own frames (asyncio's; uvloop's are Cython): they and the startup frames above
them are in every sample, so the inclusive table starts below the deepest of them."""
_FRAME = re.compile(r"^(?P<name>.*) \((?P<file>[^()]*):(?P<line>\d+)\)$")


@dataclass(frozen=True, slots=True)
class Function:
    """A Python function as the table names it: qualified name, file, first line."""

    name: str
    file: str
    line: int
    """The `def` line; 0 when the source was not found (or for a module's own code)."""

    @property
    def where(self) -> str:
        return f"{short(self.file)}:{self.line}" if self.line else short(self.file)


@dataclass(slots=True)
class Profile:
    """One loop thread's samples, aggregated."""

    samples: int = 0
    own: Counter[Function] = field(default_factory=Counter)
    inclusive: Counter[Function] = field(default_factory=Counter)
    areas: Counter[str] = field(default_factory=Counter)


def short(path: str) -> str:
    """`failsoft/router/run.py`, `asyncio/base_events.py`, `uvloop/__init__.py`: the path
    from the package root on."""
    for marker in ("/src/", "/site-packages/", "/lib/python3", "/Lib/"):
        at = path.rfind(marker)
        if at >= 0:
            rest = path[at + len(marker) :]
            return rest.split("/", 1)[1] if marker == "/lib/python3" else rest
    return path


def area(path: str) -> str:
    """The breakdown's row for a frame's file."""
    name = short(path)
    for label, prefix in AREAS:
        if name.startswith(prefix):
            return label
    if name.startswith(("uvloop/", "asyncio/")):
        return "uvloop/asyncio"
    if name.startswith("failsoft/"):
        return "failsoft, other"
    return "other (stdlib, libraries)"


class Locator:
    """Maps a sampled line to the function around it (py-spy names only the code object and
    the line running), so that one function's lines add up and its class is named."""

    def __init__(self, search: list[str]) -> None:
        self._search = search
        self._defs: dict[str, list[tuple[int, int, str]] | None] = {}

    def function(self, name: str, file: str, line: int) -> Function:
        bare = name.rsplit(".", 1)[-1]  # py-spy 0.4 writes `Class.method`, older ones `method`
        anonymous = bare.startswith("<") and bare != "<module>"  # <lambda>, <genexpr>
        best: tuple[int, int, str] | None = None
        for start, end, qualname in self._load(file) or ():
            named = anonymous or qualname.rsplit(".", 1)[-1] == bare
            if start <= line <= end and named and (best is None or start >= best[0]):
                best = (start, end, qualname)
        if best is None:
            return Function(name, file, 0)
        return Function(best[2] + "." + bare if anonymous else best[2], file, best[0])

    def _load(self, file: str) -> list[tuple[int, int, str]] | None:
        if file not in self._defs:
            self._defs[file] = self._parse(file)
        return self._defs[file]

    def _parse(self, file: str) -> list[tuple[int, int, str]] | None:
        if os.path.isabs(file):
            candidates = [file]
        else:
            candidates = [os.path.join(d, file) for d in self._search]
        for path in candidates:
            try:
                tree = ast.parse(Path(path).read_text())
            except (OSError, SyntaxError, ValueError):
                continue
            found: list[tuple[int, int, str]] = []
            _walk(tree, "", found)
            return found
        return None


def _walk(node: ast.AST, prefix: str, found: list[tuple[int, int, str]]) -> None:
    """Every function under `node`: (first line with decorators, last line, qualname)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            qualname = prefix + child.name
            if not isinstance(child, ast.ClassDef):
                first = min([child.lineno, *(d.lineno for d in child.decorator_list)])
                found.append((first, child.end_lineno or child.lineno, qualname))
            _walk(child, qualname + ".", found)
        else:
            _walk(child, prefix, found)


def parse_raw(path: Path) -> dict[str, list[tuple[list[str], int]]]:
    """py-spy's `--format raw --threads` file: per thread, its stacks (outermost frame first)
    and their sample counts."""
    threads: dict[str, list[tuple[list[str], int]]] = {}
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        thread = "?"
        while frames and not _FRAME.match(frames[0]):
            head = frames.pop(0)
            if head.startswith("thread"):
                thread = head
        threads.setdefault(thread, []).append((frames, int(count)))
    return threads


def loop_thread(threads: dict[str, list[tuple[list[str], int]]]) -> str:
    """The thread running the event loop: the one whose stacks go through asyncio's runner
    most often (the health evaluator and thread pools run elsewhere)."""

    def weight(thread: str) -> tuple[int, int]:
        stacks = threads[thread]
        inside = sum(n for frames, n in stacks if any("asyncio/runners.py" in f for f in frames))
        return inside, sum(n for _, n in stacks)

    return max(threads, key=weight)


def aggregate(path: Path, search: list[str]) -> Profile:
    threads = parse_raw(path)
    profile = Profile()
    if not threads:
        return profile
    locator = Locator(search)
    for frames, count in threads[loop_thread(threads)]:
        functions = []
        for frame in frames:
            match = _FRAME.match(frame)
            if match is None:
                continue
            functions.append(locator.function(match["name"], match["file"], int(match["line"])))
        if not functions:
            continue
        profile.samples += count
        profile.own[functions[-1]] += count
        profile.areas[area(functions[-1].file)] += count
        below = [i for i, f in enumerate(functions) if f.name in LOOP and "asyncio/" in f.file]
        for function in set(functions[below[-1] + 1 :] if below else functions):
            profile.inclusive[function] += count
    return profile


@dataclass(slots=True)
class Run:
    """One mode's measurement in one round."""

    mode: str
    profile: Profile
    requests_per_s: float
    errors: int


def record(args: argparse.Namespace, pinning: procs.Pinning, workdir: Path) -> list[Run]:
    """Start the simulator and a gateway, then load and profile each mode in turn."""
    sim_port, gw_port = args.port + 1, args.port
    env = src_env(Path(args.src).resolve())
    children: list[procs.Child] = []
    runs: list[Run] = []
    try:
        sim = procs.start_child(
            "sim",
            procs.python_cmd("-m", "failsoft", "sim", "--port", str(sim_port)),
            pinning.side_core,
            pinning,
            workdir,
            env=env,
        )
        children.append(sim)
        procs.wait_ready(sim, sim_port, "/v1/models")
        for model in ("gpt-4o", "gpt-4o-mini"):
            status, payload = procs.http_call(
                sim_port, "POST", "/_sim/models", {"model": model, "answer_words": args.words}
            )
            if status != 200:
                raise RuntimeError(f"simulator refused settings for {model}: {payload}")
        config = workdir / "failsoft.yaml"
        config.write_text(CONFIG.format(sim=sim_port, extra=args.extra))
        argv = procs.python_cmd("-m", "failsoft", "serve", "-c", str(config))
        gateway = procs.start_child(
            "gateway",
            [*argv, "--port", str(gw_port)],
            pinning.gateway_core,
            pinning,
            workdir,
            env=env,
        )
        children.append(gateway)
        procs.wait_ready(gateway, gw_port, "/healthz")
        pinning.pin_self()
        for mode in args.modes:
            out = workdir / f"py-spy-{mode}.txt"
            request = openai_request(gw_port, MODES[mode])
            runs.append(asyncio.run(_load(args, pinning, gateway.pid, gw_port, request, mode, out)))
            if not out.exists():
                raise RuntimeError(f"py-spy wrote nothing: see {workdir}/py-spy-{mode}.log")
            runs[-1].profile = aggregate(out, [str(Path(args.src).resolve()), *sys.path])
    finally:
        for child in reversed(children):
            child.stop()
    return runs


async def _load(
    args: argparse.Namespace,
    pinning: procs.Pinning,
    pid: int,
    port: int,
    request: bytes,
    mode: str,
    out: Path,
) -> Run:
    spy: list[subprocess.Popen[bytes]] = []
    log = out.with_suffix(".log")

    def mark(point: str) -> None:
        if point != "start":
            return
        command = [args.py_spy, "record", "-p", str(pid), "-d", str(args.duration)]
        command += ["-r", str(args.rate), "--format", "raw", "--threads", "-o", str(out)]
        with log.open("wb") as sink:
            spy.append(
                subprocess.Popen(
                    pinning.command(pinning.side_core, command),
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                    preexec_fn=pinning.preexec(pinning.side_core),
                )
            )

    tally = await closed_loop(
        port,
        request,
        concurrency=args.connections,
        duration=args.duration + 1.0,
        warmup=args.warmup,
        mark=mark,
    )
    await asyncio.to_thread(spy[0].wait)
    errors = sum(tally.errors.values())
    return Run(mode, Profile(), tally.ok / tally.window_s if tally.window_s else 0.0, errors)


def share(count: int, total: int) -> str:
    return f"{100 * count / total:.1f} %" if total else "-"


def tables(rounds: list[list[Run]], top: int) -> str:
    """Markdown: per mode, the top `top` by own and by inclusive time (ranked by the first
    round, one share column per round) and the breakdown by area."""
    lines: list[str] = []
    modes = [run.mode for run in rounds[0]]
    heads = " | ".join(f"round {i + 1}" for i in range(len(rounds)))
    bars = "|".join("---:" for _ in rounds)
    for index, mode in enumerate(modes):
        runs = [r[index] for r in rounds]
        load = ", ".join(
            f"{run.requests_per_s:,.0f} req/s, {run.profile.samples:,} samples"
            + (f", {run.errors} errors" if run.errors else "")
            for run in runs
        )
        lines += [f"**{mode}** (`{MODES.get(mode, mode)}`; {load})", ""]
        for title, pick in (("own time", "own"), ("inclusive time", "inclusive")):
            first: Counter[Function] = getattr(runs[0].profile, pick)
            lines += [f"| {title} | function | where | {heads} |", f"|---|---|---|{bars}|"]
            for rank, (function, _) in enumerate(first.most_common(top), 1):
                cells = " | ".join(
                    share(getattr(run.profile, pick)[function], run.profile.samples) for run in runs
                )
                lines.append(f"| {rank} | `{function.name}` | {function.where} | {cells} |")
            lines.append("")
        names = [label for label, _ in AREAS]
        names += ["uvloop/asyncio", "failsoft, other", "other (stdlib, libraries)"]
        lines += [f"| area (own time) | {heads} |", f"|---|{bars}|"]
        for name in names:
            cells = " | ".join(share(run.profile.areas[name], run.profile.samples) for run in runs)
            lines.append(f"| {name} | {cells} |")
        lines.append("")
    return "\n".join(lines)


def as_json(rounds: list[list[Run]], top: int) -> list[list[dict[str, object]]]:
    def rows(counter: Counter[Function], total: int) -> list[dict[str, object]]:
        return [
            {"function": f.name, "where": f.where, "samples": n, "share": n / total}
            for f, n in counter.most_common(top)
        ]

    return [
        [
            {
                "mode": run.mode,
                "requests_per_s": run.requests_per_s,
                "errors": run.errors,
                "samples": run.profile.samples,
                "own": rows(run.profile.own, run.profile.samples),
                "inclusive": rows(run.profile.inclusive, run.profile.samples),
                "areas": {k: v / run.profile.samples for k, v in run.profile.areas.items()},
            }
            for run in runs
        ]
        for runs in rounds
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--src", default=str(ROOT / "src"), help="the failsoft sources to run")
    parser.add_argument("--port", type=int, default=19500, help="gateway; the simulator: +1")
    parser.add_argument("--modes", nargs="+", choices=sorted(MODES), default=list(MODES))
    parser.add_argument("--rounds", type=int, default=1, help="fresh processes each round")
    parser.add_argument("--duration", type=int, default=15, help="py-spy's seconds")
    parser.add_argument("--rate", type=int, default=1000, help="py-spy's samples per second")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--words", type=int, default=50, help="the simulator's answer_words")
    parser.add_argument("--extra", default="", help="config appended (YAML)")
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("--json", help="also write the tables' numbers here")
    parser.add_argument("--keep", help="keep py-spy's raw files and the logs in this directory")
    parser.add_argument("--raw", nargs="+", help="only aggregate these py-spy raw files")
    default_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    parser.add_argument("--py-spy", default=default_spy)
    args = parser.parse_args()
    if args.raw:
        search = [str(Path(args.src).resolve()), *sys.path]
        runs = [[Run(Path(r).stem, aggregate(Path(r), search), 0.0, 0)] for r in args.raw]
        print(tables(runs, args.top))
        return
    pinning = procs.Pinning.plan()  # before this process pins itself to the side core
    print(pinning.note, file=sys.stderr)
    rounds = []
    for number in range(args.rounds):
        if args.keep:
            workdir = Path(args.keep) / f"round-{number + 1}"
            workdir.mkdir(parents=True, exist_ok=True)
        else:
            workdir = Path(tempfile.mkdtemp(prefix="failsoft-profile-"))
        rounds.append(record(args, pinning, workdir))
        print(f"round {number + 1} done ({workdir})", file=sys.stderr)
    print(tables(rounds, args.top))
    if args.json:
        Path(args.json).write_text(json.dumps(as_json(rounds, args.top), indent=1) + "\n")


if __name__ == "__main__":
    main()
