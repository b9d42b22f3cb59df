"""Lesson 09 exercises: effective batch and learning-rate scaling, a per-rank data shard, Adam's memory, ZeRO.

Every checker runs fixed cases first (each one separates a usual wrong idea from the right one, so the message
names that idea), then random cases drawn from ``seed``.
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

import numpy as np
import torch

from .core import ExerciseFailed, call_answer, expect_callable, register, rng

# (per-device batch, accumulation steps, processes, base lr, base batch)
_BATCH_CASES = ((16, 2, 4, 1e-4, 32), (8, 1, 2, 5e-5, 16), (32, 4, 8, 1e-4, 256), (4, 8, 1, 2e-5, 8), (64, 1, 1, 3e-4, 64))


def _number(value: Any, what: str) -> float:
    """``value`` as a float: ints, floats, NumPy scalars, one-element tensors or arrays; else a specific failure."""
    if hasattr(value, "item") and callable(value.item) and not isinstance(value, (str, bytes)):
        try:  # numpy / torch scalars
            value = value.item()
        except (ValueError, RuntimeError, TypeError):
            raise ExerciseFailed(f"{what} should be one number, got an array {str(value)[:60]}.") from None
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(float(value)):
        raise ExerciseFailed(f"{what} should be a finite number, got {value!r}.")
    return float(value)


def _random_batch_cases(seed: int) -> list[tuple[int, int, int, float, int]]:
    random = rng(seed, "09.4")
    return [(random.choice((1, 2, 4, 8, 12, 16, 32, 64)), random.randint(1, 16), random.choice((1, 2, 3, 4, 8, 16, 64)),
             random.choice((1e-5, 2e-5, 3e-5, 5e-5, 1e-4, 3e-4, 1e-3)), random.choice((8, 16, 32, 64, 128, 256, 512)))
            for _ in range(20)]


@register("09.4", "effective batch size and learning-rate scaling")
def check_batch_and_lr(answer: Any, seed: int = 0) -> str:
    """``answer(per_device_batch, accumulation_steps, processes, base_lr, base_batch)`` -> (effective batch, lr).

    Edge cases: several processes with accumulation (both multiply the batch), one process (data parallel off),
    one accumulation step, an effective batch equal to the base batch (the learning rate stays), an effective
    batch 4x the base (linear and square-root scaling differ). Plus 20 random set-ups.
    Wrong ideas told apart: forgetting the processes, forgetting the accumulation steps, an unscaled learning
    rate, the square-root rule, scaling by the number of processes only, the ratio upside down
    (base_batch / effective), one number instead of a pair, NaN.
    Accepted: a tuple or list; ints, floats, NumPy or one-element tensor numbers; the learning rate within a
    relative 1e-9.
    """
    expect_callable(answer, "scaled_batch_and_lr")
    cases = list(_BATCH_CASES) + _random_batch_cases(seed)
    for batch, accumulation, processes, base_lr, base_batch in cases:
        result = call_answer(answer, batch, accumulation, processes, base_lr, base_batch)
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            raise ExerciseFailed(f"return a pair (effective_batch, learning_rate), got {result!r}.")
        effective, lr = _number(result[0], "the effective batch"), _number(result[1], "the learning rate")
        want = batch * accumulation * processes
        case = f"batch {batch} per device, {accumulation} accumulation step(s), {processes} process(es)"
        if effective != want:
            if effective == batch * accumulation and processes > 1:
                hint = "every process contributes its own micro-batches to each step: multiply by the processes too."
            elif effective == batch * processes and accumulation > 1:
                hint = "each process adds up accumulation_steps micro-batches before the step: multiply by them too."
            else:
                hint = "one optimizer step averages per_device_batch x accumulation_steps x processes examples."
            raise ExerciseFailed(f"{case}: effective batch {result[0]!r}, expected {want}. {hint}")
        want_lr = base_lr * want / base_batch
        if not math.isclose(lr, want_lr, rel_tol=1e-9):
            if math.isclose(lr, base_lr * math.sqrt(want / base_batch), rel_tol=1e-9) and want != base_batch:
                hint = ("that is the square-root rule (sometimes used with Adam); this exercise asks for the linear "
                        "scaling rule: k times the batch, k times the learning rate.")
            elif math.isclose(lr, base_lr, rel_tol=1e-9):
                hint = "the learning rate must grow with the batch (linear scaling rule: lr x effective/base batch)."
            elif math.isclose(lr, base_lr * processes, rel_tol=1e-9):
                hint = "scale by the whole effective batch over the base batch, not by the number of processes."
            elif math.isclose(lr, base_lr * base_batch / want, rel_tol=1e-9):
                hint = ("the ratio is upside down: a batch k times larger takes a learning rate k times LARGER "
                        "(lr = base_lr x effective_batch / base_batch).")
            else:
                hint = "linear scaling rule: lr = base_lr x effective_batch / base_batch."
            raise ExerciseFailed(f"{case}, base lr {base_lr:g} at batch {base_batch}: lr {lr:.6g}, expected "
                                 f"{want_lr:.6g}. {hint}")
    return f"all {len(cases)} set-ups give the right effective batch and linearly scaled learning rate."


def _reference_shard(n: int, rank: int, world: int, seed: int, epoch: int) -> list[int]:
    from torch.utils.data.distributed import DistributedSampler

    sampler = DistributedSampler(range(n), num_replicas=world, rank=rank, shuffle=True, seed=seed, drop_last=True)
    sampler.set_epoch(epoch)
    return list(sampler)


def _as_index_list(value: Any, where: str) -> list[int]:
    if hasattr(value, "tolist") and callable(value.tolist):
        value = value.tolist()
    if not isinstance(value, (list, tuple)) or not all(isinstance(i, (int, np.integer))
                                                       and not isinstance(i, (bool, np.bool_)) for i in value):
        raise ExerciseFailed(f"{where}: return a list of int example indices, got {type(value).__name__} "
                             f"{str(value)[:60]}.")
    return [int(i) for i in value]


_SHARD_CASES = ((10, 3, 0, 0), (16, 2, 7, 3), (7, 4, 1, 1), (9, 1, 2, 0), (3, 4, 5, 0), (12, 4, 0, 2))


@register("09.1", "a per-rank data shard")
def check_rank_shard(answer: Any, seed: int = 0) -> str:
    """``answer(num_examples, rank, world_size, seed, epoch)`` -> the indices DistributedSampler gives that rank.

    Every rank of a case is asked, and the shards are compared with
    ``DistributedSampler(shuffle=True, drop_last=True, seed=seed)`` after ``set_epoch(epoch)``.
    Edge cases: examples not divisible by the ranks (the last ``n % world_size`` are dropped), one rank (the
    whole permutation, cut to nothing), fewer examples than ranks (every shard empty), epochs 0-3 (the order
    changes with the epoch), sampler seeds 0-7. Plus 12 random cases (1-40 examples, 1-6 ranks).
    Wrong ideas told apart: seeding by rank (overlapping shards), padding like the default sampler (unequal or
    repeated examples), contiguous blocks of the permutation, no shuffling, ignoring the epoch, dropping the
    FIRST examples instead of the last, indices out of range, a string instead of a list.
    Accepted: a list or tuple of ints, a 1-D integer tensor or NumPy array.
    """
    expect_callable(answer, "rank_shard")
    random = rng(seed, "09.1")
    cases = list(_SHARD_CASES) + [(random.randint(1, 40), random.randint(1, 6), random.randint(0, 1000),
                                   random.randint(0, 5)) for _ in range(12)]
    for n, world, sampler_seed, epoch in cases:
        shards = [_as_index_list(call_answer(answer, n, rank, world, sampler_seed, epoch), f"rank {rank} of {world}")
                  for rank in range(world)]
        case = f"{n} examples, {world} rank(s), seed {sampler_seed}, epoch {epoch}"
        everything = [i for shard in shards for i in shard]
        if any(not 0 <= i < n for i in everything):
            raise ExerciseFailed(f"{case}: an index is outside range({n}).")
        sizes = [len(shard) for shard in shards]
        if len(set(sizes)) > 1 or sizes[0] != n // world:
            if n < world:
                raise ExerciseFailed(f"{case}: shard sizes {sizes}; with fewer examples than ranks, drop_last=True "
                                     "leaves every rank an empty shard (n // world_size = 0).")
            raise ExerciseFailed(f"{case}: shard sizes {sizes}; every rank needs {n // world} (= {n} // {world}). "
                                 "Unequal shards mean unequal step counts (a rank waiting in the all-reduce for a step "
                                 "its peers never take hangs), and padding repeats examples: drop the last "
                                 "n % world_size examples of the permutation.")
        if len(set(everything)) < len(everything):
            raise ExerciseFailed(f"{case}: the ranks' shards overlap, so some examples are trained on twice per epoch. "
                                 "All ranks must cut their slice from ONE permutation: seed it with seed + epoch, "
                                 "never with the rank.")
        reference = [_reference_shard(n, rank, world, sampler_seed, epoch) for rank in range(world)]
        if shards == reference:
            continue
        if max(sizes) >= 3 and all(shard == sorted(shard) for shard in shards):
            raise ExerciseFailed(f"{case}: the shards are not shuffled; permute with torch.randperm(n, generator=...) "
                                 "seeded with seed + epoch.")
        per_rank = n // world
        blocks = [[i for pair in zip(*reference) for i in pair][r * per_rank:(r + 1) * per_rank] for r in range(world)]
        if shards == blocks:
            raise ExerciseFailed(f"{case}: a contiguous block of the permutation per rank is a valid shard, but not "
                                 "DistributedSampler's: take every world_size-th index, perm[rank::world_size].")
        permutation = torch.randperm(n, generator=torch.Generator().manual_seed(sampler_seed + epoch)).tolist()
        if n % world and shards == [permutation[n % world:][r::world] for r in range(world)]:
            raise ExerciseFailed(f"{case}: you dropped the FIRST n % world_size examples of the permutation; "
                                 "DistributedSampler keeps the first n // world_size * world_size and drops the last.")
        next_epoch = [_as_index_list(call_answer(answer, n, rank, world, sampler_seed, epoch + 1), "next epoch")
                      for rank in range(world)]
        if next_epoch == shards:
            raise ExerciseFailed(f"{case}: epoch {epoch + 1} gives the same order as epoch {epoch}; seed the "
                                 "permutation with seed + epoch (what sampler.set_epoch(epoch) is for).")
        raise ExerciseFailed(f"{case}: rank 0 got {shards[0][:5]}..., DistributedSampler gives {reference[0][:5]}...: "
                             "torch.randperm(n, generator=torch.Generator().manual_seed(seed + epoch)), cut to a "
                             "multiple of world_size, then perm[rank::world_size].")
    return f"identical to DistributedSampler(shuffle=True, drop_last=True) in all {len(cases)} cases."


_PARAMETERS = (4_736_514, 7_000_000_000, 1)
_ADAM = {False: {"weights": 4, "gradients": 4, "optimizer_states": 8},
         True: {"weights": 2, "gradients": 2, "optimizer_states": 12}}


def _bytes_dict(value: Any, where: str) -> dict[str, float]:
    if not isinstance(value, dict) or set(value) != {"weights", "gradients", "optimizer_states"}:
        raise ExerciseFailed(f"{where}: return a dict with exactly the keys 'weights', 'gradients', "
                             f"'optimizer_states' (bytes), got {value!r}"[:300])
    return {key: _number(v, f"{where} {key}") for key, v in value.items()}


@register("09.2", "memory of weights, gradients and Adam states")
def check_adam_memory(answer: Any, seed: int = 0) -> str:
    """``answer(num_parameters, mixed_precision)`` -> bytes of weights, gradients and Adam states.

    Cases: fp32 first, then mixed precision, for the course BERT's 4,736,514 parameters, 7 billion, one
    parameter, and 6 random counts. fp32: 4 + 4 + 8 bytes per parameter; mixed precision: 2 + 2 + 12 (an fp32
    master copy and two fp32 moments).
    Wrong ideas told apart: mixed precision without the fp32 master copy (8), optimizer states halved in mixed
    precision, one Adam moment instead of two, fp32 weights kept in mixed precision, a master copy added in
    fp32 training too (where the weights already are fp32), bits instead of bytes, one number instead of a
    dict, strings as values.
    Accepted: ints, floats, NumPy or one-element tensor numbers, within a relative 1e-9.
    """
    expect_callable(answer, "adam_memory")
    random = rng(seed, "09.2")
    counts = list(_PARAMETERS) + [random.randint(1, 10**11) for _ in range(6)]
    for mixed in (False, True):
        name = "mixed precision" if mixed else "fp32"
        for count in counts:
            got = _bytes_dict(call_answer(answer, count, mixed), f"{count:,} parameters, {name}")
            for key, per in _ADAM[mixed].items():
                if math.isclose(got[key], per * count, rel_tol=1e-9):
                    continue
                ratio = round(got[key] / count, 6)
                if ratio == 8 * per:
                    hint = (f"that is {ratio:g} BITS per parameter; count bytes ({per} bytes = {8 * per} bits per "
                            "parameter).")
                elif key == "optimizer_states" and not mixed and ratio == 12:
                    hint = ("in fp32 training the weights themselves are fp32, so there is no separate master copy: "
                            "Adam adds its two moments only, 4 + 4 = 8 bytes.")
                elif key == "optimizer_states" and mixed and ratio == 8:
                    hint = ("Adam's two fp32 moments are 8 bytes, but mixed precision also keeps an fp32 master copy "
                            "of the weights for the update (the fp16 copy is too coarse to add small steps to): 12.")
                elif key == "optimizer_states" and mixed and ratio in (4, 6):
                    hint = ("optimizer states stay in fp32 in mixed precision (master weights, momentum, variance: "
                            "4 + 4 + 4); only the working copies of weights and gradients are halved.")
                elif key == "optimizer_states" and ratio in (4, 2):
                    hint = "Adam keeps two moments per parameter (momentum and variance), each in fp32."
                elif mixed and key in ("weights", "gradients") and ratio == 4:
                    hint = "in mixed precision the weights used in forward/backward and their gradients are fp16: 2 bytes."
                else:
                    hint = f"expected {per} bytes per parameter for the {key.replace('_', ' ')}."
                raise ExerciseFailed(f"{count:,} parameters, {name}: {key} = {got[key]:,.0f} bytes "
                                     f"({ratio:g} per parameter). {hint}")
    return (f"16 bytes per parameter either way, for {len(counts)} model sizes: mixed precision moves bytes around, "
            "it does not remove them.")


_ZERO_CASES = ((7_000_000_000, 8), (4_736_514, 2), (1_000_000, 64), (10, 1))


def _zero_reference(parameters: int, gpus: int, stage: int) -> float:
    weights, gradients, states = 2 * parameters, 2 * parameters, 12 * parameters
    return (weights / (gpus if stage >= 3 else 1) + gradients / (gpus if stage >= 2 else 1)
            + states / (gpus if stage >= 1 else 1))


@register("09.3", "ZeRO memory per GPU")
def check_zero_memory(answer: Any, seed: int = 0) -> str:
    """``answer(num_parameters, gpus, stage)`` -> bytes per GPU of weights + gradients + Adam states (mixed precision).

    Cases: every stage 0-3 for 7 billion parameters on 8 GPUs, the course BERT on 2, a million on 64, ten
    parameters on one GPU (every stage the same), then 8 random (parameters, GPUs) pairs. Mixed precision:
    weights 2, gradients 2, optimizer states 12 bytes per parameter; stage 1 divides the states by the GPUs,
    stage 2 also the gradients, stage 3 also the weights.
    Wrong ideas told apart: stage 1 sharding the gradients too, everything divided from stage 1 (or from stage
    0: plain data parallelism keeps a full copy everywhere), stage 2 sharding the weights, stage 3 keeping the
    weights, fp32 byte counts, a non-number, a tensor of several numbers.
    Accepted: ints, floats, NumPy or one-element tensor numbers; shares rounded to whole bytes (floor or ceiling,
    up to 3 bytes in all) or exact.
    """
    expect_callable(answer, "zero_memory_per_gpu")
    random = rng(seed, "09.3")
    cases = list(_ZERO_CASES) + [(random.randint(1_000, 10**11), random.choice((1, 2, 3, 4, 8, 16, 64, 256)))
                                 for _ in range(8)]
    for parameters, gpus in cases:
        for stage in (0, 1, 2, 3):
            got = _number(call_answer(answer, parameters, gpus, stage), "the bytes per GPU")
            want = _zero_reference(parameters, gpus, stage)
            if math.isclose(got, want, rel_tol=1e-9) or abs(got - want) <= 3:
                continue
            case = f"{parameters:,} parameters on {gpus} GPU(s), stage {stage}"
            wrong = {s: _zero_reference(parameters, gpus, s) for s in (0, 1, 2, 3)}
            if stage == 1 and math.isclose(got, wrong[2], rel_tol=1e-9):
                hint = "stage 1 shards the optimizer states only; gradients are sharded from stage 2 on."
            elif stage == 2 and math.isclose(got, wrong[1], rel_tol=1e-9):
                hint = "stage 2 also shards the gradients (reduce-scatter instead of all-reduce)."
            elif stage == 2 and math.isclose(got, wrong[3], rel_tol=1e-9):
                hint = "stage 2 keeps a full copy of the weights on every GPU; only stage 3 shards them."
            elif stage == 3 and math.isclose(got, wrong[2], rel_tol=1e-9):
                hint = "stage 3 (FSDP's full sharding) splits the weights too."
            elif stage == 0 and math.isclose(got, 16 * parameters / gpus, rel_tol=1e-9):
                hint = ("stage 0 is plain data parallelism: every GPU keeps a full copy of weights, gradients and "
                        "optimizer states, whatever the number of GPUs.")
            elif math.isclose(got, 16 * parameters / gpus, rel_tol=1e-9) and stage < 3:
                hint = f"stage {stage} does not shard everything: only stage 3 also splits the weights."
            else:
                hint = ("mixed precision: weights 2, gradients 2, optimizer states 12 bytes per parameter; stage 1 "
                        "divides the states by the GPUs, stage 2 also the gradients, stage 3 also the weights.")
            raise ExerciseFailed(f"{case}: {got:,.0f} bytes, expected {want:,.0f}. {hint}")
    return (f"{len(cases)} set-ups right: stages 0-3 divide states, then gradients, then weights by the number of "
            "GPUs.")
