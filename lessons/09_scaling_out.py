# %% [markdown]
# # 09 · Scaling out (分布式训练): the same fine-tuning on many processes, and what fits in memory
#
# When one device is too slow, **data parallelism** (数据并行) runs a copy of the model on each of N devices, gives
# each a different slice of every batch, and averages the gradients before every update, so that the N copies
# stay identical. Done right, N processes with batch b compute *the same training* as one process with batch N×b,
# only faster. In this lesson you launch lesson 02's fine-tuning (course-bert on the reviews) with `torchrun`
# (PyTorch's launcher, DDP), with `accelerate launch`, and through `Trainer`, from this notebook, and check the
# claim number by number. Then you measure what decides whether a model fits: memory per step in fp32 and with
# bf16 autocast, with activation checkpointing (激活检查点), for growing batches; what ZeRO / FSDP shard; and you
# predict on paper how the step time grows on 2, 8 and 64 GPUs.
#
# This machine has two CPU cores and no GPU: two processes on two cores show that the arithmetic is the same and
# what the coordination costs, not a speed-up you would see on GPUs. On CPUs the processes talk through the
# **gloo** backend; on NVIDIA GPUs the same script uses **nccl**.

# %%
import os
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from helpers.env import start_lesson

profile, device = start_lesson()  # quiet library logs, seed 0, profile and device, print the environment
torch.set_num_threads(1)  # one thread, like each launched process: fair comparisons, and kind to a shared machine

RUNS = Path(tempfile.mkdtemp(prefix="lesson09-runs-"))  # every run writes its history and weights here
LAUNCH_TIMEOUT_S = 900  # a launch takes about a minute here; the time-out only stops a run that hangs
MIB = 2**20
print(f"load average (1, 5, 15 min): {os.getloadavg()} on {os.cpu_count()} cores: the machine may be shared, "
      "and every time below is taken under this load")

# %% [markdown]
# ## 1. What a launcher does, and the rules for the script (启动器与分布式训练脚本)
#
# `torchrun --nproc_per_node=2 -m helpers.train_distributed ...` starts the same script twice and tells each copy
# who it is through environment variables: `RANK` (0 … N-1, over all machines), `LOCAL_RANK` (the index on this
# machine, which picks the GPU), `WORLD_SIZE` (N), and `MASTER_ADDR`/`MASTER_PORT` (where rank 0 waits for the
# others). `accelerate launch` calls torchrun underneath. Without a launcher the variables are missing and the
# script runs as one process. The script, `helpers/train_distributed.py`, follows these rules (every one is a
# bug when broken):
#
# ```python
# dist.init_process_group("gloo")                 # "nccl" on GPUs; joins the group the launcher set up
# try:
#     set_seed(seed)                              # SAME seed on every rank: the replicas must start equal ...
#     model = DistributedDataParallel(build_model())   # (DDP also broadcasts rank 0's weights to the others)
#     torch.manual_seed(seed + 1_000_003 * rank)  # ... but dropout draws a DIFFERENT mask on every rank
#     sampler = DistributedSampler(train, num_replicas=world_size, rank=rank, shuffle=True, seed=seed)
#     for epoch in range(epochs):
#         sampler.set_epoch(epoch)                # new permutation each epoch, the same on every rank
#         for batch in DataLoader(train, batch_size=b, sampler=sampler):
#             model(**batch).loss.backward()      # DDP all-reduces (averages) the gradients during backward
#             optimizer.step(); optimizer.zero_grad()
#     dist.barrier(); evaluate(); dist.barrier()  # everyone finished training; nobody leaves before the others
#     if rank == 0: save(model.module.state_dict())   # ONE process logs and writes files
# finally:
#     dist.destroy_process_group()                # also on error, so the other ranks are not left waiting
# ```
#
# The script has four **engines** that run this recipe: `ddp` (the loop above), `fsdp` (the same loop, with the
# model sharded by `fully_shard`, section 5), `accelerate` (through `accelerate.Accelerator`) and `trainer`
# (`transformers.Trainer`). Its usage, from its own docstring:

# %%
import helpers.train_distributed as train_distributed

print("\n\n".join(train_distributed.__doc__.split("\n\n")[1:3]))

# %% [markdown]
# ### Exercise 09.1: a rank's share of the data (数据分片)
#
# `DistributedSampler(shuffle=True, seed=seed, drop_last=True)` gives each rank its share of one epoch. Write
# `rank_shard(num_examples, rank, world_size, seed, epoch)` returning the same indices: one permutation of
# `range(num_examples)` shared by all ranks (`torch.randperm` with a generator seeded with `seed + epoch`), cut to a
# multiple of `world_size`, then every `world_size`-th index starting at `rank`.

# %% tags=["exercise"]
import torch


def rank_shard(num_examples, rank, world_size, seed, epoch):
    """The example indices rank `rank` trains on in `epoch` (as DistributedSampler with drop_last=True)."""
    ### BEGIN SOLUTION
    generator = torch.Generator().manual_seed(seed + epoch)
    permutation = torch.randperm(num_examples, generator=generator).tolist()
    usable = num_examples // world_size * world_size
    return permutation[:usable][rank::world_size]
    ### END SOLUTION
    ### BEGIN STUB
    raise NotImplementedError("Exercise 09.1: replace this line with your code")
    ### END STUB


# %%
from helpers.exercises import check

check("09.1", rank_shard)

