"""Load-testing the sentiment service over loopback (压力测试): concurrent clients, malformed requests mixed in,
throughput, latency percentiles and every response counted by status.

* :func:`running_server` starts ``python -m helpers.serve`` in a subprocess on a free local port, waits (bounded)
  until ``/health`` answers, yields its URL and stops it afterwards, whatever happens.
* :func:`malformed_requests` lists the bad requests a client can send, each with the status it must get.
* :func:`run_load_test` sends a fixed number of requests from ``clients`` concurrent clients (each waits for its
  answer before sending the next: a closed loop, as many callers waiting on a service behave), a ``malformed_share``
  of them malformed, stops issuing new ones after ``time_limit_s``, and summarises: requests sent and answered,
  lost (sent but never answered: connection errors, timeouts), throughput, p50/p95/p99 latency of the good
  requests, counts by status, and any answer that was not the expected one.

Everything runs on 127.0.0.1; nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def machine_load() -> str:
    """The 1, 5 and 15-minute load averages and the core count: how busy the machine was during a measurement."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "load average unavailable"
    return f"load average {one:.1f} / {five:.1f} / {fifteen:.1f} (1 / 5 / 15 min) on {os.cpu_count()} logical cores"


@contextlib.contextmanager
def running_server(model_dir: str | Path, port: int | None = None, max_batch: int = 32, max_wait_ms: float = 5.0,
                   threads: int = 1, int8: bool = False, extra_args: tuple[str, ...] = (),
                   startup_timeout_s: float = 180.0) -> Iterator[str]:
    """Run ``python -m helpers.serve`` on 127.0.0.1 in a subprocess; yield its base URL; always stop it.

    Raises ``RuntimeError`` with the tail of the server's log if it exits or is not healthy within
    ``startup_timeout_s`` seconds (importing torch on a busy 2-core machine can take tens of seconds).
    """
    import httpx

    port = port or free_port()
    command = [sys.executable, "-m", "helpers.serve", "--model", str(model_dir), "--host", "127.0.0.1",
               "--port", str(port), "--max-batch", str(max_batch), "--max-wait-ms", str(max_wait_ms),
               "--threads", str(threads), *(["--int8"] if int8 else []), *extra_args]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "TOKENIZERS_PARALLELISM": "false",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH", "")]))}
    log = tempfile.NamedTemporaryFile(prefix="serve-", suffix=".log", delete=False)
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log, env=env, cwd=str(ROOT))
    url = f"http://127.0.0.1:{port}"

    def log_tail() -> str:
        log.flush()
        return Path(log.name).read_text(errors="replace")[-2000:]

    try:
        deadline = time.monotonic() + startup_timeout_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited with status {process.returncode} before it was ready:\n{log_tail()}")
            try:
                if httpx.get(f"{url}/health", timeout=2.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server was not healthy after {startup_timeout_s:.0f} s:\n{log_tail()}")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
        log.close()
        os.unlink(log.name)


@dataclass(frozen=True)
class PlannedRequest:
    """One request of a load test: its kind, body, headers and the status a correct service answers."""

    kind: str
    body: bytes
    headers: tuple[tuple[str, str], ...]
    expected_status: int


_JSON = (("content-type", "application/json"),)


def good_request(text: str) -> PlannedRequest:
    """A well-formed request for one review."""
    return PlannedRequest("good", json.dumps({"text": text}, ensure_ascii=False).encode(), _JSON, 200)


def malformed_requests(max_texts: int = 32, max_chars: int = 512, max_body_bytes: int = 64 * 1024) -> list[PlannedRequest]:
    """Every kind of bad request the service must turn away with a 4xx (for its default limits)."""
    def body(value) -> bytes:
        return json.dumps(value, ensure_ascii=False).encode()

    return [
        PlannedRequest("empty text", body({"text": ""}), _JSON, 422),
        PlannedRequest("non-string text", body({"texts": ["好评", 42]}), _JSON, 422),
        PlannedRequest("too many texts", body({"texts": ["不错"] * (max_texts + 1)}), _JSON, 422),
        PlannedRequest("text over the length limit", body({"text": "很" * (max_chars + 1)}), _JSON, 422),
        PlannedRequest("invalid JSON", b'{"texts": ["unfinished', _JSON, 400),
        PlannedRequest("wrong field", body({"review": "不错"}), _JSON, 422),
        PlannedRequest("body over the size limit", body({"text": "好" * (max_body_bytes // 2)}), _JSON, 413),
        PlannedRequest("not JSON content type", "好评".encode(), (("content-type", "text/plain"),), 415),
        PlannedRequest("unpaired surrogate", b'{"text": "\\ud800"}', _JSON, 422),
    ]


def plan_requests(texts: list[str], count: int, malformed_share: float = 0.1, seed: int = 0,
                  max_chars: int = 512) -> list[PlannedRequest]:
    """``count`` requests in a seeded random order: ``malformed_share`` of them malformed (the kinds in turn), the
    rest one review each, drawn from ``texts`` that are within the service's limits (non-blank, <= ``max_chars``)."""
    if count < 1 or not 0 <= malformed_share <= 1:
        raise ValueError(f"need count >= 1 and 0 <= malformed_share <= 1, got {count}, {malformed_share}")
    texts = [text for text in texts if isinstance(text, str) and text.strip() and len(text) <= max_chars]
    if not texts:
        raise ValueError(f"plan_requests needs review texts (non-blank, at most {max_chars} characters) to send")
    rng = random.Random(seed)
    n_bad = round(count * malformed_share)
    bad_kinds = malformed_requests()
    plan = [bad_kinds[i % len(bad_kinds)] for i in range(n_bad)]
    plan += [good_request(rng.choice(texts)) for _ in range(count - n_bad)]
    rng.shuffle(plan)
    return plan


async def _drive(url: str, plan: list[PlannedRequest], clients: int, time_limit_s: float,
                 request_timeout_s: float) -> tuple[list[dict], float]:
    import httpx

    records: list[dict] = []
    next_index = 0
    start = time.perf_counter()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=request_timeout_s, limits=limits) as client:

        async def worker() -> None:
            nonlocal next_index
            while next_index < len(plan) and time.perf_counter() - start < time_limit_s:
                request = plan[next_index]
                next_index += 1
                sent = time.perf_counter()
                try:
                    response = await client.post("/predict", content=request.body, headers=dict(request.headers))
                    status, problem = response.status_code, None
                    if status == 200:
                        answer = response.json()
                        if len(answer.get("predictions", [])) != 1:
                            problem = "200 without exactly one prediction"
                    elif "error" not in response.json():
                        problem = "error response without a message"
                except (httpx.HTTPError, ValueError) as error:
                    status, problem = None, f"{type(error).__name__}: {error}"
                records.append({"kind": request.kind, "expected": request.expected_status, "status": status,
                                "seconds": time.perf_counter() - sent, "problem": problem})

        await asyncio.gather(*(worker() for _ in range(clients)))
    return records, time.perf_counter() - start


def run_load_test(url: str, texts: list[str], requests: int = 800, clients: int = 16, malformed_share: float = 0.1,
                  seed: int = 0, time_limit_s: float = 120.0, request_timeout_s: float = 30.0) -> dict:
    """Send ``requests`` requests from ``clients`` concurrent clients and summarise what came back (see module doc).

    The returned dict holds the summary figures and, under ``"latencies_ms"``, every good request's latency.
    """
    if clients < 1:
        raise ValueError(f"clients must be >= 1, got {clients}")
    plan = plan_requests(texts, requests, malformed_share, seed)
    drive = lambda: asyncio.run(_drive(url, plan, clients, time_limit_s, request_timeout_s))  # noqa: E731
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # no event loop here (a script): run it directly
        records, wall = drive()
    else:  # inside Jupyter, whose kernel already runs a loop: use a fresh one in a helper thread
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=1) as pool:
            records, wall = pool.submit(drive).result()
    return summarise(records, wall, planned=len(plan), clients=clients)


def summarise(records: list[dict], wall_seconds: float, planned: int, clients: int) -> dict:
    """Throughput, latency percentiles and counts by status from the per-request records of a load test."""
    statuses: dict[str, int] = {}
    for record in records:
        key = str(record["status"]) if record["status"] is not None else "no response"
        statuses[key] = statuses.get(key, 0) + 1
    good = [r for r in records if r["kind"] == "good" and r["status"] == 200]
    latencies = np.array([1000 * r["seconds"] for r in good]) if good else np.array([float("nan")])
    unexpected = [r for r in records if r["status"] != r["expected"] or r["problem"]]
    by_kind: dict[str, dict[str, int]] = {}
    for record in records:
        if record["kind"] != "good":
            counts = by_kind.setdefault(record["kind"], {})
            counts[str(record["status"])] = counts.get(str(record["status"]), 0) + 1
    return {
        "clients": clients,
        "planned": planned,
        "sent": len(records),
        "not_sent_time_limit": planned - len(records),
        "answered": sum(r["status"] is not None for r in records),
        "lost": sum(r["status"] is None for r in records),
        "status_500_or_more": sum(r["status"] is not None and r["status"] >= 500 for r in records),
        "malformed_sent": sum(r["kind"] != "good" for r in records),
        "malformed_answered_4xx": sum(r["kind"] != "good" and r["status"] is not None and 400 <= r["status"] < 500
                                      for r in records),
        "unexpected": len(unexpected),
        "unexpected_examples": [{k: r[k] for k in ("kind", "expected", "status", "problem")} for r in unexpected[:5]],
        "by_status": dict(sorted(statuses.items())),
        "malformed_by_kind": by_kind,
        "wall_seconds": round(wall_seconds, 3),
        "throughput_rps": round(len(records) / wall_seconds, 2) if wall_seconds > 0 else float("nan"),
        "good_throughput_rps": round(len(good) / wall_seconds, 2) if wall_seconds > 0 else float("nan"),
        "latency_ms": {name: round(float(np.percentile(latencies, q)), 2)
                       for name, q in (("p50", 50), ("p95", 95), ("p99", 99))} | {"mean": round(float(latencies.mean()), 2)},
        "latencies_ms": [round(float(x), 3) for x in latencies],
    }
