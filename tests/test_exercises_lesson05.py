"""Lesson 05: every valid tie-break and dtype passes; no message contradicts itself."""

import torch

import exercise_answers as a
from helpers.exercises import check
from lesson_sources import failure


def test_any_valid_tie_break_passes_and_no_message_contradicts_itself():
    assert check("05.1", a.top_k_exactly_k).passed  # keeps exactly k among tied logits
    assert check("05.2", a.top_p_other_tie_break).passed  # breaks ties in another order than transformers
    for wrong in (a.top_p_without_crossing_token, a.top_p_not_scattered, a.top_p_least_likely):
        message = failure("05.2", wrong)
        assert "transformers keeps" not in message


def test_wrong_dtype_results_get_a_message_not_a_crash():
    assert "floating-point" in failure("05.1", lambda logits, k: a.top_k_exactly_k(logits, k).to(torch.int64))
    assert check("05.1", lambda logits, k: a.top_k_exactly_k(logits.double(), k)).passed  # float64 is fine
    assert "return a tensor" in failure("05.1", lambda logits, k: logits.numpy())