# %% [markdown]
# Three ways to get it wrong, and what each costs: seeding the permutation with the rank (the shards overlap: some reviews are seen
# twice per epoch, others never); forgetting `set_epoch` (every epoch repeats the same order); shards of unequal
# length (one rank takes a step its peers never take and waits in the all-reduce until the time-out).
#
# ## 2. Launch: one process, two processes, accumulation (单进程、双进程与梯度累积)
#
# Four ways to take the same optimizer steps, each step averaging the gradient over the same global batch:
#
# | run | processes | batch per process | micro-batches per step | examples per step |
# |---|---|---|---|---|
# | one process | 1 | B | 1 | B |
# | DDP | 2 | B/2 | 1 | B |
# | gradient accumulation (梯度累积) | 1 | B/2 | 2 | B |
# | half batch (a different recipe, for contrast) | 1 | B/2 | 1 | B/2 |
#
# Dropout is switched off for this comparison: with it on, two ranks draw different masks than one process does,
# and the runs would agree only on average. The data order is the same by construction: the one-process runs use
# `DistributedSampler` with one replica, whose permutation is the one the two ranks split.

# %%
from helpers.distributed import accelerate_command, launch, relative_parameter_difference, torchrun_command
from helpers.train_distributed import RunSettings, load_run, run

from helpers.profiles import PROFILES

