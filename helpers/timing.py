"""Timing that holds on a GPU as well as on a CPU.

CUDA runs kernels asynchronously: ``time.perf_counter()`` after a model call measures how long it took to
*queue* the work, not to do it. Every timing in the course therefore synchronises the device before it reads
the clock, and warms up first (the first calls pay for memory allocation, kernel selection and caches).

* :func:`synchronize` waits for the device's queued work (a no-op on the CPU);
* :class:`Stopwatch` times a block: ``with Stopwatch(device) as watch: ...``, then ``watch.seconds``;
* :func:`time_call` warms up, then times a function several times and returns each run's seconds.
"""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable

import torch


def synchronize(device: torch.device | str | None = None) -> None:
    """Block until the device has finished its queued work (CUDA); nothing to wait for on the CPU."""
    device = torch.device(device) if device is not None else None
    if (device is None or device.type == "cuda") and torch.cuda.is_available():
        torch.cuda.synchronize(device)


class Stopwatch:
    """Wall-clock time of a ``with`` block, with the device synchronised at both ends."""

    def __init__(self, device: torch.device | str | None = None):
        self.device = device
        self.seconds = float("nan")

    def __enter__(self) -> "Stopwatch":
        synchronize(self.device)
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        synchronize(self.device)
        self.seconds = time.perf_counter() - self._start


def time_call(fn: Callable[[], Any], device: torch.device | str | None = None, warmup: int = 1,
              repeat: int = 3) -> list[float]:
    """Seconds per call of ``fn()`` over ``repeat`` timed runs, after ``warmup`` untimed ones."""
    if not callable(fn):
        raise TypeError(f"time_call needs a function to call, got {type(fn).__name__}")
    if warmup < 0 or repeat < 1:
        raise ValueError(f"need warmup >= 0 and repeat >= 1, got warmup={warmup}, repeat={repeat}")
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        with Stopwatch(device) as watch:
            fn()
        times.append(watch.seconds)
    return times


def median_seconds(fn: Callable[[], Any], device: torch.device | str | None = None, warmup: int = 1,
                   repeat: int = 3) -> float:
    """The median of :func:`time_call`: robust to one run disturbed by something else on the machine."""
    return statistics.median(time_call(fn, device, warmup, repeat))
