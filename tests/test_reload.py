"""Reloading `failsoft serve`'s config in place (SIGHUP, `POST /admin/reload`), as an
operator would: a real `failsoft serve --config FILE` process in front of the simulator,
real SDK callers in flight while the file changes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from failsoft.sim import SimServer
from tests.conftest import CALLER_KEY, PROVIDER_KEY
from tests.helpers import chat, request
from tests.test_cli import free_port

TOKEN = "admin-token-for-reload-tests-0123456789"
AUTH = {"authorization": f"Bearer {TOKEN}"}

CONFIG = """
providers:
  o: {{dialect: openai, base_url: "{sim}/v1", api_key: "${{KEY}}"}}
models:
  m: [{targets}]
breaker: {{failures: 1, open_for: 120, max_open_for: 300}}
deadlines: {{connect: 2, first_token: 5, idle: 5, total: 30}}
retry: {{max_attempts: 1}}
resume: {{enabled: false}}
store: {{url: "memory://"}}
admin: {{token: "{token}"}}
log: {{access: false}}
"""

OLD = "o/gpt-4o, o/gpt-4.1"
NEW = "o/gpt-4.1, o/gpt-4o-mini"
"""After the reload `gpt-4.1` comes first: if its breaker (opened before) survived, the
answers come from gpt-4o-mini; had it been lost, gpt-4.1 would answer."""

INVALID = """
providers:
  o: {dialect: oai, base_url: "http://127.0.0.1:1/v1"}
models:
  m: [nowhere/gpt-4o]
"""


def write(path: Path, sim: SimServer, targets: str, **extra: str) -> None:
    text = CONFIG.format(sim=sim.url, targets=targets, token=TOKEN)
    for key, value in extra.items():
        text += f"{key}: {value}\n"
    path.write_text(text)


@contextmanager
def serve(config: Path, port: int, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    """`failsoft serve`, its output in `<config>.log` (read by the tests; a pipe nobody
    drains could fill up and stall the server)."""
    log = config.with_suffix(".log").open("wb")
    command = [sys.executable, "-m", "failsoft", "serve", "--config", str(config)]
    proc = subprocess.Popen(
        [*command, "--port", str(port), *args],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "KEY": PROVIDER_KEY},
        cwd=config.parent,
    )
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def output(config: Path) -> str:
    return config.with_suffix(".log").read_text(errors="replace")


def until(condition: Callable[[], bool], timeout: float = 20.0, what: str = "") -> float:
    """Poll `condition` until it holds; the seconds it took."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(0.01)
    return time.monotonic() - started


def up(url: str, proc: subprocess.Popen[bytes], config: Path, workers: int = 1) -> None:
    """Wait until `workers` processes have started and the gateway answers."""

    def ready() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"exited with {proc.returncode}:\n{output(config)}")
        try:
            return request(url + "/readyz", method="GET", timeout=1).status == 200
        except OSError:
            return False

    until(ready, what="the gateway to start")
    started = "Application startup complete."
    until(lambda: output(config).count(started) >= workers, what=f"{workers} workers")


_probes: dict[str, openai.OpenAI] = {}


@pytest.fixture(autouse=True)
def _close_probes() -> Iterator[None]:
    yield
    for client in _probes.values():
        client.close()
    _probes.clear()


def answered_by(url: str) -> str:
    """The upstream model answering `m` now (read from a stream's first chunk, so the
    probe does not wait for a whole slow answer). New connections each time: under
    `--workers` either worker may take one."""
    client = _probes.get(url)
    if client is None:
        client = _probes[url] = openai.OpenAI(
            base_url=url + "/v1", api_key=CALLER_KEY, max_retries=0
        )
    with client.chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": "which?"}],
        stream=True,
        extra_headers={"connection": "close"},
    ) as stream:
        for chunk in stream:
            return chunk.model
    raise AssertionError("an empty stream")


