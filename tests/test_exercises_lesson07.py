"""Lesson 07: solutions pass, stubs are not attempted, the library answers pass (wrong answers: exercise_answers)."""

import pytest

from helpers.exercises import check

LESSON = "07_ner"  # the conftest fixtures `solved` and `stubs` read this


@pytest.mark.parametrize("exercise_id,name", [("07.1", "bio_from_spans"), ("07.2", "spans_from_bio"),
                                              ("07.3", "align_word_labels"), ("07.4", "entity_f1")])
def test_solutions_pass_and_stubs_are_not_attempted(solved, stubs, exercise_id, name):
    assert check(exercise_id, solved[name]).passed
    assert not check(exercise_id, stubs[name]).attempted


def test_the_library_answers_pass():
    from seqeval.metrics import f1_score

    from helpers.ner import bio_to_spans, spans_to_bio
    from helpers.token_classification import align_labels

    assert check("07.1", spans_to_bio).passed
    assert check("07.2", bio_to_spans).passed
    assert check("07.3", align_labels).passed
    assert check("07.4", lambda gold, predicted: f1_score(gold, predicted, zero_division=0)).passed


def test_the_checkers_references_agree_with_seqeval():
    """07.2's reference reads tags as seqeval does: the F1 from its spans equals seqeval's on random corpora."""
    from seqeval.metrics import f1_score

    from helpers.exercises.core import rng
    from helpers.exercises.lesson07 import _F1_CASES, _counts, _f1, _random_f1_case
    from helpers.ner import bio_to_spans

    random = rng(0, "test")
    for gold, predicted in list(_F1_CASES) + [_random_f1_case(random) for _ in range(50)]:
        assert _f1(_counts(gold, predicted, bio_to_spans)) == pytest.approx(f1_score(gold, predicted, zero_division=0))