# Two processes need a GPU each; with fewer than two GPUs every run of this section uses the CPU (gloo), so that
# all the runs compared below compute on the same hardware, and the launched ranks are started with
# `CUDA_VISIBLE_DEVICES=""` (`hide_gpus`), so that torch, `accelerate` and `Trainer` in them see a CPU-only machine. On the CPU the runs take the cpu profile's sizes
# (the gpu profile's would take most of an hour there).
RUN_DEVICE = "cuda" if torch.cuda.device_count() >= 2 else "cpu"
sizes = PROFILES["cpu"] if RUN_DEVICE == "cpu" and profile.name == "gpu" else profile
BATCH, STEPS = sizes.scaling_batch_size, sizes.scaling_steps
HALF = BATCH // 2
common = dict(train_examples=BATCH * STEPS, eval_examples=sizes.heldout_examples or 1736,
              max_length=sizes.scaling_max_length, max_steps=STEPS, dropout=0.0, log_every=max(1, STEPS // 3),
              device=RUN_DEVICE)
flags = [f"--{key.replace('_', '-')}={value}" for key, value in common.items()]
print(f"{STEPS} optimizer steps of {BATCH} reviews (at most {common['max_length']} tokens each), "
      f"lr 1e-4 with 6% warm-up, AdamW, clipping at 1.0; validation on {common['eval_examples']} reviews; "
      f"runs on: {RUN_DEVICE}")

# %% [markdown]
# First, two processes with `torchrun`. One launch runs five engines one after the other in the same two processes
# (each writes its results to its own folder): the DDP loop, FSDP, `accelerate`, and `Trainer` twice, with the
# one-line fix explained in section 4 and as shipped. The notebook starts the launcher as a subprocess with a
# time-out (`helpers.distributed.launch` kills the launcher and every rank it started if the time-out passes) and
# shows what rank 0 printed; rank 1 prints nothing.

# %%
two = torchrun_command("helpers.train_distributed",
                       ["--engines=ddp,fsdp,accelerate,trainer,trainer-default", f"--batch-size={HALF}",
                        f"--output={RUNS / 'two'}", *flags], nproc_per_node=2)
print("$ torchrun", " ".join(two[3:]).replace(str(RUNS), "$RUNS"))
launched = launch(two, timeout_s=LAUNCH_TIMEOUT_S, hide_gpus=RUN_DEVICE == "cpu")
print(launched.tail(22))
print(f"[the launch took {launched.seconds:.0f} s, process start-up and imports included]")

# %% [markdown]
# The same script as one process is a plain function call here (no launcher: `WORLD_SIZE` is unset), once with the
# whole batch, once with two accumulated half batches, once with half the batch. One torch thread each, like each
# of the two launched processes.

# %%
one = run(RunSettings(**common, batch_size=BATCH, output=str(RUNS / "one")))
accumulated = run(RunSettings(**common, batch_size=HALF, accumulation_steps=2, output=str(RUNS / "accumulated")))
half = run(RunSettings(**common, batch_size=HALF, output=str(RUNS / "half")))

# %% [markdown]
# The same script starts unchanged under `accelerate launch` (which runs torchrun underneath). `--multi_gpu` is the
# flag that makes accelerate start several processes through torchrun, on CPUs too (the script asks for the CPU
# itself when there is no GPU; `accelerate launch --cpu` starts several CPU processes only through MPI). The
# course's tests run this command, as two "machines" on this one, and check its results against one process
# (`tests/test_distributed.py`):

# %%
accelerated = accelerate_command("helpers.train_distributed", ["--engines=accelerate", f"--batch-size={HALF}",
                                                                "--output=runs", *flags], num_processes=2, port=29500)
print("$ accelerate launch", " ".join(accelerated[3:]))

# %% [markdown]
# ## 3. Did they compute the same thing? (结果是否一致)
#
# Compare the weights after the last step with the one-process run's: for each weight tensor, the largest
# difference divided by the tensor's largest weight, and the worst tensor. The attention **key biases** are left
# out: their gradient is zero in exact arithmetic (a key bias adds the same number to every score of a query's
# row, and softmax ignores that), so what they receive is rounding noise, which AdamW rescales into real steps.
# They drift on noise differently in any two runs that add the same numbers in a different order. Measured:

# %%
from transformers import DataCollatorWithPadding

from helpers.train_distributed import build_model, prepare_data

probe_settings = RunSettings(**{**common, "train_examples": 64}, batch_size=BATCH)
probe_tokenizer, probe_train, _ = prepare_data(probe_settings)
probe = build_model(probe_settings)
probe(**DataCollatorWithPadding(probe_tokenizer)([probe_train[i] for i in range(min(16, len(probe_train)))])).loss.backward()
gradient_norms = {name: p.grad.norm().item() for name, p in probe.named_parameters()}
pd.DataFrame({"gradient norm": {name.replace("bert.encoder.", ""): gradient_norms[name] for name in gradient_norms
                                if "layer.0.attention.self" in name}}).style.format("{:.2e}")

# %%
runs = {
    "1 process, batch B": ("one", 1), "2 processes (DDP), B/2 each": ("two/ddp", 2),
    "1 process, 2 x B/2 accumulated": ("accumulated", 1), "2 processes (FSDP), B/2 each": ("two/fsdp", 2),
    "2 processes (accelerate), B/2 each": ("two/accelerate", 2), "2 processes (Trainer), B/2 each": ("two/trainer", 2),
    "2 processes (Trainer as shipped)": ("two/trainer-default", 2), "1 process, batch B/2 (different recipe)": ("half", 1),
}
histories = {name: load_run(RUNS / folder) for name, (folder, _) in runs.items()}
reference_history, reference_state = histories["1 process, batch B"]


def median_step_seconds(history):
    seconds = [row["seconds"] for row in history["steps"][1:]]  # the first step pays for warm-up
    return float(np.median(seconds)) if seconds and not np.isnan(seconds).any() else np.nan


comparison = pd.DataFrame([{
    "run": name, "processes": history["world_size"], "examples per step": history["global_batch"],
    "max relative weight difference vs 1 process": relative_parameter_difference(state, reference_state),
    "same, key biases included": relative_parameter_difference(state, reference_state, exclude=()),
    "last logged loss": history["steps"][-1]["loss"], "validation loss": history["validation"]["loss"],
    "s per step (median)": median_step_seconds(history),
} for name, (history, state) in histories.items()]).set_index("run")
comparison.style.format({"max relative weight difference vs 1 process": "{:.1e}", "same, key biases included": "{:.1e}",
                         "last logged loss": "{:.4f}", "validation loss": "{:.4f}", "s per step (median)": "{:.3f}"})

# %%
TARGET = 1e-5
for name in ("2 processes (DDP), B/2 each", "1 process, 2 x B/2 accumulated", "2 processes (FSDP), B/2 each",
             "2 processes (Trainer), B/2 each", "2 processes (accelerate), B/2 each"):
    value = comparison.loc[name, "max relative weight difference vs 1 process"]
    print(f"{name:38s} {value:.1e}  {'within' if value <= TARGET else 'ABOVE'} the 1e-5 target after {STEPS} steps")
print(f"{'1 process, batch B/2 (contrast)':38s} "
      f"{comparison.loc['1 process, batch B/2 (different recipe)', 'max relative weight difference vs 1 process']:.1e}"
      "  (different examples per step: this is what a real difference looks like)")

# %%
fig, ax = plt.subplots(figsize=(8, 4))
styles = {"1 process, batch B": dict(lw=4, alpha=0.35, color="tab:blue"),
          "2 processes (DDP), B/2 each": dict(ls="--", color="tab:orange"),
          "1 process, 2 x B/2 accumulated": dict(ls=":", lw=2.5, color="tab:green"),
          "1 process, batch B/2 (different recipe)": dict(color="tab:gray", alpha=0.6)}
for name, style in styles.items():
    steps = histories[name][0]["steps"]
    ax.plot([row["step"] for row in steps], [row["loss"] for row in steps], label=name, **style)
ax.set(title=f"Training loss per optimizer step: 1 vs 2 processes vs accumulation (B = {BATCH})",
       xlabel="optimizer step", ylabel="mean cross-entropy over the step's examples (nats)")
ax.legend()
plt.show()

# %% [markdown]
# The first three curves lie on top of each other (the table gives the size of their differences: fp32 rounding);
# the grey one, half the batch per step, is a different training. What makes the two-process run equal to the
# one-process run: both see the same examples at every step (one shared permutation), start from the same weights,
# draw no dropout, and DDP **averages** (not sums) the ranks' gradients, the same mean the one process computes.
# Accumulation divides each micro-batch's loss by the number of micro-batches for the same reason.
#
# ## 4. Spot the bug: `Trainer` as shipped doubles the gradient (找 bug)
#
# The "Trainer as shipped" row logs twice the loss of the others, and its weights end up elsewhere (table above).
# In transformers 5.23, `Trainer` sees that `BertForSequenceClassification.forward` accepts `**kwargs`, concludes
# that the model divides a *sum* of losses by the number of items it passes in (`num_items_in_batch`, as its
# language models do), and therefore (a) multiplies the loss by the number of processes, to undo the DDP average,
# and (b) skips its own division by the accumulation steps. This model takes a per-batch *mean* and ignores the
# count, so the gradient comes out `world_size × accumulation_steps` times too large. AdamW hides most of it (it
# divides each coordinate by its own running scale, so a constant factor almost cancels), but gradient clipping
# at 1.0 sees a norm twice as large, and every logged loss is doubled. The engine `trainer` sets
# `model.accepts_loss_kwargs = False` before building the `Trainer`, which restores the mean:

# %%
shipped, fixed = histories["2 processes (Trainer as shipped)"][0], histories["2 processes (Trainer), B/2 each"][0]
pd.DataFrame({
    "Trainer as shipped": [shipped["steps"][0]["loss"], shipped["validation"]["loss"],
                           comparison.loc["2 processes (Trainer as shipped)", "max relative weight difference vs 1 process"]],
    "Trainer, accepts_loss_kwargs=False": [fixed["steps"][0]["loss"], fixed["validation"]["loss"],
                                           comparison.loc["2 processes (Trainer), B/2 each", "max relative weight difference vs 1 process"]],
    "hand-written loop, 1 process": [reference_history["steps"][0]["loss"], reference_history["validation"]["loss"], 0.0],
}, index=["first logged loss", "validation loss reported", "max relative weight difference vs 1 process"])

# %% [markdown]
# ## 5. What each rank holds: DDP vs FSDP (每个进程的显存占用)
#
# DDP keeps a full copy of the weights, the gradients and AdamW's two moments on every rank. **FSDP** (Fully
# Sharded Data Parallel, PyTorch's implementation of ZeRO stage 3) splits all three between the ranks: before a
# layer runs, its full weights are gathered from the ranks (all-gather) and freed afterwards, and its gradients are
# reduce-scattered so that each rank receives, and updates, only its own slice. The engines recorded what each
# rank held after the first step (tensor bytes on that rank; for FSDP, the local shards):

# %%
rows = []
for name in ("2 processes (DDP), B/2 each", "2 processes (FSDP), B/2 each"):
    history = histories[name][0]
    for rank in history["per_rank"]:
        rows.append({"run": name, "rank": rank["rank"], "weights (MiB)": rank["parameter_bytes"] / MIB,
                     "gradients (MiB)": rank["gradient_bytes"] / MIB,
                     "AdamW moments (MiB)": rank["optimizer_state_bytes"] / MIB,
                     "peak RSS of the process (MiB)": rank["peak_rss_mib"]})
held = pd.DataFrame(rows).set_index(["run", "rank"])
held.round(1)

# %%
fsdp_history = histories["2 processes (FSDP), B/2 each"][0]
ddp_rank, fsdp_rank = histories["2 processes (DDP), B/2 each"][0]["per_rank"][0], fsdp_history["per_rank"][0]
print(f"FSDP (fully_shard) on {fsdp_history['world_size']} CPU processes, backend {fsdp_history['backend']}, "
      f"torch {fsdp_history['torch']}: it ran, and each rank held "
      f"{(fsdp_rank['parameter_bytes'] + fsdp_rank['gradient_bytes'] + fsdp_rank['optimizer_state_bytes']) / MIB:.1f} MiB "
      f"of weights, gradients and moments against "
      f"{(ddp_rank['parameter_bytes'] + ddp_rank['gradient_bytes'] + ddp_rank['optimizer_state_bytes']) / MIB:.1f} MiB "
      f"under DDP, at {median_step_seconds(fsdp_history):.3f} s per step against "
      f"{median_step_seconds(histories['2 processes (DDP), B/2 each'][0]):.3f} s (the extra all-gathers).")
print("The peak RSS is dominated by the interpreter and the libraries (hundreds of MiB per process): for this "
      "small model, sharding saves little in absolute terms. It matters when the weights and moments, not Python, "
      "fill the device.")

# %% [markdown]
# ## 6. Time per step, and what the all-reduce costs (通信开销)
#
# The DDP engine also timed one all-reduce of a buffer as large as the gradients, after training. A ring
# all-reduce moves `2 (N-1)/N × S` bytes through each link, which gives the effective ("bus") bandwidth:

# %%
ddp_history = histories["2 processes (DDP), B/2 each"][0]
allreduce = ddp_history["allreduce"]
gradient_bytes = ddp_rank["gradient_bytes"]
step_times = pd.DataFrame({
    "s per optimizer step (median)": [median_step_seconds(histories[name][0]) for name in
                                      ("1 process, batch B", "2 processes (DDP), B/2 each",
                                       "1 process, 2 x B/2 accumulated", "1 process, batch B/2 (different recipe)")],
}, index=["1 process, batch B", "2 processes, B/2 each", "1 process, 2 x B/2 accumulated", "1 process, B/2"])
print(f"gradients: {gradient_bytes / MIB:.1f} MiB (fp32); one all-reduce over 2 processes (gloo, loopback): "
      f"{allreduce['seconds'] * 1000:.1f} ms, bus bandwidth {allreduce['bus_bandwidth_bytes_per_s'] / 1e9:.2f} GB/s")
step_times.round(3)

# %% [markdown]
# On paper a two-process step should cost one process's step at half the batch plus the all-reduce (if none of it
# hides behind the backward pass). Here two processes share two cores with whatever else runs on this machine,
# so the comparison below is a sanity check of the model, not a benchmark:

# %%
predicted = step_times.loc["1 process, B/2"].iloc[0] + allreduce["seconds"]
measured = step_times.loc["2 processes, B/2 each"].iloc[0]
print(f"predicted 2-process step: {predicted:.3f} s (1-process step at B/2 + one all-reduce); measured: {measured:.3f} s; "
      f"1-process step at B: {step_times.loc['1 process, batch B'].iloc[0]:.3f} s")

# %% [markdown]
# ## 7. Memory and time of one training step (单步训练的显存与耗时)
#
# How much memory does a training step need, and what buys it down? Four consumers: the **weights**, their
# **gradients**, the **optimizer state** (AdamW keeps two numbers per weight), and the **activations** that the
# forward pass keeps for the backward pass, which grow with batch × sequence length (× length again inside
# attention). The knobs:
#
# * **mixed precision** (混合精度): `torch.autocast(dtype=torch.bfloat16)` runs matrix multiplications in bf16 and
#   stores their inputs for backward in bf16, while the weights, gradients and optimizer stay fp32;
# * **activation checkpointing** (激活检查点, also called gradient checkpointing): keep only each layer's input,
#   and recompute the layer's insides during backward: less memory for about one extra forward pass of time;
# * the **batch size**: activations grow in proportion to it; gradient accumulation keeps the step's batch while
#   holding one micro-batch's activations at a time.
#
# **How to measure peak memory on a CPU.** On a GPU, `torch.cuda.max_memory_allocated()` answers. On the CPU
# torch keeps no such counter, `tracemalloc` sees only Python objects (tensor storage is allocated in C++), and
# `ru_maxrss` is one high-water mark per process, never lowered, that includes the interpreter, the libraries and
# everything done before. This lesson measures two independent ways (`helpers/memory.py`):
#
# 1. **torch's allocator, through the profiler**: `torch.profiler.profile(profile_memory=True)` records every
#    allocation and free torch makes, with its size and time; the running sum over one step, at its maximum, is the
#    tensor memory the step added on top of what existed before it (weights and optimizer state, which are counted
#    from the tensors themselves and added);
# 2. **the operating system**: Linux lets a process reset its high-water mark (`/proc/self/clear_refs`), so the
#    peak resident memory during one step minus the resident memory before it is what the OS saw. This is done in
#    a fresh process (section 8).
#
# The step measured: one AdamW step of the course classifier on a fixed batch of real reviews, all padded to
# the profile's `max_length` (lesson 02's fine-tuning length), on the lesson's device (one torch thread on a CPU).
# Setups: fp32 and bf16 autocast, each with and without checkpointing, at the profile's batch size; then fp32 with
# and without checkpointing for several batch sizes. (On a GPU the same profiler records the CUDA allocator's
# events, which is what `torch.cuda.max_memory_allocated()` counts.)

# %%
from tqdm.auto import tqdm

from helpers.memory import StepSetup, measure_step

MAIN_BATCH, LENGTH = profile.batch_size, profile.max_length
setups = [StepSetup(MAIN_BATCH, LENGTH, precision, checkpointing)
          for precision in ("fp32", "bf16") for checkpointing in (False, True)]
setups += [StepSetup(batch, LENGTH, "fp32", checkpointing) for batch in profile.memory_batch_sizes
           if batch != MAIN_BATCH for checkpointing in (False, True)]
measured_steps = {}
for setup in tqdm(setups, desc="measuring steps"):
    keep_timeline = setup.batch_size == MAIN_BATCH and setup.precision == "fp32"
    measured_steps[setup] = measure_step(setup, repeat=2, timeline=keep_timeline, device=device)
step_table = pd.DataFrame([{
    "batch": s.batch_size, "precision": s.precision, "checkpointing": s.checkpointing,
    "s per step": r["seconds_per_step"], "weights + AdamW state (MiB)": (r["parameter_bytes"] + r["optimizer_state_bytes"]) / MIB,
    "peak added by the step (MiB)": r["step_peak_bytes"] / MIB, "peak training memory (MiB)": r["peak_bytes"] / MIB,
} for s, r in measured_steps.items()]).sort_values(["batch", "precision", "checkpointing"]).set_index(
    ["batch", "precision", "checkpointing"])
step_table.round(3)

# %%
fp32 = measured_steps[StepSetup(MAIN_BATCH, LENGTH)]
bf16 = measured_steps[StepSetup(MAIN_BATCH, LENGTH, "bf16")]
checkpointed = measured_steps[StepSetup(MAIN_BATCH, LENGTH, checkpointing=True)]
saving = 1 - checkpointed["peak_bytes"] / fp32["peak_bytes"]
activations_share = fp32["step_peak_bytes"] / fp32["peak_bytes"]
print(f"batch {MAIN_BATCH} x {LENGTH} tokens: the step's own allocations are {activations_share:.0%} of the fp32 peak "
      f"({fp32['step_peak_bytes'] / MIB:.0f} of {fp32['peak_bytes'] / MIB:.0f} MiB; weights and AdamW state are the rest)")
print(f"activation checkpointing: peak {fp32['peak_bytes'] / MIB:.0f} -> {checkpointed['peak_bytes'] / MIB:.0f} MiB "
      f"({saving:.0%} lower; target >= 30%: {'met' if saving >= 0.30 else 'missed'}), at "
      f"{checkpointed['seconds_per_step'] / fp32['seconds_per_step']:.2f}x the step time "
      f"({fp32['seconds_per_step']:.3f} -> {checkpointed['seconds_per_step']:.3f} s)")
print(f"bf16 autocast: peak {fp32['peak_bytes'] / MIB:.0f} -> {bf16['peak_bytes'] / MIB:.0f} MiB "
      f"({1 - bf16['peak_bytes'] / fp32['peak_bytes']:.0%} lower), step {fp32['seconds_per_step']:.3f} -> "
      f"{bf16['seconds_per_step']:.3f} s on this CPU")

# %% [markdown]
# Where the memory goes within one step: the running total of what torch allocated, from the start of the forward
# pass to the zeroed gradients. Without checkpointing the forward pass piles up every layer's activations and the
# backward pass releases them; with checkpointing the forward keeps only each layer's input, and the backward
# rebuilds one layer's activations at a time.

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 4))
for setup, style in ((StepSetup(MAIN_BATCH, LENGTH), dict(color="tab:blue", label="no checkpointing")),
                     (StepSetup(MAIN_BATCH, LENGTH, checkpointing=True), dict(color="tab:red", label="activation checkpointing"))):
    timeline = measured_steps[setup]["timeline"]
    seconds = np.array(timeline["seconds"])
    axes[0].plot(seconds / seconds[-1], np.array(timeline["bytes"]) / MIB, **style)