@dataclass
class Load:
    """SDK callers asking `m` in a loop (streams and whole answers, OpenAI and
    Anthropic), each call's outcome recorded."""

    url: str
    done: list[tuple[float, float, str]] = field(default_factory=list)
    """(started, ended, upstream model) of each call that got a whole answer."""
    failures: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)
    running: dict[int, float] = field(default_factory=dict)
    """Thread → when its current call began."""

    def start(self, streams: int = 6, whole: int = 3) -> Load:
        """Each caller is a thread with its own SDK client (kept-alive connections, made
        once: the time a call takes is the gateway's)."""
        callers: list[Callable[[Any], str]] = [self._openai_stream] * streams
        callers += [self._openai_whole] * whole + [self._anthropic_stream]
        for caller in callers:
            thread = threading.Thread(target=self._loop, args=(caller,), daemon=True)
            thread.start()
            self.threads.append(thread)
        return self

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(30)

    def _loop(self, call: Callable[[Any], str]) -> None:
        me = threading.get_ident()
        if call == self._anthropic_stream:
            client: Any = anthropic.Anthropic(base_url=self.url, api_key=CALLER_KEY, max_retries=0)
        else:
            client = openai.OpenAI(base_url=self.url + "/v1", api_key=CALLER_KEY, max_retries=0)
        with client:
            while not self.stop.is_set():
                started = self.running[me] = time.monotonic()
                try:
                    model = call(client)
                except Exception as exc:
                    self.failures.append(f"{call.__name__}: {type(exc).__name__}: {exc}")
                    continue
                finally:
                    del self.running[me]
                self.done.append((started, time.monotonic(), model))

    def in_flight_for(self, seconds: float) -> bool:
        """Whether a call has been running for `seconds` (it reached the gateway)."""
        now = time.monotonic()
        return any(now - started >= seconds for started in list(self.running.values()))

    def _openai_stream(self, client: openai.OpenAI) -> str:
        text, model, finish = "", "", None
        with client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "tell me"}], stream=True
        ) as stream:
            for chunk in stream:
                model = chunk.model
                if chunk.choices:
                    text += chunk.choices[0].delta.content or ""
                    finish = chunk.choices[0].finish_reason or finish
        assert finish == "stop" and text.startswith("Simulated answer"), (finish, text)
        return model

    def _openai_whole(self, client: openai.OpenAI) -> str:
        resp = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "tell me"}]
        )
        assert resp.choices[0].finish_reason == "stop"
        return resp.model

    def _anthropic_stream(self, client: anthropic.Anthropic) -> str:
        with client.messages.stream(
            model="m", max_tokens=512, messages=[{"role": "user", "content": "tell me"}]
        ) as stream:
            message = stream.get_final_message()
        assert message.stop_reason == "end_turn", message.stop_reason
        return message.model


@pytest.fixture
def slow_old(sim: SimServer) -> Iterator[SimServer]:
    """The old list's model streams slowly (about a second per answer), so calls are in
    flight when the reload comes; the new list's models answer at once."""
    sim.set_model("gpt-4o", chunk_delay=0.02, answer_words=40)
    yield sim
    sim.set_model("gpt-4o", chunk_delay=0.0, answer_words=12)


def force_open(url: str, target: str) -> None:
    resp = request(
        url + "/admin/breakers",
        body={"target": target, "state": "open", "seconds": 300},
        headers=AUTH,
    )
    assert resp.status == 200, resp.body


