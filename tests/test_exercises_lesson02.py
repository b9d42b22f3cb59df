"""Lesson 02: references agree with scikit-learn, 02.3 runs on the model's device (wrong answers: exercise_answers)."""

import numpy as np
import pytest
import torch

import exercise_answers as a
from helpers.exercises.core import run_checker
from lesson_sources import failure


def test_other_wrong_shapes_get_a_message():
    assert "dict of tensors" in failure("02.1", lambda examples, pad_id: [e["input_ids"] for e in examples])
    assert "dict" in failure("02.2", lambda eval_pred: 0.5)
    assert "NaN" in failure("02.2", lambda eval_pred: {"accuracy": float("nan"), "precision": 0, "recall": 0, "f1": 0})
    assert "one per text" in failure("02.3", lambda texts, model, tokenizer: "positive")


def test_compute_metrics_reference_is_sklearn():
    from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score

    from helpers.exercises.lesson02 import _metric_cases, _reference_metrics

    for seed in range(5):
        for logits, labels in _metric_cases(seed):
            predictions = np.asarray(logits, np.float64).argmax(-1)
            expected = {"accuracy": accuracy_score(labels, predictions),
                        "precision": precision_score(labels, predictions, zero_division=0),
                        "recall": recall_score(labels, predictions, zero_division=0),
                        "f1": f1_score(labels, predictions, zero_division=0)}
            assert _reference_metrics(logits, labels) == pytest.approx(expected)


def test_predict_checker_runs_on_the_gpu_when_there_is_one():
    from helpers.exercises.lesson02 import checker_device

    assert checker_device().type == ("cuda" if torch.cuda.is_available() else "cpu")
    if torch.cuda.is_available():  # a batch left on the CPU fails there, with the hint to move it
        assert "model's device" in failure("02.3", a.predict_cpu_only)
    else:
        run_checker("02.3", a.predict_cpu_only, 0)  # on a CPU-only machine it cannot be told apart


def test_predict_solution_truncates_at_the_models_limit_not_a_constant():
    source = (a.ref("02.3").__code__.co_consts, a.ref("02.3").__code__.co_names)
    assert 128 not in source[0] and "max_position_embeddings" in source[1]
