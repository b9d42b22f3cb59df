"""Lesson 11: solutions pass, stubs are not attempted, the course versions pass (wrong answers: exercise_answers)."""

import pytest
from torch import nn

from helpers import mechanisms
from helpers.exercises import check

NAMES = [("11.1", "attention"), ("11.2", "embed_by_hand"), ("11.3", "static_and_contextual"), ("11.4", "LoRALinear"),
         ("11.5", "token_stats"), ("11.6", "prompt_ids"), ("11.7", "read_scalars")]


LESSON = "11_build_it_yourself"  # the conftest fixtures `solved` and `stubs` read this


@pytest.mark.parametrize("exercise_id,name", NAMES)
def test_solutions_pass_and_stubs_are_not_attempted(solved, stubs, exercise_id, name):
    assert check(exercise_id, solved[name]).passed
    if name == "LoRALinear":  # the stub raises in __init__, which the checker calls
        assert not check(exercise_id, stubs[name]).attempted
    else:
        assert not check(exercise_id, stubs[name]).attempted


@pytest.mark.parametrize("exercise_id,name", NAMES)
def test_the_course_versions_pass_their_own_checkers(exercise_id, name):
    """helpers.mechanisms is what the lesson's later cells use: it must be right, judged by the libraries."""
    assert check(exercise_id, getattr(mechanisms, name)).passed


def test_mechanisms_refuse_bad_input(tmp_path):
    from helpers.models import load_tokenizer

    tokenizer = load_tokenizer("course-bert")
    with pytest.raises(TypeError, match="wraps an nn.Linear"):
        mechanisms.LoRALinear(nn.Conv1d(2, 2, 1), 2, 4)
    with pytest.raises(ValueError, match="positive int"):
        mechanisms.LoRALinear(nn.Linear(2, 2), 0, 4)
    with pytest.raises(ValueError, match="at least one text"):
        mechanisms.token_stats(tokenizer, [])
    with pytest.raises(ValueError, match="raise max_length"):
        mechanisms.prompt_ids("好", tokenizer, 5)
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(tmp_path))
    writer.add_scalar("a", 1.0, 0)
    writer.close()
    with pytest.raises(KeyError, match="no scalar 'b'"):
        mechanisms.read_scalars(tmp_path, "b")