def reload_under_load(
    url: str, config: Path, sim: SimServer, send: Callable[[], None]
) -> tuple[Load, float]:
    """Calls in flight on the old list, `send()` the reload: every call gets its whole
    answer, and new calls go to the new list within a second."""
    load = Load(url).start()
    try:
        until(lambda: len(load.done) >= 10, what="calls on the old config")
        until(lambda: load.in_flight_for(0.4), what="a call well under way")
        write(config, sim, NEW)
        sent = time.monotonic()
        send()
        took = until(lambda: answered_by(url) == "gpt-4o-mini", timeout=1.0, what="the new list")
        print(f"reload: the new list answered {took * 1000:.0f} ms after the signal")
        # More calls on the new config, then stop.
        count = len(load.done)
        until(lambda: len(load.done) >= count + 10, what="calls on the new config")
    finally:
        load.finish()
    assert load.failures == []
    # Calls in flight at the reload (begun well before it: they reached the gateway) got
    # their whole answer, from the old list.
    early = [model for started, ended, model in load.done if started < sent - 0.3 < sent < ended]
    assert early and set(early) == {"gpt-4o"}
    models = {model for _, _, model in load.done}
    assert models >= {"gpt-4o", "gpt-4o-mini"}
    assert "gpt-4.1" not in models  # its breaker, opened before the reload, is still open
    return load, took


def test_sighup_reloads_in_place_under_load(tmp_path: Path, slow_old: SimServer) -> None:
    sim = slow_old
    config = tmp_path / "failsoft.yaml"
    write(config, sim, OLD)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with serve(config, port) as proc:
        up(url, proc, config)
        force_open(url, "o/gpt-4.1")
        reload_under_load(url, config, sim, lambda: proc.send_signal(signal.SIGHUP))
        assert proc.poll() is None  # SIGHUP used to end the process
        assert sim.attempts("gpt-4.1") == 0
        health = request(url + "/admin/health", method="GET", headers=AUTH).json()
        opened = [c for c in health["components"] if c["id"] == "o/gpt-4.1"]
        assert opened and opened[0]["breaker"] == "open"
        ready = request(url + "/readyz", method="GET").json()
        assert _check(ready, "config")["ok"] is True
        metrics = request(url + "/metrics", method="GET").body.decode()
        assert 'failsoft_config_reloads_total{outcome="applied"} 1.0' in metrics
        assert "failsoft_config_info{hash=" in metrics
    log = output(config)
    assert "config reload: applied" in log and "models: changed m" in log
    assert PROVIDER_KEY not in log