axes[0].set(title=f"Memory during one step (batch {MAIN_BATCH} x {LENGTH}, fp32)", xlabel="fraction of the step's duration",
            ylabel="tensor memory allocated by the step (MiB)")
axes[0].legend()
for checkpointing, color in ((False, "tab:blue"), (True, "tab:red")):
    batches = sorted({s.batch_size for s in measured_steps if s.precision == "fp32"})
    peaks = [measured_steps[StepSetup(b, LENGTH, "fp32", checkpointing)]["peak_bytes"] / MIB for b in batches]
    axes[1].plot(batches, peaks, "o-", color=color, label="activation checkpointing" if checkpointing else "no checkpointing")
axes[1].set(title=f"Peak training memory vs batch size ({LENGTH} tokens, fp32)", xlabel="batch size (reviews)",
            ylabel="peak training memory (MiB)")
axes[1].legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 8. The same peaks, seen by the operating system (用操作系统校验)
#
# A fresh process (`helpers.memory.measure_in_fresh_process`) with nothing else alive in it, and one detail that
# matters. glibc's `malloc` keeps freed blocks in its heap for reuse, and after freeing a large block it raises the
# size above which it hands memory straight back to the OS; a later tensor then reuses heap pages that must be
# faulted back in, and the RSS peak over-states what the tensors needed. The fresh process is started with a fixed
# threshold (`MALLOC_MMAP_THRESHOLD_=131072`), so every large tensor is mapped and unmapped on its own. For
# contrast, the same step measured the same way inside this notebook's own, long-lived process with glibc's
# default settings:

