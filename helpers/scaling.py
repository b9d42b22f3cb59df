"""Scaling on paper: what an all-reduce costs, what a step will take on N devices, what memory each one needs.

* :func:`ring_allreduce_seconds`: the time of averaging ``S`` bytes of gradients over ``N`` workers with a ring
  all-reduce (the algorithm NCCL and gloo use for large buffers): every worker sends and receives
  ``2 (N - 1) / N x S`` bytes in ``2 (N - 1)`` rounds, so the time is ``2 (N-1)/N x S / bandwidth`` plus
  ``2 (N - 1) x latency``. The bandwidth term hardly grows with N (it tends to ``2 S / bandwidth``); the latency
  term does.
* :func:`predict_step`: data parallelism with a fixed batch per device (weak scaling): each step costs the
  measured compute time plus the part of the all-reduce that does not overlap with the backward pass. Efficiency
  = compute / step time: the fraction of the ideal N-fold throughput actually reached.
* :func:`adam_bytes_per_parameter` and :func:`zero_bytes_per_device`: the memory of weights, gradients and Adam
  states per parameter, in fp32 and in mixed precision as the ZeRO paper counts it (fp16 weights and gradients
  2 + 2 bytes, fp32 master weights, momentum and variance 4 + 4 + 4 bytes), and how ZeRO stages 1-3 divide it.
"""

from __future__ import annotations

from dataclasses import dataclass

GBIT = 1e9 / 8  # bytes per second in one Gbit/s

# Stated link bandwidths (bytes/s) and latencies (s) for the paper model: round, typical published figures.
NETWORKS = {
    "10 Gbit/s Ethernet": (10 * GBIT, 50e-6),
    "100 Gbit/s InfiniBand": (100 * GBIT, 5e-6),
    "NVLink (H100, ~450 GB/s per direction)": (450e9, 2e-6),
}


def ring_allreduce_seconds(num_bytes: float, workers: int, bandwidth: float, latency: float = 0.0) -> float:
    """Seconds to all-reduce ``num_bytes`` over ``workers`` with a ring: 2(N-1)/N x bytes / bandwidth + 2(N-1) x latency."""
    if workers < 1 or num_bytes < 0 or bandwidth <= 0 or latency < 0:
        raise ValueError(f"need workers >= 1, num_bytes >= 0, bandwidth > 0, latency >= 0; got {workers}, "
                         f"{num_bytes}, {bandwidth}, {latency}")
    if workers == 1:
        return 0.0
    return 2 * (workers - 1) / workers * num_bytes / bandwidth + 2 * (workers - 1) * latency


@dataclass(frozen=True)
class StepPrediction:
    """Predicted time of one data-parallel step on ``workers`` devices."""

    workers: int
    compute_seconds: float
    communication_seconds: float
    step_seconds: float

    @property
    def efficiency(self) -> float:
        """compute / step: 1.0 means N devices give N times the throughput of one."""
        return self.compute_seconds / self.step_seconds

    @property
    def speedup(self) -> float:
        """Throughput relative to one device (same batch per device)."""
        return self.workers * self.efficiency

    @property
    def communication_dominates(self) -> bool:
        return self.communication_seconds > self.compute_seconds


def predict_step(compute_seconds: float, gradient_bytes: float, workers: int, bandwidth: float,
                 latency: float = 0.0, overlap: float = 0.0) -> StepPrediction:
    """One step = compute + the non-overlapped part of the gradient all-reduce.

    ``overlap`` in [0, 1] is the fraction of the all-reduce hidden behind the backward pass (DDP starts reducing
    a bucket as soon as its gradients are ready); 0 is the pessimistic bound, and the hidden part can never exceed
    the backward's own time, which this model does not track: keep ``overlap`` modest.
    """
    if compute_seconds <= 0 or not 0 <= overlap <= 1:
        raise ValueError(f"need compute_seconds > 0 and 0 <= overlap <= 1, got {compute_seconds}, {overlap}")
    communication = ring_allreduce_seconds(gradient_bytes, workers, bandwidth, latency)
    return StepPrediction(workers, compute_seconds, communication, compute_seconds + (1 - overlap) * communication)


def adam_bytes_per_parameter(mixed_precision: bool) -> dict[str, int]:
    """Bytes per parameter of weights, gradients and Adam's state.

    fp32: weights 4, gradients 4, momentum + variance 8 (16 in all). Mixed precision as ZeRO counts it: fp16
    weights 2 and gradients 2, and an fp32 master copy, momentum and variance 12 (16 in all: no saving).
    ``torch.autocast`` keeps fp32 weights and gradients and casts on the fly, so it is 16 bytes as in fp32; what
    mixed precision shrinks is the activations.
    """
    if mixed_precision:
        return {"weights": 2, "gradients": 2, "optimizer_states": 12}
    return {"weights": 4, "gradients": 4, "optimizer_states": 8}


def zero_bytes_per_device(num_parameters: int, devices: int, stage: int, mixed_precision: bool = True) -> float:
    """Bytes of weights + gradients + Adam state on each of ``devices`` devices with ZeRO stage 0-3.

    Stage 1 shards the optimizer states, stage 2 also the gradients, stage 3 (= FSDP's full sharding) also the
    weights; each sharded part is divided by the number of devices. Activations are extra and not sharded.
    """
    if stage not in (0, 1, 2, 3) or devices < 1 or num_parameters < 0:
        raise ValueError(f"need stage in 0-3, devices >= 1, num_parameters >= 0; got {stage}, {devices}, {num_parameters}")
    per = adam_bytes_per_parameter(mixed_precision)
    weights, gradients, states = (per[k] * num_parameters for k in ("weights", "gradients", "optimizer_states"))
    if stage >= 1:
        states /= devices
    if stage >= 2:
        gradients /= devices
    if stage >= 3:
        weights /= devices
    return weights + gradients + states
