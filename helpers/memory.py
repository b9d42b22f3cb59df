"""Time and peak memory of one training step on the CPU, measured two independent ways, and the step being measured.

On a GPU, ``torch.cuda.max_memory_allocated()`` answers "how much memory did training need". On the CPU torch keeps
no such counter, and the usual tools miss: ``tracemalloc`` sees Python objects only (a tensor's storage is
allocated in C++), and ``resource.getrusage().ru_maxrss`` is the process's high-water mark since it started: one
number per process, never lowered, including the interpreter, the libraries and everything done before. So:

1. :func:`allocation_timeline` / :func:`peak_allocated_bytes`: ``torch.profiler`` with ``profile_memory=True``
   records every allocation and free of torch's CPU allocator with its size and time. The running sum over one
   step, and its maximum, is the tensor memory the step allocated at its peak. What was alive before the step
   (weights, optimizer state) is counted by :func:`training_state_bytes` and added.
2. :func:`rss_peak_increase`: what the operating system saw. Linux lets a process reset its own high-water mark
   (write ``5`` to ``/proc/self/clear_refs``), so ``VmHWM`` after the step minus ``VmRSS`` before it is the
   step's peak growth of resident memory. glibc keeps freed blocks in its heap for reuse, and after a large free
   it raises the size above which it hands memory straight back to the OS, so with default settings the RSS
   peak over-states what the tensors needed. With a fixed threshold (``MALLOC_MMAP_THRESHOLD_=131072`` in the
   environment of a fresh process) every large tensor is mapped and unmapped on its own, and the two methods
   agree: :func:`measure_in_fresh_process` does exactly that.

:class:`StepSetup` / :func:`build_step` make the measured thing: one AdamW step (forward, backward, update, zero
gradients) of the course classifier on a fixed batch of real reviews padded to ``max_length`` tokens, in fp32 or
with bf16 autocast, with or without activation checkpointing.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import re
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable

import torch

_STATUS = Path("/proc/self/status")
MIB = 2**20


def tensor_bytes(tensors: Iterable[torch.Tensor | None]) -> int:
    """Bytes held by the tensors' elements (``None`` entries, e.g. missing gradients, count 0)."""
    return int(sum(t.numel() * t.element_size() for t in tensors if t is not None))


def training_state_bytes(model: torch.nn.Module, optimizer: torch.optim.Optimizer | None = None) -> dict[str, int]:
    """Bytes of the weights, their gradients (0 when zeroed with ``set_to_none``) and the optimizer's state."""
    state = []
    if optimizer is not None:
        state = [v for per_param in optimizer.state.values() for v in per_param.values() if torch.is_tensor(v)]
    return {"parameters": tensor_bytes(model.parameters()), "gradients": tensor_bytes(p.grad for p in model.parameters()),
            "optimizer_state": tensor_bytes(state)}


def allocation_timeline(fn: Callable[[], object], device: torch.device | str = "cpu") -> tuple[list[float], list[int]]:
    """Run ``fn`` under ``torch.profiler``; return (seconds since the first event, bytes allocated since the start).

    The bytes are the running sum of every allocation (+) and free (-) torch made on ``device``'s kind (CPU or
    CUDA) during ``fn``; frees of tensors that existed before ``fn`` count negative, so the curve can dip below 0.
    """
    kind = torch.device(device).type
    from torch._C._profiler import _EventType
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if kind == "cuda" else [])
    with profile(activities=activities, profile_memory=True) as prof:
        fn()
    events: list[tuple[int, int]] = []
    stack = list(prof.profiler.kineto_results.experimental_event_tree())
    while stack:
        node = stack.pop()
        if node.tag == _EventType.Allocation and torch.device(node.extra_fields.device).type == kind:
            events.append((node.start_time_ns, node.extra_fields.alloc_size))
        stack.extend(node.children)
    if not events:
        return [0.0], [0]
    events.sort()
    start, running, times, totals = events[0][0], 0, [], []
    for time_ns, size in events:
        running += size
        times.append((time_ns - start) / 1e9)
        totals.append(running)
    return times, totals


def peak_allocated_bytes(fn: Callable[[], object], device: torch.device | str = "cpu") -> int:
    """The most tensor memory (bytes) ``fn`` had allocated on ``device`` at any moment, on top of what existed before."""
    return max(0, max(allocation_timeline(fn, device)[1]))


def _status_bytes(field: str) -> int:
    match = re.search(rf"^{field}:\s+(\d+) kB", _STATUS.read_text(), re.M)
    if match is None:
        raise RuntimeError(f"{_STATUS} has no {field} line")
    return int(match.group(1)) * 1024


def rss_peak_increase(fn: Callable[[], object]) -> int:
    """How far this process's resident memory rose above its level at the start while ``fn`` ran (Linux only).

    Returns freed heap memory to the OS first (``malloc_trim``), resets the kernel's high-water mark
    (``/proc/self/clear_refs``), runs ``fn``, and reads ``VmHWM - VmRSS(before)``.
    """
    if not _STATUS.is_file():
        raise RuntimeError("rss_peak_increase needs Linux (/proc/self/status); elsewhere use peak_allocated_bytes, "
                           "which works on every platform")
    import ctypes
    import ctypes.util

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
    Path("/proc/self/clear_refs").write_text("5")
    before = _status_bytes("VmRSS")
    fn()
    return max(0, _status_bytes("VmHWM") - before)


