"""Lesson 03: messages the table in exercise_answers.MUTANTS does not cover."""

import exercise_answers as a
from lesson_sources import failure


def test_wrong_types_get_a_message():
    assert "tuple of two ints" in failure("03.1", lambda m: "many")
    assert "tuple of two ints" in failure("03.1", lambda m: (1.5, 2.5))


def test_one_layer_too_many_is_not_blamed_on_the_top_layers():
    message = failure("03.2", a.freeze_one_too_many)
    assert "one layer too many" in message and "TOP" not in message