def _check(ready: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = ready["checks"][name]
    return found


def test_an_invalid_file_leaves_the_old_config_serving(tmp_path: Path, sim: SimServer) -> None:
    config = tmp_path / "failsoft.yaml"
    write(config, sim, OLD)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with serve(config, port) as proc:
        up(url, proc, config)
        config.write_text(INVALID)
        proc.send_signal(signal.SIGHUP)
        until(lambda: "not applied" in output(config), what="the failure logged")
        assert request(url + "/v1/chat/completions", body=chat("m")).json()["model"] == "gpt-4o"
        log = output(config)
        # Every problem the loader found, with its line.
        assert "line 3: providers.o.dialect: expected one of" in log
        assert "line 5: models.m[0]: unknown provider 'nowhere'" in log
        ready = request(url + "/readyz", method="GET")
        assert ready.status == 200  # the old config serves: still ready
        check = _check(ready.json(), "config")
        assert check["ok"] is False and "unknown provider 'nowhere'" in str(check["detail"])

        # The admin route answers the same problems, with a 400.
        resp = request(url + "/admin/reload", body={}, headers=AUTH)
        assert resp.status == 400
        body = resp.json()
        assert body["outcome"] == "invalid"
        assert any("unknown provider 'nowhere'" in p for p in body["problems"])
        assert len(body["problems"]) >= 2

        # Fixed: applied, and the readiness check is clean again.
        write(config, sim, "o/gpt-4o-mini")
        resp = request(url + "/admin/reload", body={}, headers=AUTH)
        assert resp.status == 200, resp.body
        assert resp.json()["outcome"] == "applied"
        assert resp.json()["changed"] == ["models: changed m"]
        assert request(url + "/v1/chat/completions", body=chat("m")).json()["model"] == (
            "gpt-4o-mini"
        )
        assert _check(request(url + "/readyz", method="GET").json(), "config")["ok"] is True
        metrics = request(url + "/metrics", method="GET").body.decode()
        assert 'failsoft_config_reloads_total{outcome="invalid"} 2.0' in metrics


def test_restart_only_keys_are_kept_with_a_warning(tmp_path: Path, sim: SimServer) -> None:
    config = tmp_path / "failsoft.yaml"
    write(config, sim, OLD)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with serve(config, port) as proc:
        up(url, proc, config)
        text = config.read_text().replace('url: "memory://"', f'url: "sqlite:///{tmp_path}/x.db"')
        config.write_text(text + f"server: {{port: {free_port()}}}\n")
        write_new = config.read_text().replace(OLD, "o/gpt-4o-mini")
        config.write_text(write_new)
        resp = request(url + "/admin/reload", body={}, headers=AUTH)
        assert resp.status == 200, resp.body
        body = resp.json()
        assert body["kept_until_restart"] == ["server.port", "store.url"]
        assert body["changed"] == ["models: changed m"]
        assert request(url + "/v1/chat/completions", body=chat("m")).json()["model"] == (
            "gpt-4o-mini"
        )
    log = output(config)
    assert "server.port needs a restart; kept the old value" in log
    assert "store.url needs a restart; kept the old value" in log


def test_admin_reload_needs_the_token(tmp_path: Path, sim: SimServer) -> None:
    config = tmp_path / "failsoft.yaml"
    write(config, sim, OLD)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with serve(config, port) as proc:
        up(url, proc, config)
        assert request(url + "/admin/reload", body={}).status == 401
        bad = {"authorization": "Bearer nope"}
        assert request(url + "/admin/reload", body={}, headers=bad).status == 401
        resp = request(url + "/admin/reload", body={}, headers=AUTH)
        assert resp.status == 200 and resp.json()["outcome"] == "unchanged"


# --------------------------------------------------------------------------- workers


def workers_of(supervisor: int) -> set[int]:
    """The supervisor's worker processes (multiprocessing's spawned children)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == supervisor and b"spawn_main" in cmdline:
            found.add(int(entry.name))
    return found


@contextmanager
def only(worker: int, supervisor: int) -> Iterator[None]:
    """Only `worker` can take a new connection meanwhile: the others are stopped.

    The workers share one listening socket, and Linux does not share its connections out
    evenly (the worker that accepted last tends to accept next), so under load one worker
    could take every call for many seconds (seen once in CI). A stopped worker cannot
    accept; uvicorn's supervisor tolerates a silent worker for 5 s, so the stop is kept
    short."""
    others = workers_of(supervisor) - {worker}
    for pid in others:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in others:
            os.kill(pid, signal.SIGCONT)


def open_in_every_worker(url: str, sim: SimServer, target_model: str, supervisor: int) -> None:
    """Open `target_model`'s breaker in each worker the way traffic does: it fails once
    in each worker (`failures: 1`), then no worker sends it anything."""
    sim.set_fault(target_model, {"kind": "status", "status": 500})
    try:
        workers = sorted(workers_of(supervisor))
        for number, worker in enumerate(workers, start=1):
            done: list[int] = []

            def call(done: list[int] = done) -> None:
                done.append(request(url + "/v1/chat/completions", body=chat("m")).status)

            caller = threading.Thread(target=call)
            with only(worker, supervisor):
                caller.start()
                until(
                    partial(lambda n: sim.attempts(target_model) >= n, number),
                    timeout=3.0,
                    what=f"{target_model} tried by worker {worker}",
                )
            caller.join(20)
            assert done == [200]  # answered by the next target
        # Each worker now has the breaker open: no call reaches the model again.
        for _ in range(4):
            assert request(url + "/v1/chat/completions", body=chat("m")).status == 200
        assert sim.attempts(target_model) == len(workers)
    finally:
        sim.clear_faults(target_model)


def test_sighup_to_the_supervisor_reloads_every_worker(tmp_path: Path, slow_old: SimServer) -> None:
    sim = slow_old
    config = tmp_path / "failsoft.yaml"
    write(config, sim, "o/gpt-4.1, o/gpt-4o")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with serve(config, port, "--workers", "2") as proc:
        up(url, proc, config, workers=2)
        until(lambda: len(workers_of(proc.pid)) == 2, what="two workers")
        before = workers_of(proc.pid)
        open_in_every_worker(url, sim, "gpt-4.1", proc.pid)
        write(config, sim, OLD)  # the same targets, gpt-4o first (breakers kept meanwhile)
        proc.send_signal(signal.SIGHUP)
        until(lambda: output(config).count("config reload: applied") == 2, what="2 reloads")
        reload_under_load(url, config, sim, lambda: proc.send_signal(signal.SIGHUP))
        until(lambda: output(config).count("config reload: applied") == 4, what="4 reloads")
        # Every worker serves the new list (new connections reach either worker).
        for _ in range(20):
            assert answered_by(url) == "gpt-4o-mini"
        assert sim.attempts("gpt-4.1") == 2  # both breakers stayed open
        assert workers_of(proc.pid) == before  # reloaded in place, not restarted


def test_admin_reload_in_one_worker_reloads_all(tmp_path: Path, sim: SimServer) -> None:
    config = tmp_path / "failsoft.yaml"
    write(config, sim, OLD)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with serve(config, port, "--workers", "2") as proc:
        up(url, proc, config, workers=2)
        until(lambda: len(workers_of(proc.pid)) == 2, what="two workers")
        before = workers_of(proc.pid)
        # An invalid file: a 400 from the worker asked, which tells no other worker; then
        # SIGHUP: each worker says why it kept its config, and keeps serving it.
        config.write_text(INVALID)
        resp = request(url + "/admin/reload", body={}, headers=AUTH)
        assert resp.status == 400 and resp.json()["outcome"] == "invalid"
        proc.send_signal(signal.SIGHUP)
        until(lambda: output(config).count("not applied") == 3, what="3 refusals logged")
        assert output(config).count("unknown provider 'nowhere'") == 3
        for _ in range(10):
            assert answered_by(url) == "gpt-4o"
        write(config, sim, "o/gpt-4o-mini")
        resp = request(url + "/admin/reload", body={}, headers=AUTH)
        assert resp.status == 200 and resp.json()["outcome"] == "applied", resp.body
        # The other worker follows (through the supervisor); the one asked finds nothing
        # more to apply.
        until(lambda: output(config).count("config reload: applied") == 2, what="2 reloads")
        for _ in range(20):
            assert answered_by(url) == "gpt-4o-mini"
        assert workers_of(proc.pid) == before


def test_a_worker_replaced_while_the_file_is_invalid_serves_the_last_good_one(
    tmp_path: Path, sim: SimServer
) -> None:
    config = tmp_path / "failsoft.yaml"
    write(config, sim, "o/gpt-4o-mini")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with serve(config, port, "--workers", "2") as proc:
        up(url, proc, config, workers=2)
        until(lambda: len(workers_of(proc.pid)) == 2, what="two workers")
        write(config, sim, OLD)
        proc.send_signal(signal.SIGHUP)
        until(lambda: output(config).count("config reload: applied") == 2, what="2 reloads")
        config.write_text(INVALID)
        before = workers_of(proc.pid)
        os.kill(min(before), signal.SIGKILL)  # a worker crashes; the supervisor replaces it
        until(
            lambda: len(workers_of(proc.pid)) == 2 and workers_of(proc.pid) != before,
            what="a replacement worker",
        )
        until(lambda: "starting on the last config that loaded" in output(config))
        for _ in range(20):  # both workers serve the last good config (OLD)
            assert answered_by(url) == "gpt-4o"
