"""What compiling the hot-path modules with mypyc would save, in instructions per request.

A trial, not a build: it copies a tree's `src/failsoft` to a scratch directory, compiles
the modules listed in `MODULES` there with mypyc (from the mypy in this venv; a C compiler
is needed), checks that the gateway then imports the compiled ones, and counts
instructions per request with `bench/callgrind_requests.py` for the tree as it is and the
compiled copy, A, B, A, B, ... in each mode asked for.

    python bench/mypyc_trial.py --src src --modes gpt gpt-ns --rounds 2

Why a trial: the profile of the default path is flat (no function above ~7 % of its own
time; docs/benchmark.md), so what is left is the interpreter's cost of running many
small Python functions. mypyc removes that cost without a hand-written extension; this
script says how much, and which modules mypyc cannot compile as they are (`MODULES`
lists what compiles; docs/benchmark.md, the issue 18 fifth-sitting section, the blockers).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

MODULES = (
    "server/door.py",
    "server/cycle.py",
    "server/protocol.py",
    "server/direct.py",
    "server/access_line.py",
    "server/chat.py",
    "server/app.py",
    "router/run.py",
    "router/race.py",
    "router/attempt.py",
    "router/complete.py",
    "dialects/openai.py",
    "dialects/template.py",
    "dialects/base.py",
    "dialects/sse.py",
    "transport/h1.py",
    "transport/http.py",
    "logjson.py",
    "logfmt.py",
    "health/windows.py",
    "policy/window.py",
)
"""The modules on the default path that mypyc compiles as they are. Left out, and why:
`dialects/openai_fast.py` (its msgspec `Struct`s lose their field types when compiled:
`from __future__ import annotations` leaves strings mypyc does not resolve, and every
decode then fails, silently falling back to the slow path), `transport/headers.py`
(mypyc's internal error on `cls.__new__(cls)` in a classmethod)."""

_NET = re.compile(r"^([0-9.]+) M instructions per request net")


def compile_copy(src: Path, into: Path, modules: tuple[str, ...]) -> Path:
    """`src/failsoft` copied to `into/src/failsoft` with `modules` compiled in place."""
    tree = into / "src"
    shutil.copytree(src / "failsoft", tree / "failsoft", ignore=shutil.ignore_patterns("*.so"))
    mypyc = Path(sys.executable).with_name("mypyc")
    argv = [str(mypyc), *(f"failsoft/{m}" for m in modules)]
    done = subprocess.run(argv, cwd=tree, capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-20:])
        raise SystemExit(f"mypyc failed:\n{tail}")
    check = (
        "import importlib, sys\n"
        "for m in sys.argv[1:]:\n"
        "    f = importlib.import_module(m).__file__\n"
        "    assert f.endswith('.so'), f\n"
    )
    names = [f"failsoft.{m[:-3].replace('/', '.')}" for m in modules]
    env = {**os.environ, "PYTHONPATH": str(tree)}
    subprocess.run([sys.executable, "-c", check, *names], env=env, check=True)
    return tree


def count(tree: Path, model: str, requests: int, port: int) -> float:
    """Instructions per request (millions) of `tree` serving `model`."""
    argv = [
        sys.executable,
        str(HERE / "callgrind_requests.py"),
        "--src",
        str(tree),
        "--requests",
        str(requests),
        "--port",
        str(port),
        "--model",
        model,
    ]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        found = _NET.match(line)
        if found:
            return float(found.group(1))
    raise SystemExit(f"no count in callgrind_requests.py's output:\n{out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--src", default="src", help="the failsoft sources (a tree's src)")
    parser.add_argument("--modes", nargs="+", default=["gpt", "gpt-ns"])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--port", type=int, default=19500)
    args = parser.parse_args()
    if importlib.util.find_spec("mypyc") is None:
        raise SystemExit("mypyc is part of mypy: pip install mypy")
    src = Path(args.src).resolve()
    with tempfile.TemporaryDirectory(prefix="failsoft-mypyc-") as scratch:
        print(f"compiling {len(MODULES)} modules of {src} (a minute or two) ...", flush=True)
        compiled = compile_copy(src, Path(scratch), MODULES)
        print("| mode | round | interpreted | compiled | change |")
        print("|---|---:|---:|---:|---:|")
        for mode in args.modes:
            for round_ in range(1, args.rounds + 1):
                plain = count(src, mode, args.requests, args.port)
                fast = count(compiled, mode, args.requests, args.port)
                change = (fast - plain) / plain * 100
                print(
                    f"| {mode} | {round_} | {plain:.3f} M | {fast:.3f} M | {change:+.1f} % |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
