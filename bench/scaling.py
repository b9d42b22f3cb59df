"""Lesson 09's figures in one run: distributed equivalence, step times, all-reduce, memory per step, scaling model.

    python bench/scaling.py            # writes bench/results/scaling.json (about 10 minutes on 2 loaded cores)

1. Equivalence (the course's target: <= 1e-5 relative after 20 fp32 steps): one ``torchrun --nproc_per_node=2``
   launch runs the ddp, fsdp, accelerate, trainer and trainer-default engines (per-process batch 4); one process
   with batch 8, and with 2 accumulated micro-batches of 4, run here. Largest per-tensor relative weight difference
   against the one-process run (attention key biases left out: zero gradient, see helpers.distributed), and
   with them.
2. Step times and the all-reduce at the cpu profile's lesson-09 sizes (global batch 16 x 64 tokens, 30 steps): one
   process, two processes (DDP), accumulation, one process at half the batch; one all-reduce of the gradients.
3. Memory and time of one training step at the lesson's length (course-bert classifier, batch 32 x 128 tokens, one
   thread): fp32 / bf16 autocast x activation checkpointing on/off, and fp32 for batch 8-64; the profiler's peak
   checked against the OS's RSS peak in a fresh process with a fixed mmap threshold.
4. The scaling model on paper: predicted step time and efficiency at 2 / 8 / 64 devices for stated networks.

Every figure is stored with the hardware, the date, the load average (the machine is shared) and this command.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from helpers.distributed import launch, relative_parameter_difference, torchrun_command  # noqa: E402
from helpers.env import hardware  # noqa: E402
from helpers.memory import StepSetup, measure_in_fresh_process, measure_step  # noqa: E402
from helpers.scaling import NETWORKS, predict_step  # noqa: E402
from helpers.train_distributed import RunSettings, load_run, run  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "scaling.json"
MIB = 2**20


def _flags(settings: dict) -> list[str]:
    return [f"--{key.replace('_', '-')}={value}" for key, value in settings.items()]


def _median_step(history: dict) -> float:
    return statistics.median(row["seconds"] for row in history["steps"][1:])


def equivalence(folder: Path) -> dict:
    sizes = dict(train_examples=160, eval_examples=32, max_length=32, max_steps=20, dropout=0.0, log_every=10)
    command = torchrun_command("helpers.train_distributed",
                               ["--engines=ddp,fsdp,accelerate,trainer,trainer-default", "--batch-size=4",
                                f"--output={folder / 'two'}", *_flags(sizes)], nproc_per_node=2)
    launched = launch(command, timeout_s=1800)
    one = run(RunSettings(**sizes, batch_size=8))
    accumulated = run(RunSettings(**sizes, batch_size=4, accumulation_steps=2))
    half = run(RunSettings(**sizes, batch_size=4))
    states = {f"2 processes, {engine}": load_run(folder / "two" / engine)[1]
              for engine in ("ddp", "fsdp", "accelerate", "trainer", "trainer-default")}
    states["1 process, 2 x 4 accumulated"] = accumulated["state"]
    states["1 process, batch 4 (different recipe, for contrast)"] = half["state"]
    return {
        "settings": {**sizes, "global_batch": 8, "learning_rate": 1e-4, "optimizer": "AdamW", "precision": "fp32"},
        "reference": "1 process, batch 8",
        "max_relative_difference": {name: relative_parameter_difference(state, one["state"])
                                    for name, state in states.items()},
        "max_relative_difference_with_key_biases": {name: relative_parameter_difference(state, one["state"], exclude=())
                                                    for name, state in states.items()},
        "target": 1e-5, "launch_seconds": launched.seconds,
    }


def step_times(folder: Path) -> dict:
    sizes = dict(train_examples=16 * 30, eval_examples=500, max_length=64, max_steps=30, dropout=0.0, log_every=10)
    launch(torchrun_command("helpers.train_distributed", ["--engines=ddp,fsdp", "--batch-size=8",
                                                          f"--output={folder / 'timed'}", *_flags(sizes)],
                            nproc_per_node=2), timeout_s=1800)
    ddp, _ = load_run(folder / "timed" / "ddp")
    fsdp, _ = load_run(folder / "timed" / "fsdp")
    one = run(RunSettings(**sizes, batch_size=16))
    accumulated = run(RunSettings(**sizes, batch_size=8, accumulation_steps=2))
    half = run(RunSettings(**sizes, batch_size=8))
    return {
        "settings": {**sizes, "global_batch": 16, "threads_per_process": 1},
        "median_seconds_per_step": {"1 process, batch 16": _median_step(one), "2 processes (DDP), 8 each": _median_step(ddp),
                                    "2 processes (FSDP), 8 each": _median_step(fsdp),
                                    "1 process, 2 x 8 accumulated": _median_step(accumulated),
                                    "1 process, batch 8": _median_step(half)},
        "allreduce": ddp["allreduce"],
        "per_rank_bytes": {"ddp": ddp["per_rank"], "fsdp": fsdp["per_rank"]},
    }


def memory() -> dict:
    torch.set_num_threads(1)
    setups = [StepSetup(32, 128, precision, checkpointing) for precision in ("fp32", "bf16") for checkpointing in (False, True)]
    setups += [StepSetup(batch, 128, "fp32", checkpointing) for batch in (8, 16, 64) for checkpointing in (False, True)]
    measured = [measure_step(setup, repeat=3) for setup in setups]
    fresh = measure_in_fresh_process([StepSetup(32, 128), StepSetup(32, 128, checkpointing=True)], timeout_s=1800)
    by_label = {row["label"]: row for row in measured}
    fp32, checkpointed = by_label["fp32, batch 32 x 128"], by_label["fp32 + checkpointing, batch 32 x 128"]
    return {
        "method": "peak = weights + AdamW state (tensor bytes) + the most torch allocated during one step "
                  "(torch.profiler profile_memory=True, running sum of allocations and frees); one torch thread",
        "steps": [{k: v for k, v in row.items() if k != "timeline"} for row in measured],
        "checkpointing_peak_reduction": 1 - checkpointed["peak_bytes"] / fp32["peak_bytes"],
        "checkpointing_time_factor": checkpointed["seconds_per_step"] / fp32["seconds_per_step"],
        "checkpointing_target": 0.30,
        "os_check_fresh_process_fixed_mmap_threshold": fresh,
    }


def predictions(compute_seconds: float, gradient_bytes: int) -> list[dict]:
    rows = []
    for network, (bandwidth, latency) in NETWORKS.items():
        for workers in (2, 8, 64):
            p = predict_step(compute_seconds, gradient_bytes, workers, bandwidth, latency)
            rows.append({"network": network, "bandwidth_bytes_per_s": bandwidth, "latency_s": latency,
                         "devices": workers, "compute_s": compute_seconds, "allreduce_s": p.communication_seconds,
                         "step_s": p.step_seconds, "efficiency": p.efficiency,
                         "communication_dominates": p.communication_dominates})
    return rows


def main() -> int:
    os.environ.setdefault("COURSE_PROFILE", "cpu")
    started, load_before = time.perf_counter(), os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-scaling-") as tmp:
        folder = Path(tmp)
        print("1/3 equivalence ...", flush=True)
        equal = equivalence(folder)
        print("2/3 step times ...", flush=True)
        times = step_times(folder)
    print("3/3 memory ...", flush=True)
    memory_figures = memory()
    gradient_bytes = times["per_rank_bytes"]["ddp"][0]["gradient_bytes"]
    result = {
        "hardware": hardware("cpu"), "torch": torch.__version__, "date": dt.date.today().isoformat(),
        "command": "python bench/scaling.py", "cpu_count": os.cpu_count(),
        "load_average_before": load_before, "load_average_after": os.getloadavg(),
        "note": "shared machine: other jobs ran during the measurement (see load averages); two processes compete "
                "with them for the two cores, so step times are indicative, not a benchmark",
        "equivalence": equal, "step_times": times, "memory": memory_figures,
        "scaling_model": {"compute_seconds_source": "measured median step of 1 process at batch 8 x 64 tokens",
                          "gradient_bytes": gradient_bytes,
                          "predictions": predictions(times["median_seconds_per_step"]["1 process, batch 8"],
                                                     gradient_bytes)},
        "seconds": round(time.perf_counter() - started, 1),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: result[k] for k in ("equivalence", "seconds")}, indent=1)[:3000])
    return 0


if __name__ == "__main__":
    sys.exit(main())