# %%
from helpers.memory import build_step, measure_in_fresh_process, rss_peak_increase

fresh = measure_in_fresh_process([StepSetup(MAIN_BATCH, LENGTH), StepSetup(MAIN_BATCH, LENGTH, checkpointing=True)],
                                 timeout_s=LAUNCH_TIMEOUT_S)
kernel_step, _, _ = build_step(StepSetup(MAIN_BATCH, LENGTH))
in_kernel = rss_peak_increase(kernel_step)
del kernel_step
os_check = pd.DataFrame([{
    "setup": row["label"], "profiler: peak added by the step (MiB)": row["step_peak_bytes"] / MIB,
    "OS, fresh process, fixed mmap threshold (MiB)": row["rss_peak_increase_bytes"] / MIB,
    "OS, this notebook, default malloc (MiB)": in_kernel / MIB if not row["checkpointing"] else np.nan,
} for row in fresh]).set_index("setup")
print("fresh process, OS vs profiler: largest relative gap "
      f"{max(abs(r['rss_peak_increase_bytes'] / r['step_peak_bytes'] - 1) for r in fresh):.1%}; this notebook's own "
      f"process (default malloc) saw {in_kernel / fresh[0]['step_peak_bytes']:.2f}x the profiler's figure")
os_check.round(1)

