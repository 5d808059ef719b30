"""What clients.py and servers.py share: pinning, CPU time of a process (tree), the request
body, the self-signed certificate, child processes, the options, the rotating order of the
rounds, the median/range summary and the versions, load averages and JSON of the report.
(bench/client_bench.py and bench/server_candidates.py, which run in the project's venv,
use its child processes and ports too.)

Nothing here is part of the failsoft package; only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parents[2]
REQUEST_BYTES = 2000
TICK = os.sysconf("SC_CLK_TCK")
LOGS: dict[int, Path] = {}
"""A child's pid → its output file (shown when it dies early)."""


def request_body(model: str, stream: bool) -> bytes:
    """An OpenAI chat request of exactly REQUEST_BYTES bytes (padded in the user message)."""
    base = {
        "model": model,
        "stream": stream,
        "max_tokens": 64,
        "messages": [
            {"role": "system", "content": "You are a terse assistant."},
            {"role": "user", "content": ""},
        ],
    }
    pad = REQUEST_BYTES - len(json.dumps(base, separators=(",", ":")).encode())
    base["messages"][1]["content"] = "x" * pad  # type: ignore[index]
    body = json.dumps(base, separators=(",", ":")).encode()
    assert len(body) == REQUEST_BYTES, len(body)
    return body


def completion(
    content: str, ident: str, usage: tuple[int, int], created: int | None = None
) -> dict[str, Any]:
    """A non-streaming chat.completion as the test upstreams answer it (tinyserver.py here,
    bench/client_bench.py's mock): `usage` is (prompt, completion) tokens."""
    answer: dict[str, Any] = {"id": ident, "object": "chat.completion"}
    if created is not None:
        answer["created"] = created
    prompt, completed = usage
    answer.update(
        model="gpt-4o",
        choices=[
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        usage={
            "prompt_tokens": prompt,
            "completion_tokens": completed,
            "total_tokens": prompt + completed,
        },
    )
    return answer


def self_cpu_us() -> float:
    """CPU (user + system) of this process, all threads, in µs."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return (usage.ru_utime + usage.ru_stime) * 1e6


def tree_cpu_us(pid: int) -> float:
    """CPU of `pid` and every live descendant (granian runs its worker as a child), in µs.

    /proc/PID/stat's utime+stime cover all the threads of that process."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    family, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        for child, ppid in parents.items():
            if ppid == parent and child not in family:
                family.add(child)
                frontier.append(child)
    total = 0
    for member in family:
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total * 1e6 / TICK


def pin_cmd(core: int | None, cmd: list[str]) -> list[str]:
    if core is None or os.cpu_count() in (None, 1):
        return cmd
    return ["taskset", "-c", str(core), *cmd]


def child_env() -> dict[str, str]:
    """The environment for children: failsoft importable from this checkout's src (or from
    $CAND_FAILSOFT_SRC, to measure another checkout), and no proxy variables (nothing may
    leave 127.0.0.1)."""
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    src = os.environ.get("CAND_FAILSOFT_SRC") or str(ROOT / "src")
    env["PYTHONPATH"] = src + os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else src
    return env


def start(cmd: list[str], core: int | None, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            pin_cmd(core, cmd), stdout=out, stderr=subprocess.STDOUT, env=child_env()
        )
    LOGS[proc.pid] = log
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], deadline: float = 30.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if proc.poll() is not None:
            tail = LOGS[proc.pid].read_text(errors="replace")[-1500:] if proc.pid in LOGS else ""
            raise RuntimeError(f"{proc.args} exited with {proc.returncode}:\n{tail}")
        try:
            with socket.create_connection((HOST, port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port} after {deadline}s")


def make_cert(folder: Path) -> tuple[Path, Path, Path]:
    """(ca, cert, key): a throwaway CA and a server certificate for 127.0.0.1 signed by it.

    Not one self-signed certificate as tests/certs.py makes: rustls (pyreqwest) refuses a CA
    certificate used as the server's own (CaUsedAsEndEntity)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def build(subject: str, issuer: str, public: object, signer: object, ca: bool) -> object:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(public)  # type: ignore[arg-type]
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.IPAddress(ipaddress.ip_address(HOST)), x509.DNSName("localhost")]
                ),
                critical=False,
            )
        return builder.sign(signer, hashes.SHA256())  # type: ignore[arg-type]

    ca_key = ec.generate_private_key(ec.SECP256R1())
    key = ec.generate_private_key(ec.SECP256R1())
    ca = build("bench CA", "bench CA", ca_key.public_key(), ca_key, True)
    cert = build("bench server", "bench CA", key.public_key(), ca_key, False)
    pem = serialization.Encoding.PEM
    paths = folder / "ca.crt", folder / "server.crt", folder / "server.key"
    paths[0].write_bytes(ca.public_bytes(pem))  # type: ignore[attr-defined]
    paths[1].write_bytes(cert.public_bytes(pem))  # type: ignore[attr-defined]
    paths[2].write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


def summary(values: list[float]) -> str:
    """`median (min-max)`, or `-` when nothing was measured."""
    if not values:
        return "-"
    med = statistics.median(values)
    if len(values) == 1:
        return f"{med:,.0f}"
    return f"{med:,.0f} ({min(values):,.0f}-{max(values):,.0f})"


def versions(names: list[str]) -> dict[str, str]:
    found = {"python": sys.version.split()[0]}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "absent"
    return found


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def parser(
    doc: str, candidates: tuple[str, ...], duration: float, warmup: float
) -> argparse.ArgumentParser:
    """The options every candidates script has (the script adds its own)."""
    found = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawTextHelpFormatter)
    found.add_argument("--rounds", type=int, default=3)
    found.add_argument("--duration", type=float, default=duration)
    found.add_argument("--warmup", type=float, default=warmup)
    found.add_argument("--candidates", nargs="+", default=list(candidates), choices=candidates)
    found.add_argument("--out", help="write every measurement as JSON here")
    return found


def rotation(items: list[str], shift: int) -> list[str]:
    """`items` starting at index `shift` (modulo their number): each round measures the
    candidates in another order, so that a drift in the machine's load falls on all alike."""
    shift %= len(items)
    return items[shift:] + items[:shift]


def print_context(packages: list[str], loads: list[str]) -> None:
    """The lines every report starts with: package versions, load average per round."""
    print(f"versions: {versions(packages)}")
    print(f"load average per round (1/5/15 min): {loads}")


def write_results(path: str | None, packages: list[str], loads: list[str], results: object) -> None:
    """`--out`: every measurement, with the versions and the load averages."""
    if path:
        Path(path).write_text(
            json.dumps(
                {"versions": versions(packages), "loads": loads, "results": results}, indent=1
            )
        )
