"""atheris (coverage-guided, libFuzzer) on the door and the translators, in a subprocess
per caller dialect for a fixed time: `FAILSOFT_FUZZ_SECONDS` each (default 15; longer
locally, e.g. 600). A crash is any exception but failsoft's documented request errors
(tests/fuzz/targets.py says which); libFuzzer then exits non-zero and writes the input as
`crash-*`, which the assertion message shows how to replay."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from failsoft import validate
from failsoft.errors import RequestError
from tests.fuzz import pipeline
from tests.services import require_modules

ROOT = Path(__file__).resolve().parents[2]
SECONDS = int(os.environ.get("FAILSOFT_FUZZ_SECONDS", "15"))

pytestmark = pytest.mark.fuzz


@pytest.mark.parametrize("dialect", pipeline.DIALECTS)
def test_seed_corpus_is_valid(dialect: str) -> None:
    """The seeds are requests the door takes: the fuzzer starts from valid ground."""
    seeds = sorted((pipeline.CORPUS / dialect).glob("*.json"))
    assert len(seeds) >= 3
    for seed in seeds:
        payload, model, _ = pipeline.PARSE[dialect](seed.read_bytes())
        try:
            validate.request(dialect, payload, model or "m")
        except RequestError as exc:  # pragma: no cover - the message is the point
            pytest.fail(f"{seed.name}: {exc}")


@pytest.mark.timeout(SECONDS + 120)
@pytest.mark.parametrize("dialect", pipeline.DIALECTS)
def test_atheris(dialect: str, tmp_path: Path) -> None:
    require_modules("test", "atheris")
    corpus = tmp_path / "corpus"
    shutil.copytree(pipeline.CORPUS / dialect, corpus)  # grown by the run, not the checkout
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    args = [sys.executable, "-m", "tests.fuzz.targets", dialect,
            f"-max_total_time={SECONDS}", "-timeout=20", "-rss_limit_mb=2048",
            f"-artifact_prefix={tmp_path}/", str(corpus)]  # fmt: skip
    done = subprocess.run(
        args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=SECONDS + 100
    )
    crashes = sorted(
        p.name
        for p in tmp_path.iterdir()
        if p.name.startswith(("crash-", "timeout-", "oom-", "leak-"))
    )
    tail = "\n".join(done.stderr.splitlines()[-40:])
    assert done.returncode == 0 and not crashes, (
        f"atheris found {crashes} (exit {done.returncode}); replay with "
        f"`python -m tests.fuzz.targets {dialect} <file>`\n{tail}"
    )
    assert "Done " in done.stderr, tail
