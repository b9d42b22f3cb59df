"""Lesson 08: solutions pass, stubs are not attempted, the library answers pass (wrong answers: exercise_answers)."""

import pytest

from helpers.exercises import check

LESSON = "08_deployment"  # the conftest fixtures `solved` and `stubs` read this


@pytest.mark.parametrize("exercise_id,name", [("08.1", "size_on_disk_bytes"), ("08.2", "distillation_loss"),
                                              ("08.3", "validate_texts"), ("08.4", "head_parameters")])
def test_solutions_pass_and_stubs_are_not_attempted(solved, stubs, exercise_id, name):
    assert check(exercise_id, solved[name]).passed
    assert not check(exercise_id, stubs[name]).attempted


def test_the_library_answers_pass():
    from safetensors.torch import save

    from helpers.compression import distillation_loss
    from helpers.serve import Limits, RequestError, validate_request

    def validate_with_service(payload, max_texts, max_chars):
        try:
            return validate_request(payload, Limits(max_texts=max_texts, max_chars=max_chars))
        except RequestError as error:
            raise ValueError(error.message) from None

    assert check("08.1", lambda tensors: len(save(tensors))).passed
    assert check("08.2", distillation_loss).passed
    assert check("08.3", validate_with_service).passed


def test_the_head_count_matches_the_formula_on_a_real_initialised_model():
    """08.4's reference counts on a meta-device model; a real one (weights allocated) frees the same parameters."""
    from transformers import BertConfig, BertForSequenceClassification

    from helpers.compression import remove_heads
    from helpers.exercises.lesson08 import _removed_by_one_head

    config = BertConfig(vocab_size=50, hidden_size=48, num_attention_heads=4, intermediate_size=96,
                        num_hidden_layers=1, max_position_embeddings=16)
    model = BertForSequenceClassification(config)
    before = sum(p.numel() for p in model.parameters())
    remove_heads(model, {0: [2]})
    removed = before - sum(p.numel() for p in model.parameters())
    assert removed == _removed_by_one_head(48, 12) == 3 * (48 * 12 + 12) + 48 * 12