# %% [markdown]
# Where the fresh process and the profiler agree (the gap printed above is malloc's own bookkeeping), the profiler's
# figure is what the step really needed; in the long-lived notebook process the same step's RSS peak also counts
# heap pages that malloc kept from earlier work. `ru_maxrss` of a whole process would add the interpreter
# and the libraries on top (see the peak RSS column in section 5).
#
# ## 9. ZeRO, FSDP and DeepSpeed: what gets sharded (分片优化器 ZeRO)
#
# Data parallelism copies everything to every device; the **ZeRO** stages (Zero Redundancy Optimizer, DeepSpeed)
# remove the copies one kind at a time:
#
# | | each device keeps a full copy of | sharded over N devices | extra communication per step (vs DDP's all-reduce) |
# |---|---|---|---|
# | DDP (ZeRO 0) | weights, gradients, optimizer states | nothing | none |
# | ZeRO stage 1 | weights, gradients | optimizer states | none (an all-gather of the updated weights replaces part of the all-reduce) |
# | ZeRO stage 2 | weights | optimizer states, gradients | none (reduce-scatter + all-gather = an all-reduce's traffic) |
# | ZeRO stage 3 = FSDP `FULL_SHARD` / `fully_shard` | nothing | optimizer states, gradients, weights | about 1.5x: weights all-gathered in forward and again in backward |
#
# **When you need it**: when weights + gradients + optimizer state (16 bytes per parameter with AdamW: exercise 09.2
# below) do not fit on one device next to the activations: a 7B-parameter model needs about 112 GB before any
# activation, more than one 80 GB GPU. Stage 1 or 2 is nearly free in time and saves most of it; stage 3 also
# splits the weights, at the cost of gathering them every step. Activations are not sharded by ZeRO: checkpointing
# (section 7), smaller micro-batches with accumulation, or tensor/sequence parallelism deal with those.
# **DeepSpeed** is Microsoft's library that introduced ZeRO (plus CPU/NVMe offload); `accelerate` and `Trainer`
# drive both DeepSpeed and FSDP from a config file. This course runs FSDP, which ships with torch:

# %%
import importlib.util

from helpers.scaling import zero_bytes_per_device
from helpers.training import count_parameters

_, course_parameters = count_parameters(probe)
print("deepspeed installed:", importlib.util.find_spec("deepspeed") is not None,
      "(not needed here: FSDP above is torch's own ZeRO stage 3, and it ran on gloo)")
