"""Lesson 06: the references agree with the lesson helpers."""

import exercise_answers as a
from helpers.exercises.lesson06 import reference_distinct_2
from helpers.text_metrics import copies_stretch, distinct_n
from lesson_sources import failure


def test_a_string_is_not_a_number():
    assert "expected a number" in failure("06.2", lambda texts: "high")


def test_references_agree_with_the_lesson_helpers():
    cases = [["好好好好"], ["abab", "abab"], ["a", "bcd", ""], [], ["质量很好", "质量很差"]]
    for texts in cases:
        assert reference_distinct_2(texts) == distinct_n(texts, 2)
    training = "这家酒店的服务非常好，房间也很干净。"
    for text, window in (("我觉得这家酒店的服务非常好", 8), ("服务态度一般", 8), ("很好", 8)):
        assert a.ref("06.3")(text, training, window) == copies_stretch(text, training, window)
