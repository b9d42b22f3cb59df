import numpy as np
import pytest
import torch

from helpers.exercises import check
from lesson_sources import exercise_namespace, failure


@pytest.fixture(scope="module")
def solved():
    return exercise_namespace("02_bert_classification")


@pytest.fixture(scope="module")
def stubs():
    return exercise_namespace("02_bert_classification", "notebooks")


@pytest.mark.parametrize("exercise_id,name", [("02.1", "pad_batch"), ("02.2", "compute_metrics"), ("02.3", "predict")])
def test_solutions_pass_and_stubs_are_not_attempted(solved, stubs, exercise_id, name):
    assert check(exercise_id, solved[name]).passed
    assert not check(exercise_id, stubs[name]).attempted




def pad_to_512(examples, pad_id):
    ids = torch.full((len(examples), 512), pad_id)
    mask = torch.zeros((len(examples), 512), dtype=torch.long)
    for row, example in enumerate(examples):
        ids[row, : len(example["input_ids"])] = torch.tensor(example["input_ids"])
        mask[row, : len(example["input_ids"])] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": torch.tensor([e["label"] for e in examples])}


def mask_all_ones(examples, pad_id):
    batch = pad_to_512(examples, pad_id)
    width = max(len(e["input_ids"]) for e in examples)
    return {"input_ids": batch["input_ids"][:, :width], "attention_mask": torch.ones_like(batch["input_ids"][:, :width]),
            "labels": batch["labels"]}


def left_padding(examples, pad_id):
    width = max(len(e["input_ids"]) for e in examples)
    ids = torch.tensor([[pad_id] * (width - len(e["input_ids"])) + e["input_ids"] for e in examples])
    return {"input_ids": ids, "attention_mask": (ids != pad_id).long(), "labels": torch.tensor([e["label"] for e in examples])}


def singular_label(examples, pad_id):
    batch = left_padding(examples, pad_id)
    return {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"], "label": batch["labels"]}


@pytest.mark.parametrize("wrong,message", [
    (pad_to_512, "not a fixed length"),
    (mask_all_ones, "attention_mask"),
    (left_padding, "on the right"),
    (singular_label, "'labels' (plural)"),
    (lambda examples, pad_id: [e["input_ids"] for e in examples], "dict of tensors"),
])
def test_pad_batch_wrong_answers(wrong, message):
    assert message in failure("02.1", wrong)


def threshold_logit(eval_pred):
    from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score

    logits, labels = eval_pred
    predictions = (logits[:, 1] > 0.5).astype(int)
    return {"accuracy": accuracy_score(labels, predictions), "precision": precision_score(labels, predictions),
            "recall": recall_score(labels, predictions), "f1": f1_score(labels, predictions)}


def wrong_axis(eval_pred):
    logits, labels = eval_pred
    predictions = logits.argmax(axis=0)
    return {"accuracy": float(np.mean(predictions == labels[: len(predictions)])), "precision": 0, "recall": 0, "f1": 0}


@pytest.mark.parametrize("wrong,message", [
    (threshold_logit, "argmax"),
    (wrong_axis, "expected"),
    (lambda eval_pred: {"accuracy": 4 / 6}, "no 'precision'"),
    (lambda eval_pred: 0.5, "dict"),
])
def test_compute_metrics_wrong_answers(wrong, message):
    assert message in failure("02.2", wrong)


def no_eval(texts, model, tokenizer):
    with torch.no_grad():
        probabilities = torch.softmax(model(**tokenizer(texts, padding=True, return_tensors="pt")).logits, -1)
    best = probabilities.argmax(-1)
    return [{"label": ("negative", "positive")[int(i)], "probability": float(p[i])} for i, p in zip(best, probabilities)]


def positive_probability(texts, model, tokenizer):
    model.eval()
    with torch.no_grad():
        probabilities = torch.softmax(model(**tokenizer(texts, padding=True, return_tensors="pt")).logits, -1)
    best = probabilities.argmax(-1)
    return [{"label": ("negative", "positive")[int(i)], "probability": float(p[1])} for i, p in zip(best, probabilities)]


def index_labels(texts, model, tokenizer):
    return [{"label": item["label"] == "positive", "probability": item["probability"]}
            for item in positive_probability(texts, model, tokenizer)]


@pytest.mark.parametrize("wrong,message", [
    (no_eval, "model.eval()"),
    (positive_probability, "P(positive)"),
    (index_labels, "not an index"),
    (lambda texts, model, tokenizer: "positive", "one result per text"),
])
def test_predict_wrong_answers(wrong, message):
    assert message in failure("02.3", wrong)
