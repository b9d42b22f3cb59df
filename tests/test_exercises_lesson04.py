"""Lesson 04: the edit distance the augmentation check uses, and the solution without tricks."""

import random

import exercise_answers as a
from helpers.exercises.lesson04 import levenshtein
from lesson_sources import failure


def test_other_wrong_shapes_get_a_message():
    assert "class EarlyStopping itself" in failure("04.1", lambda patience: None)
    assert "tuple of your two functions" in failure("04.3", a.ref("04.3")[0])


def test_augment_solution_has_no_rotation_trick():
    rng = random.Random(0)
    texts = ["好评" * 10, "房间干净，服务热情"]
    # a variant may equal its text: the check does not force a change, so the solution needs no trick for it
    assert a.ref("04.2")("好好", 0.5, 3) in ("好好", "好", "好好好")
    assert all(levenshtein(t, a.ref("04.2")(t, 0.2, rng.randrange(100))) <= 2 * round(0.2 * len(t)) for t in texts)


def test_levenshtein():
    assert levenshtein("", "abc") == 3 and levenshtein("abc", "abc") == 0
    assert levenshtein("kitten", "sitting") == 3 and levenshtein("ab", "ba") == 2