@dataclass(frozen=True)
class StepSetup:
    """One training-step configuration to time and measure."""

    batch_size: int
    max_length: int
    precision: str = "fp32"  # or "bf16" (autocast)
    checkpointing: bool = False  # activation (gradient) checkpointing on every layer
    model: str = "course-bert"

    def __post_init__(self):
        if self.precision not in ("fp32", "bf16"):
            raise ValueError(f"precision must be 'fp32' or 'bf16', got {self.precision!r}")
        if self.batch_size < 1 or self.max_length < 2:
            raise ValueError(f"need batch_size >= 1 and max_length >= 2, got {self.batch_size}, {self.max_length}")

    @property
    def label(self) -> str:
        return f"{self.precision}{' + checkpointing' if self.checkpointing else ''}, batch {self.batch_size} x {self.max_length}"


def review_texts(count: int) -> list[str]:
    """The ``count`` longest reviews of the first 2,000 training rows (they fill ``max_length`` with real text)."""
    if count > 2000:
        raise ValueError(f"at most 2000 texts, asked for {count}")
    return list(_longest_reviews()[:count])


@functools.lru_cache(maxsize=1)
def _longest_reviews() -> tuple[str, ...]:
    from .data import load_reviews

    return tuple(sorted(load_reviews()["train"]["text"][:2000], key=len, reverse=True))


def build_step(setup: StepSetup, device: torch.device | str = "cpu"):
    """``(step, model, optimizer)``: ``step()`` runs one AdamW step on a fixed batch. One step has already run, so
    the optimizer state exists and the next step is representative."""
    from transformers import BertForSequenceClassification

    from .models import load_pretrained, load_tokenizer
    from .profiles import set_seed
    from .training import adamw_parameter_groups

    set_seed(0)
    device = torch.device(device)
    tokenizer = load_tokenizer(setup.model)
    model = load_pretrained(BertForSequenceClassification, setup.model, num_labels=2).to(device)
    if setup.checkpointing:
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    model.train()
    batch = tokenizer(review_texts(setup.batch_size), padding="max_length", truncation=True,
                      max_length=setup.max_length, return_tensors="pt").to(device)
    labels = torch.arange(setup.batch_size, device=device) % 2
    optimizer = torch.optim.AdamW(adamw_parameter_groups(model, 0.01), lr=1e-5)

    def step() -> None:
        if setup.precision == "bf16":
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16):
                loss = model(**batch, labels=labels).loss
        else:
            loss = model(**batch, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step()
    return step, model, optimizer


def measure_step(setup: StepSetup, repeat: int = 3, device: torch.device | str = "cpu", timeline: bool = False) -> dict:
    """Median seconds per step (after a warm-up step) and peak memory: tensors alive before the step (weights,
    optimizer state) plus the most the step allocated on top (activations, gradients, temporaries)."""
    from .timing import median_seconds

    step, model, optimizer = build_step(setup, device)
    seconds = median_seconds(step, device, warmup=0, repeat=repeat)
    static = training_state_bytes(model, optimizer)
    times, totals = allocation_timeline(step, device)
    result = {**asdict(setup), "label": setup.label, "seconds_per_step": seconds,
              "parameter_bytes": static["parameters"], "optimizer_state_bytes": static["optimizer_state"],
              "step_peak_bytes": max(0, max(totals))}
    result["peak_bytes"] = result["parameter_bytes"] + result["optimizer_state_bytes"] + result["step_peak_bytes"]
    if timeline:
        result["timeline"] = {"seconds": times, "bytes": totals}
    return result


def measure_in_fresh_process(setups: Iterable[StepSetup], timeout_s: float = 600.0) -> list[dict]:
    """Both memory methods in one new Python process started with glibc's mmap threshold fixed at 128 KiB
    (``MALLOC_MMAP_THRESHOLD_=131072``): for each setup, the RSS peak increase over one step and the profiler's
    peak over another. The threshold must be fixed before the heap first grows; set later (``mallopt``), glibc
    still serves large blocks from free memory already in its heap, and the RSS again over-states."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MALLOC_MMAP_THRESHOLD_": "131072"}
    payload = json.dumps([asdict(s) for s in setups])
    try:
        done = subprocess.run([sys.executable, "-m", "helpers.memory", "--setups", payload], capture_output=True,
                              text=True, timeout=timeout_s, env=env)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"the memory measurement ran past {timeout_s:.0f} s; use smaller setups") from None
    if done.returncode != 0:
        raise RuntimeError(f"the memory measurement failed (code {done.returncode}):\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _measure_both(setup: StepSetup) -> dict:
    step, model, optimizer = build_step(setup)
    static = training_state_bytes(model, optimizer)
    rss = rss_peak_increase(step)
    allocated = peak_allocated_bytes(step)
    return {**asdict(setup), "label": setup.label, "rss_peak_increase_bytes": rss, "step_peak_bytes": allocated,
            "parameter_bytes": static["parameters"], "optimizer_state_bytes": static["optimizer_state"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.memory", description="measure training-step memory")
    parser.add_argument("--setups", required=True, help="JSON list of StepSetup fields")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    from .env import quiet_libraries

    quiet_libraries()
    print(json.dumps([_measure_both(StepSetup(**fields)) for fields in json.loads(args.setups)]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
