"""helpers.memory (two ways to measure a step's peak memory on the CPU) and helpers.scaling (the paper model)."""

import math
import sys

import pytest
import torch

from helpers.memory import (StepSetup, peak_allocated_bytes, rss_peak_increase, tensor_bytes,
                            training_state_bytes)
from helpers.scaling import (adam_bytes_per_parameter, predict_step, ring_allreduce_seconds,
                             zero_bytes_per_device)

MB = 1_000_000


def test_profiler_peak_counts_what_is_alive_at_the_same_time():
    def two_then_one():
        a = torch.ones(1_000_000)  # 4 MB
        b = torch.ones(2_000_000)  # 8 MB, both alive: 12 MB
        del a, b
        c = torch.ones(500_000)  # 2 MB alone
        return c.sum()

    peak = peak_allocated_bytes(two_then_one)
    assert 12 * MB <= peak < 12.5 * MB


def test_profiler_peak_ignores_what_existed_before():
    keep = torch.ones(5_000_000)
    assert peak_allocated_bytes(lambda: keep.mul_(2)) < 0.1 * MB  # in place: nothing new


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self")
def test_rss_peak_increase_sees_a_touched_buffer():
    def touch():
        buffer = bytearray(60 * MB)  # zero-filled: every page touched
        return len(buffer)

    assert rss_peak_increase(touch) >= 55 * MB


def test_training_state_bytes_after_an_adam_step():
    model = torch.nn.Linear(100, 10)  # 1,010 parameters
    optimizer = torch.optim.AdamW(model.parameters())
    model(torch.ones(2, 100)).sum().backward()
    optimizer.step()
    state = training_state_bytes(model, optimizer)
    assert state["parameters"] == 4 * 1010 and state["gradients"] == 4 * 1010
    assert 8 * 1010 <= state["optimizer_state"] <= 8 * 1010 + 16  # two moments (+ a scalar step count per tensor)
    optimizer.zero_grad(set_to_none=True)
    assert training_state_bytes(model)["gradients"] == 0
    assert tensor_bytes([None, torch.zeros(3, dtype=torch.float16)]) == 6


def test_step_setup_rejects_bad_values():
    with pytest.raises(ValueError, match="precision"):
        StepSetup(8, 64, precision="fp16")
    with pytest.raises(ValueError, match="batch_size"):
        StepSetup(0, 64)
    assert StepSetup(8, 64, checkpointing=True).label == "fp32 + checkpointing, batch 8 x 64"


def test_ring_allreduce_time():
    assert ring_allreduce_seconds(1e9, 1, 1e9) == 0.0
    assert ring_allreduce_seconds(1e9, 2, 1e9) == pytest.approx(1.0)  # 2 (N-1)/N = 1
    assert ring_allreduce_seconds(1e9, 4, 1e9) == pytest.approx(1.5)
    assert ring_allreduce_seconds(0, 64, 1e9, latency=1e-5) == pytest.approx(2 * 63 * 1e-5)
    with pytest.raises(ValueError, match="bandwidth > 0"):
        ring_allreduce_seconds(1e9, 2, 0)


def test_predict_step_efficiency_and_overlap():
    p = predict_step(1.0, 1e9, 2, 1e9)
    assert p.step_seconds == pytest.approx(2.0) and p.efficiency == pytest.approx(0.5)
    assert p.speedup == pytest.approx(1.0) and not p.communication_dominates
    assert predict_step(1.0, 1e9, 2, 1e9, overlap=1.0).efficiency == pytest.approx(1.0)
    assert predict_step(0.1, 1e9, 8, 1e9).communication_dominates
    with pytest.raises(ValueError, match="overlap"):
        predict_step(1.0, 1e9, 2, 1e9, overlap=1.5)


def test_adam_and_zero_memory():
    assert sum(adam_bytes_per_parameter(False).values()) == sum(adam_bytes_per_parameter(True).values()) == 16
    n = 7_000_000_000
    assert [zero_bytes_per_device(n, 8, stage) / 1e9 for stage in range(4)] == pytest.approx([112, 38.5, 26.25, 14])
    assert zero_bytes_per_device(n, 1, 3) == 16 * n
    assert math.isclose(zero_bytes_per_device(n, 8, 3, mixed_precision=False), 16 * n / 8)
    with pytest.raises(ValueError, match="stage"):
        zero_bytes_per_device(n, 8, 4)
