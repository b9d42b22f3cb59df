import numpy as np
import pytest
import torch

from helpers.exercises import check
from lesson_sources import failure

LESSON = "09_scaling_out"  # the conftest fixtures `solved` and `stubs` read this


NAMES = {"09.1": "rank_shard", "09.2": "adam_memory", "09.3": "zero_memory_per_gpu", "09.4": "scaled_batch_and_lr"}


def test_solutions_pass_and_stubs_are_not_attempted(solved, stubs):
    for exercise, name in NAMES.items():
        assert check(exercise, solved[name]).passed
        assert not check(exercise, stubs[name]).attempted


# ----------------------------------------------------------------------------------------- 09.1 the rank's shard

def _permutation(n, seed, epoch):
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed + epoch)).tolist()


def seeded_by_rank(n, rank, world, seed, epoch):
    return _permutation(n, seed + rank, epoch)[: n // world]


def padded_like_default_sampler(n, rank, world, seed, epoch):
    perm = _permutation(n, seed, epoch)
    per_rank = -(-n // world)
    perm += perm[: per_rank * world - n]
    return perm[rank::world]


def contiguous_blocks(n, rank, world, seed, epoch):
    perm = _permutation(n, seed, epoch)[: n // world * world]
    size = n // world
    return perm[rank * size:(rank + 1) * size]


def unshuffled(n, rank, world, seed, epoch):
    return list(range(n // world * world))[rank::world]


def ignores_epoch(n, rank, world, seed, epoch):
    return _permutation(n, seed, 0)[: n // world * world][rank::world]


def as_numpy(n, rank, world, seed, epoch):  # a right answer in another container
    return np.array(_permutation(n, seed, epoch)[: n // world * world][rank::world])


@pytest.mark.parametrize("wrong,message", [
    (seeded_by_rank, "overlap"),
    (padded_like_default_sampler, "shard sizes"),
    (contiguous_blocks, "contiguous block"),
    (unshuffled, "not shuffled"),
    (ignores_epoch, "same order"),
    (lambda n, rank, world, seed, epoch: "0,1,2", "list of int"),
    (lambda n, rank, world, seed, epoch: [n + 5], "outside range"),
    (lambda n, rank, world, seed, epoch: 1 / 0, "ZeroDivisionError"),
])
def test_rank_shard_wrong_answers(wrong, message):
    assert message in failure("09.1", wrong)


def test_rank_shard_accepts_other_containers():
    assert check("09.1", as_numpy).passed


# ------------------------------------------------------------------------------------------ 09.2 Adam's memory

def mixed_without_master(n, mixed):
    return ({"weights": 2 * n, "gradients": 2 * n, "optimizer_states": 8 * n} if mixed
            else {"weights": 4 * n, "gradients": 4 * n, "optimizer_states": 8 * n})


def everything_halved(n, mixed):
    per = (2, 2, 4) if mixed else (4, 4, 8)
    return dict(zip(("weights", "gradients", "optimizer_states"), (p * n for p in per)))


def one_moment(n, mixed):
    return {"weights": 4 * n, "gradients": 4 * n, "optimizer_states": 4 * n}


def mixed_keeps_fp32_weights(n, mixed):
    return {"weights": 4 * n, "gradients": 4 * n, "optimizer_states": 12 * n} if mixed else \
        {"weights": 4 * n, "gradients": 4 * n, "optimizer_states": 8 * n}


@pytest.mark.parametrize("wrong,message", [
    (mixed_without_master, "master copy"),
    (everything_halved, "stay in fp32"),
    (one_moment, "two moments"),
    (mixed_keeps_fp32_weights, "are fp16: 2 bytes"),
    (lambda n, mixed: 16 * n, "exactly the keys"),
    (lambda n, mixed: {"weights": "4n", "gradients": 0, "optimizer_states": 0}, "finite number"),
])
def test_adam_memory_wrong_answers(wrong, message):
    assert message in failure("09.2", wrong)


# --------------------------------------------------------------------------------------------- 09.3 ZeRO memory

def _parts(n, gpus):
    return 2 * n, 2 * n, 12 * n


def stage1_shards_gradients(n, gpus, stage):
    w, g, s = _parts(n, gpus)
    return w + (g / gpus if stage >= 1 else g) + (s / gpus if stage >= 1 else s) if stage < 3 else (w + g + s) / gpus


def everything_divided_from_stage1(n, gpus, stage):
    return 16 * n / gpus if stage >= 1 else 16 * n


def stage2_shards_weights(n, gpus, stage):
    w, g, s = _parts(n, gpus)
    if stage == 2:
        return (w + g + s) / gpus
    return [16 * n, w + g + s / gpus, 0, (w + g + s) / gpus][stage]


def stage3_keeps_weights(n, gpus, stage):
    w, g, s = _parts(n, gpus)
    return [w + g + s, w + g + s / gpus, w + (g + s) / gpus, w + (g + s) / gpus][stage]


@pytest.mark.parametrize("wrong,message", [
    (stage1_shards_gradients, "stage 1 shards the optimizer states only"),
    (everything_divided_from_stage1, "only stage 3 also splits the weights"),
    (stage2_shards_weights, "stage 2 keeps a full copy of the weights"),
    (stage3_keeps_weights, "stage 3 (FSDP's full sharding) splits the weights too"),
    (lambda n, gpus, stage: None, "finite number"),
    (lambda n, gpus, stage: torch.tensor([1.0, 2.0]), "one number"),
])
def test_zero_memory_wrong_answers(wrong, message):
    assert message in failure("09.3", wrong)


# ------------------------------------------------------------------------------ 09.4 batch and learning rate

@pytest.mark.parametrize("wrong,message", [
    (lambda b, a, p, lr, base: (b * a, lr * b * a / base), "multiply by the processes too"),
    (lambda b, a, p, lr, base: (b * p, lr * b * p / base), "accumulation_steps micro-batches"),
    (lambda b, a, p, lr, base: (b * a * p, lr), "must grow with the batch"),
    (lambda b, a, p, lr, base: (b * a * p, lr * (b * a * p / base) ** 0.5), "square-root rule"),
    (lambda b, a, p, lr, base: (b * a * p, lr * p), "not by the number of processes"),
    (lambda b, a, p, lr, base: b * a * p, "return a pair"),
    (lambda b, a, p, lr, base: (float("nan"), lr), "finite number"),
])
def test_batch_and_lr_wrong_answers(wrong, message):
    assert message in failure("09.4", wrong)


def test_batch_and_lr_accepts_numpy_numbers():
    assert check("09.4", lambda b, a, p, lr, base: (np.int64(b * a * p), np.float64(lr * b * a * p / base))).passed