memory_rows = []
for label, parameters in (("course-bert", course_parameters), ("a 7B-parameter model", 7_000_000_000)):
    for devices in (1, 8, 64):
        memory_rows.append({"model": label, "GPUs": devices, **{
            f"ZeRO {stage} (GB per GPU)": zero_bytes_per_device(parameters, devices, stage) / 1e9 for stage in range(4)}})
pd.DataFrame(memory_rows).set_index(["model", "GPUs"]).round(3)

# %% [markdown]
# ### Exercise 09.2: where 16 bytes per parameter go (Adam 显存计算)
#
# Write `adam_memory(num_parameters, mixed_precision)` returning a dict of bytes with keys `"weights"`,
# `"gradients"` and `"optimizer_states"`. fp32: 4-byte weights and gradients, and AdamW's two fp32 moments.
# Mixed precision as the ZeRO paper counts it: fp16 weights and gradients for the forward and backward passes, and,
# with the optimizer, an fp32 master copy of the weights next to the two fp32 moments.

# %% tags=["exercise"]
def adam_memory(num_parameters, mixed_precision):
    """Bytes of weights, gradients and Adam optimizer states for a model with num_parameters."""
    ### BEGIN SOLUTION
    if mixed_precision:
        return {"weights": 2 * num_parameters, "gradients": 2 * num_parameters,
                "optimizer_states": (4 + 4 + 4) * num_parameters}
    return {"weights": 4 * num_parameters, "gradients": 4 * num_parameters, "optimizer_states": 8 * num_parameters}
    ### END SOLUTION
    ### BEGIN STUB
    raise NotImplementedError("Exercise 09.2: replace this line with your code")
    ### END STUB


# %%
check("09.2", adam_memory)

# %% [markdown]
# Sixteen bytes per parameter either way: mixed precision saves activation memory and, on hardware with fast
# 16-bit kernels (a recent GPU), time; not weight-and-state memory. On a CPU without such kernels the bf16 step can
# be slower than fp32: section 7's table measures both on this machine (and `torch.autocast` keeps fp32 weights and gradients anyway, casting on the fly). Compare the measured
# table in section 7: weights + AdamW state = 12 bytes per parameter measured between steps, plus 4 for the
# gradients during the step.
#
# ### Exercise 09.3: ZeRO memory per GPU
#
# Write `zero_memory_per_gpu(num_parameters, gpus, stage)`: the bytes of weights + gradients + optimizer states on
# each GPU with mixed precision (2 + 2 + 12 bytes per parameter) for ZeRO stage 0, 1, 2 or 3.

# %% tags=["exercise"]
def zero_memory_per_gpu(num_parameters, gpus, stage):
    """Bytes per GPU of weights + gradients + Adam states under ZeRO `stage` (mixed precision)."""
    ### BEGIN SOLUTION
    weights, gradients, states = 2 * num_parameters, 2 * num_parameters, 12 * num_parameters
    if stage >= 1:
        states /= gpus
    if stage >= 2:
        gradients /= gpus
    if stage >= 3:
        weights /= gpus
    return weights + gradients + states
    ### END SOLUTION
    ### BEGIN STUB
    raise NotImplementedError("Exercise 09.3: replace this line with your code")
    ### END STUB


# %%
check("09.3", zero_memory_per_gpu)

# %% [markdown]
# ## 10. A scaling model on paper (扩展性估算)
#
# With a fixed batch per device, one data-parallel step costs the compute of one device's batch plus the part of
# the gradient all-reduce that does not hide behind the backward pass. A ring all-reduce of S bytes over N devices
# takes `2 (N-1)/N × S / bandwidth + 2 (N-1) × latency` (`helpers.scaling`): the bandwidth term hardly grows with N,
# the latency term does. Inputs: the **measured** step time of this lesson's one-process run at B/2 (one device's
# share of a step), the **measured** gradient size, and **stated** network figures (round published numbers, not
# measured here). Nothing is assumed to overlap.

# %%
from helpers.scaling import NETWORKS, predict_step

compute = step_times.loc["1 process, B/2"].iloc[0]
prediction_rows = []
for network, (bandwidth, latency) in NETWORKS.items():
    for workers in (2, 8, 64):
        p = predict_step(compute, gradient_bytes, workers, bandwidth, latency)
        prediction_rows.append({"network (stated)": network, "devices": workers, "compute (s)": p.compute_seconds,
                                "all-reduce (s)": p.communication_seconds, "step (s)": p.step_seconds,
                                "efficiency": p.efficiency, "speed-up vs 1 device": p.speedup})
print(f"measured: {compute:.3f} s per step of {HALF} reviews on one CPU process; gradients {gradient_bytes / 1e6:.1f} MB")
pd.DataFrame(prediction_rows).set_index(["network (stated)", "devices"]).round(4)

# %% [markdown]
# The efficiency column answers the question for this CPU's step time. The all-reduce does not shrink when the
# compute does, so the picture changes with faster devices. For each network: the compute time per step below
# which the all-reduce takes longer than the compute, and the efficiency as a function of the compute time:

# %%
fig, ax = plt.subplots(figsize=(8, 4))
compute_grid = np.logspace(-4, 0.5, 60)
for network, (bandwidth, latency) in NETWORKS.items():
    efficiency = [predict_step(c, gradient_bytes, 64, bandwidth, latency).efficiency for c in compute_grid]
    ax.plot(compute_grid, efficiency, label=network)
    break_even = predict_step(1.0, gradient_bytes, 64, bandwidth, latency).communication_seconds
    print(f"{network:40s}: 64 devices, all-reduce of {gradient_bytes / 1e6:.1f} MB = {break_even * 1000:7.2f} ms; "
          f"communication dominates when a step computes in less than that")
