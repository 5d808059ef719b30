"""The `failsoft` command: check-config, serve, sim and demo, run as a user would."""

from __future__ import annotations

import os
import select
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from failsoft.cli import main
from failsoft.sim import SimServer
from tests.conftest import PROVIDER_KEY
from tests.helpers import chat, request


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def process(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> Iterator[subprocess.Popen[str]]:
    # `failsoft serve` keeps its history in ./failsoft.db: run it in a scratch directory,
    # never in the checkout.
    scratch = tempfile.TemporaryDirectory()
    proc = subprocess.Popen(
        [sys.executable, "-m", "failsoft", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd or scratch.name,
    )
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        scratch.cleanup()


def wait_for(url: str, proc: subprocess.Popen[str], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            raise AssertionError(f"exited with {proc.returncode}:\n{out}")
        try:
            if request(url, method="GET", timeout=1).status == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"{url} did not come up")


def test_check_config_prints_the_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text(
        "providers:\n"
        "  anthropic: {dialect: anthropic, base_url: 'https://api.anthropic.com', api_key: '${K}'}\n"
        "  openai: {dialect: openai, base_url: 'https://api.openai.com/v1'}\n"
        "models:\n"
        "  claude: [anthropic/claude-opus-4-7, openai/gpt-5]\n"
    )
    os.environ["K"] = "sk-secret-value"
    try:
        assert main(["check-config", str(path)]) == 0
    finally:
        del os.environ["K"]
    out = capsys.readouterr().out
    assert f"{path}: OK" in out
    assert "1. anthropic/claude-opus-4-7  (anthropic)" in out
    assert "2. openai/gpt-5  (openai)" in out
    assert "key from ${K}" in out
    assert "sk-secret-value" not in out
    assert (
        "deadlines: connect 5s, first_byte 15s, first_token auto (cold 10s, then 4 x p90, "
        ">= 4s) then the next target races, idle 30s, total 600s"
    ) in out
    assert "resume: on (up to 2 per request, prefill auto)" in out
    assert "breaker: opens after 5 consecutive failures" in out


def test_check_config_reports_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "providers:\n  a: {dialect: openai, base_url: 'http://x'}\nmodels:\n  m: [b/x]\n"
    )
    assert main(["check-config", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{path}: 1 problem:")
    assert "line 4: models.m[0]: unknown provider 'b'" in err


def test_serve_runs_the_gateway(tmp_path: Path, sim: SimServer) -> None:
    port = free_port()
    path = tmp_path / "gw.yaml"
    path.write_text(
        f"providers:\n  o: {{dialect: openai, base_url: '{sim.url}/v1', api_key: '${{KEY}}'}}\n"
        "models:\n  gpt: [o/gpt-4o]\n"
    )
    with process(
        "serve", "--config", str(path), "--port", str(port), env={"KEY": PROVIDER_KEY}
    ) as proc:
        wait_for(f"http://127.0.0.1:{port}/healthz", proc)
        resp = request(f"http://127.0.0.1:{port}/v1/chat/completions", body=chat("gpt"))
        assert resp.status == 200
        assert resp.json()["model"] == "gpt-4o"
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status says why.
    assert proc.returncode in (0, -15)
    assert "Finished server process" in out
    assert "serving 1 virtual models" in out
    assert PROVIDER_KEY not in out


def exited(proc: subprocess.Popen[str], seconds: float) -> float | None:
    """Seconds `proc` took to exit, or None if it still runs after `seconds`."""
    started = time.monotonic()
    try:
        proc.wait(seconds)
    except subprocess.TimeoutExpired:
        return None
    return time.monotonic() - started


@pytest.mark.parametrize("signals", [1, 2])
def test_ctrl_c_stops_serve_with_the_default_store(
    tmp_path: Path, sim: SimServer, signals: int
) -> None:
    port = free_port()
    path = tmp_path / "gw.yaml"
    path.write_text(
        f"providers:\n  o: {{dialect: openai, base_url: '{sim.url}/v1', api_key: '${{KEY}}'}}\n"
        "models:\n  gpt: [o/gpt-4o]\n"
    )
    serve = ("serve", "--config", str(path), "--port", str(port))
    with process(*serve, cwd=tmp_path, env={"KEY": PROVIDER_KEY}) as proc:
        wait_for(f"http://127.0.0.1:{port}/healthz", proc)
        for _ in range(signals):
            proc.send_signal(signal.SIGINT)
            time.sleep(0.05)
        # Before: two Ctrl-C left aiosqlite's thread open and the process hung for ever.
        took = exited(proc, 10)
        out = proc.stdout.read() if proc.stdout else ""
    assert took is not None, f"still running 10 s after {signals} Ctrl-C:\n{out}"
    assert (tmp_path / "failsoft.db").exists()
    assert "Traceback" not in out, out
    if signals == 1:
        assert "Application shutdown complete" in out


@pytest.mark.parametrize("gap", [0.05, 1.0])
def test_a_second_ctrl_c_cuts_a_slow_shutdown_short(
    tmp_path: Path, sim: SimServer, gap: float
) -> None:
    """A webhook receiver that never answers keeps a graceful shutdown waiting for its
    delivery (up to 5 s); a second Ctrl-C ends it at once, and the undelivered message is
    still kept, as a dead letter in the store. (0.05 s apart, the second one comes before
    uvicorn asks the app to shut down, and it never does; 1 s apart, during it.)"""
    port = free_port()
    with socket.socket() as hook:  # listens, never accepts: requests to it hang
        hook.bind(("127.0.0.1", 0))
        hook.listen(8)
        path = tmp_path / "gw.yaml"
        path.write_text(
            f"providers:\n  o: {{dialect: openai, base_url: '{sim.url}/v1', api_key: '${{KEY}}'}}\n"
            "models:\n  gpt: [o/gpt-4o]\n"
            "breaker: {failures: 1}\n"
            f"webhooks: [{{url: 'http://127.0.0.1:{hook.getsockname()[1]}/hook', timeout: 30}}]\n"
        )
        serve = ("serve", "--config", str(path), "--port", str(port))
        with process(*serve, cwd=tmp_path, env={"KEY": PROVIDER_KEY}) as proc:
            wait_for(f"http://127.0.0.1:{port}/healthz", proc)
            sim.set_fault("gpt-4o", {"kind": "status", "status": 500})
            request(f"http://127.0.0.1:{port}/v1/chat/completions", body=chat("gpt"))
            ready, _, _ = select.select([hook], [], [], 10)  # breaker.opened is being sent
            assert ready, "no webhook was sent"
            proc.send_signal(signal.SIGINT)
            assert exited(proc, gap) is None  # waiting for the delivery
            proc.send_signal(signal.SIGINT)
            took = exited(proc, 10)
            out = proc.stdout.read() if proc.stdout else ""
    assert took is not None and took < 3.0, f"took {took} s after the second Ctrl-C:\n{out}"
    assert "Traceback" not in out, out
    with sqlite3.connect(tmp_path / "failsoft.db") as db:
        letters = db.execute("SELECT event_type, last_error FROM failsoft_dead_letters").fetchall()
    assert [kind for kind, _ in letters] == ["breaker.opened"], out
    assert "shutting down before delivery" in letters[0][1]


def test_serve_refuses_a_bad_config(tmp_path: Path) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text("providers: {}\n")
    result = subprocess.run(
        [sys.executable, "-m", "failsoft", "serve", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 1
    assert "at least one provider is required" in result.stderr


def test_sim_command_with_a_scenario(tmp_path: Path) -> None:
    port = free_port()
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        "timeline:\n  - {at: 0, model: gpt-4o, fault: {kind: status, status: 529}}\n"
    )
    with process("sim", "--port", str(port), "--scenario", str(scenario)) as proc:
        wait_for(f"http://127.0.0.1:{port}/v1/models", proc)
        resp = request(f"http://127.0.0.1:{port}/v1/chat/completions", body=chat("gpt-4o"))
        assert resp.status == 529
        resp = request(f"http://127.0.0.1:{port}/v1/chat/completions", body=chat("gpt-4o-mini"))
        assert resp.status == 200


def test_demo_runs_and_summarises() -> None:
    # An operator's proxy variables (here a dead port) must not carry the demo's 127.0.0.1
    # traffic: neither the gateway's nor the demo callers' (the SDKs honour them by default).
    dead = "http://127.0.0.1:9"
    proxies = {f"{name}_proxy": dead for name in ("http", "https", "all")}
    env = {**os.environ, **proxies, **{k.upper(): v for k, v in proxies.items()}}
    env.update(no_proxy="", NO_PROXY="")
    result = subprocess.run(
        [sys.executable, "-m", "failsoft", "demo", "--duration", "8", "--rate", "8"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "  gateway    http://127.0.0.1:" in out
    assert "t+01s" in out
    assert "What the callers saw (through failsoft)" in out
    assert "What the providers saw (simulator counters)" in out
    assert "claude-sonnet-4-5" in out  # the backup answered during the 529 phase
    assert "gemini-2.5-flash ×" in out  # another dialect answered while every Claude was down
    assert "Status page: http://127.0.0.1:" in out
    assert "Incident opened by failsoft at t+" in out
    assert "claude-opus-4-7" in out.split("Incident opened by failsoft", 1)[1]
    assert "529 ×" in out
    if "cut ×" in out:  # a stream was cut (whether one was depends on the short run's timing)
        assert "finished by resume" in out
        assert "could not be finished" not in out
    assert "Traceback" not in result.stderr


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "serve" in capsys.readouterr().out


def test_demo_keep_leaves_the_gateway_up() -> None:
    with process("demo", "--duration", "2", "--rate", "4", "--quiet", "--keep") as proc:
        assert proc.stdout is not None
        url = None
        deadline = time.monotonic() + 60
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            if "stays up at" in line:
                url = line.split("stays up at", 1)[1].split()[0]
        assert url is not None, "the demo never said where the gateway stays up"
        resp = request(f"{url}/v1/chat/completions", body=chat("gpt-4o"))
        assert resp.status == 200
        assert resp.headers["x-failsoft-provider"] == "openai"
