"""Lesson 09: solutions pass, stubs are not attempted, other containers pass (wrong answers: exercise_answers)."""

import numpy as np

from helpers.exercises import check

LESSON = "09_scaling_out"  # the conftest fixtures `solved` and `stubs` read this


NAMES = {"09.1": "rank_shard", "09.2": "adam_memory", "09.3": "zero_memory_per_gpu", "09.4": "scaled_batch_and_lr"}


def test_solutions_pass_and_stubs_are_not_attempted(solved, stubs):
    for exercise, name in NAMES.items():
        assert check(exercise, solved[name]).passed
        assert not check(exercise, stubs[name]).attempted


def test_rank_shard_accepts_other_containers():
    from exercise_answers import shard_numpy

    assert check("09.1", shard_numpy).passed


def test_batch_and_lr_accepts_numpy_numbers():
    assert check("09.4", lambda b, a, p, lr, base: (np.int64(b * a * p), np.float64(lr * b * a * p / base))).passed
