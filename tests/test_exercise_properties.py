"""Property-based tests of every exercise checker (hypothesis draws the seed of the checker's random inputs).

For every seed: the lesson's solution passes, every correct answer written differently passes, and every
plausible wrong answer (a mutation of the solution, see ``exercise_answers.py``) fails with the specific message
that names its mistake, never the last-resort one. Junk answers (wrong return types, code that raises) fail with a specific message too.
The number of seeds per checker is kept small where a check builds models, so the whole file stays fast.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from exercise_answers import ALTERNATIVES, MUTANTS, answer_of, junk_answers, lesson_answer, name_of, ref
from helpers.exercises import ExerciseFailed, check, list_exercises
from helpers.exercises.core import UNEXPECTED, NotAttempted, run_checker

EXERCISES = [exercise.exercise_id for exercise in list_exercises()]
# Seeds per checker: the ones that build transformer models cost more per run.
_HEAVY = {"02.3", "03.1", "03.2", "03.3", "04.3", "05.4"}
SEEDS = st.integers(min_value=0, max_value=2**32 - 1)


def examples(exercise_id: str) -> int:
    return 2 if exercise_id in _HEAVY else 3


def failure_message(exercise_id: str, answer, seed: int) -> str:
    try:
        run_checker(exercise_id, answer, seed)
    except ExerciseFailed as failure:
        return str(failure)
    except NotAttempted:
        pytest.fail(f"{exercise_id}: {name_of(answer)} was taken for the stub")
    pytest.fail(f"{exercise_id}: the wrong answer {name_of(answer)} passed with seed {seed}")


def test_every_exercise_has_answers_of_each_kind():
    assert sorted(MUTANTS) == sorted(ALTERNATIVES) == EXERCISES
    for exercise_id in EXERCISES:
        assert len(MUTANTS[exercise_id]) >= 4, exercise_id


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_reference_and_alternatives_pass_and_mutants_fail_for_any_seed(exercise_id):
    @settings(max_examples=examples(exercise_id), deadline=None, derandomize=True, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=[HealthCheck.too_slow])
    @given(seed=SEEDS)
    def property_(seed):
        run_checker(exercise_id, ref(exercise_id), seed)
        for entry in ALTERNATIVES[exercise_id]:
            try:
                run_checker(exercise_id, answer_of(exercise_id, entry), seed)
            except ExerciseFailed as failure:
                pytest.fail(f"{exercise_id}: the correct answer {name_of(entry)} was refused (seed {seed}): {failure}")
        for entry, fragment in MUTANTS[exercise_id]:
            message = failure_message(exercise_id, answer_of(exercise_id, entry), seed)
            assert UNEXPECTED not in message, f"{exercise_id} {name_of(entry)}: {message}"
            assert fragment in message, f"{exercise_id} {name_of(entry)} (seed {seed}): {message}"

    property_()


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_junk_answers_get_a_specific_message(exercise_id):
    for answer in junk_answers(exercise_id):
        message = failure_message(exercise_id, answer, 0)
        assert UNEXPECTED not in message, f"{exercise_id} {answer!r}: {message}"
        assert len(message) < 1200, message


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_stub_is_not_attempted(exercise_id):
    result = check(exercise_id, lesson_answer(exercise_id, "notebooks"))
    assert not result.attempted and not result.passed


def test_library_not_implemented_error_is_a_failure_not_the_stub():
    def uses_an_unimplemented_feature(text, tokenizer):
        raise NotImplementedError("sparse tensors are not supported here")

    with pytest.raises(ExerciseFailed, match="raised NotImplementedError: sparse"):
        check("00.1", uses_an_unimplemented_feature)


def test_a_checker_crash_becomes_an_exercise_failure(monkeypatch):
    from helpers.exercises import core

    def broken_checker(answer, seed=0):
        raise KeyError("something the checker did not foresee")

    monkeypatch.setitem(core._REGISTRY, "00.1", core.Exercise("00.1", "unknown characters", broken_checker))
    with pytest.raises(ExerciseFailed, match=UNEXPECTED):
        check("00.1", lambda text, tokenizer: [])


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_every_checker_documents_its_cases(exercise_id):
    from helpers.exercises.core import get_exercise

    doc = get_exercise(exercise_id).checker.__doc__ or ""
    assert len(doc) > 300 and "Accepted" in doc, exercise_id  # what passes ...
    assert any(word in doc for word in ("Edge case", "Wrong ideas", "Cases:", "Models:")), exercise_id  # ... and what fails