ax.axvline(compute, color="gray", ls="--", label=f"this CPU's measured step ({compute:.2f} s)")
ax.set(xscale="log", title="Predicted data-parallel efficiency on 64 devices (course-bert gradients)",
       xlabel="compute time per step on one device (s, log scale)", ylabel="efficiency (compute / step time)")
ax.legend(fontsize=8)
plt.show()

# %%
FASTER = 100  # an assumption for illustration, not a measurement: no GPU was available to measure this step on
for network, (bandwidth, latency) in NETWORKS.items():
    p = predict_step(compute / FASTER, gradient_bytes, 64, bandwidth, latency)
    print(f"a device {FASTER}x faster than this CPU process ({compute / FASTER * 1000:.1f} ms of compute per step), "
          f"64 of them on {network}: efficiency {p.efficiency:.0%}, communication dominates: {p.communication_dominates}")

# %% [markdown]
# Read the chart right to left: the faster each device computes its share, the larger the fixed cost of averaging
# the gradients becomes in relative terms, and the slower the network, the sooner it dominates. Remedies, in the
# order people reach for them: a faster interconnect (NVLink within a machine, InfiniBand between machines); overlapping the all-reduce
# with the backward pass (DDP does it bucket by bucket: set `overlap` in `predict_step`); fewer all-reduces per
# example (a bigger batch per device, or gradient accumulation: one all-reduce per step, not per micro-batch); and
# smaller messages (bf16 gradients halve S).
#
# ## 11. Large batches: learning-rate scaling and warm-up (大批量训练)
#
# Eight GPUs with batch 32 each make a step of 256 examples: fewer, less noisy steps per epoch. The **linear
# scaling rule** (Goyal et al. 2017) keeps the training comparable: multiply the batch by k, multiply the learning
# rate by k, and **warm up** over the first steps, because a large learning rate on a freshly initialised head
# makes the first updates diverge. It holds up to a point (thousands of examples for ResNet/SGD); with Adam a
# square-root rule is sometimes better, and very large batches need layer-wise adaptive methods (LARS, LAMB).
# Gradient accumulation is counted in the batch the same way as extra devices.
#
# ### Exercise 09.4: the effective batch and the learning rate
#
# Write `scaled_batch_and_lr(per_device_batch, accumulation_steps, processes, base_lr, base_batch)` returning
# `(effective_batch, learning_rate)`: the examples averaged in one optimizer step, and `base_lr` (tuned at
# `base_batch`) scaled by the linear rule.

# %% tags=["exercise"]
def scaled_batch_and_lr(per_device_batch, accumulation_steps, processes, base_lr, base_batch):
    """(examples per optimizer step, learning rate by the linear scaling rule)."""
    ### BEGIN SOLUTION
    effective = per_device_batch * accumulation_steps * processes
    return effective, base_lr * effective / base_batch
    ### END SOLUTION
    ### BEGIN STUB
    raise NotImplementedError("Exercise 09.4: replace this line with your code")
    ### END STUB


# %%
check("09.4", scaled_batch_and_lr)

# %% [markdown]
# ## 12. Several machines (多机训练)
#
# Nothing in the script changes. On each of N machines with G GPUs, start the same command; `--node_rank` is 0 on
# the machine whose address all of them name (it hosts the rendezvous) and 1 … N-1 on the others:
#
# ```bash
# # machine 0 (address 10.0.0.1) and machine 1, each with 8 GPUs: 16 processes, global ranks 0-15
# torchrun --nnodes=2 --node_rank=0 --nproc_per_node=8 --rdzv_endpoint=10.0.0.1:29500 -m helpers.train_distributed ...
# torchrun --nnodes=2 --node_rank=1 --nproc_per_node=8 --rdzv_endpoint=10.0.0.1:29500 -m helpers.train_distributed ...
# # elastic variant: no node ranks, a job id, machines may join late or be replaced
# torchrun --nnodes=2 --nproc_per_node=8 --rdzv_backend=c10d --rdzv_endpoint=10.0.0.1:29500 --rdzv_id=job42 -m ...
# ```
#
# The port must be open between the machines, every machine needs the same code, data and environment, and the
# global batch is `nnodes × nproc_per_node × per-process batch × accumulation steps`. The course's tests run the
# first form for real with two "machines" on this one (both `--rdzv_endpoint=127.0.0.1:PORT`, one process each),
# and check that the result equals the one-process run (`tests/test_distributed.py`).
#
# ## 13. Summary (小结)
#
# * A launcher starts N copies of one script and tells each its rank; the script seeds the model identically and
#   dropout per rank, shares one data permutation (`DistributedSampler` + `set_epoch`), lets rank 0 alone log and
#   save, and destroys the process group also on error.
# * DDP averages gradients, so N processes × batch b = one process × batch N·b, and accumulation over k micro-batches
#   = one batch k times larger; section 3 measured how close the hand-written loop, FSDP, `accelerate` and `Trainer`
#   (once its loss scaling is fixed) come to one process, against the 1e-5 target.
# * Memory = weights + gradients + optimizer state (16 bytes per parameter with AdamW, mixed precision or not) +
#   activations (∝ batch × length); checkpointing trades recomputation for activation memory, bf16 autocast shrinks
#   activations, ZeRO/FSDP shard the 16 bytes across devices.
# * Communication per step is about twice the gradient size per device; it dominates when compute per step is short
#   and the network slow.
#
# ## 14. Interview questions (面试题)

# %%
from helpers.interview.quiz import show_lesson_questions

questions = show_lesson_questions("09", lang="both")
