"""Lesson 02 exercises: a dynamic-padding collate function, compute_metrics, and predict()."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .core import ExerciseFailed, call_answer, expect_callable, register

_EXAMPLES = [
    {"input_ids": [2, 11, 12, 13, 3], "label": 1},
    {"input_ids": [2, 21, 3], "label": 0},
    {"input_ids": [2, 31, 32, 33, 34, 35, 36, 3], "label": 1},
]
_PAD = 0


@register("02.1", "dynamic padding")
def check_pad_batch(answer: Any) -> str:
    """``answer(examples, pad_id)`` -> dict of input_ids / attention_mask / labels tensors, padded to the longest."""
    expect_callable(answer, "pad_batch")
    got = call_answer(answer, [dict(e, input_ids=list(e["input_ids"])) for e in _EXAMPLES], _PAD)
    if not isinstance(got, dict):
        raise ExerciseFailed(f"return a dict of tensors; got {type(got).__name__}.")
    if "label" in got and "labels" not in got:
        raise ExerciseFailed("name the key 'labels' (plural): that is the argument the model's forward() takes.")
    for key in ("input_ids", "attention_mask", "labels"):
        if key not in got:
            raise ExerciseFailed(f"the batch has no {key!r}; expected keys input_ids, attention_mask, labels.")
        if not isinstance(got[key], torch.Tensor) or got[key].dtype != torch.long:
            raise ExerciseFailed(f"{key} must be a torch.long tensor, got {type(got[key]).__name__}"
                                 f"{' ' + str(got[key].dtype) if isinstance(got[key], torch.Tensor) else ''}.")
    longest = max(len(e["input_ids"]) for e in _EXAMPLES)
    if got["input_ids"].shape != (len(_EXAMPLES), longest):
        width = got["input_ids"].shape[-1] if got["input_ids"].ndim == 2 else "?"
        hint = " Pad to the longest sequence in the batch, not a fixed length." if width != longest else ""
        raise ExerciseFailed(f"input_ids has shape {tuple(got['input_ids'].shape)}; expected "
                             f"({len(_EXAMPLES)}, {longest}).{hint}")
    expected_ids = torch.full((len(_EXAMPLES), longest), _PAD)
    expected_mask = torch.zeros((len(_EXAMPLES), longest), dtype=torch.long)
    for row, example in enumerate(_EXAMPLES):
        expected_ids[row, : len(example["input_ids"])] = torch.tensor(example["input_ids"])
        expected_mask[row, : len(example["input_ids"])] = 1
    if not torch.equal(got["input_ids"], expected_ids):
        row = int((got["input_ids"] != expected_ids).any(dim=1).nonzero()[0])
        raise ExerciseFailed(f"row {row} of input_ids is {got['input_ids'][row].tolist()}; expected "
                             f"{expected_ids[row].tolist()} (tokens first, then pad_id on the right).")
    if not torch.equal(got["attention_mask"], expected_mask):
        raise ExerciseFailed(f"attention_mask is {got['attention_mask'].tolist()}; it must be 1 on real tokens and 0 "
                             "on padding, so attention ignores the pads.")
    if got["labels"].tolist() != [e["label"] for e in _EXAMPLES]:
        raise ExerciseFailed(f"labels are {got['labels'].tolist()}; expected {[e['label'] for e in _EXAMPLES]}.")
    return "padded to the longest example, masks and labels right: the same as DataCollatorWithPadding."


def _reference_metrics(logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score

    predictions = logits.argmax(-1)
    return {"accuracy": accuracy_score(labels, predictions), "precision": precision_score(labels, predictions),
            "recall": recall_score(labels, predictions), "f1": f1_score(labels, predictions)}


@register("02.2", "compute_metrics for Trainer")
def check_compute_metrics(answer: Any) -> str:
    """``answer((logits, labels))`` -> {"accuracy", "precision", "recall", "f1"} as floats."""
    expect_callable(answer, "compute_metrics")
    # Logits chosen so that thresholding the raw positive logit at 0.5, or taking argmax over the
    # wrong axis, gives different numbers from the right answer.
    logits = np.array([[0.2, 0.4], [1.0, 0.7], [-1.0, 0.3], [0.1, -0.2], [2.0, 2.5], [0.0, 1.0]], dtype=np.float32)
    labels = np.array([1, 0, 1, 1, 0, 1])
    got = call_answer(answer, (logits, labels))
    if not isinstance(got, dict):
        raise ExerciseFailed(f"return a dict of metric name -> number; got {type(got).__name__}.")
    expected = _reference_metrics(logits, labels)
    for name, value in expected.items():
        if name not in got:
            raise ExerciseFailed(f"the dict has no {name!r}; expected keys {sorted(expected)}.")
        try:
            number = float(got[name])
        except (TypeError, ValueError):
            raise ExerciseFailed(f"{name} is {got[name]!r}, not a number.") from None
        if abs(number - value) > 1e-6:
            raise ExerciseFailed(f"{name} is {number:.4f}; expected {value:.4f}. Predictions are "
                                 "logits.argmax(axis=-1) (one per row); then use sklearn's metric functions.")
    return "all four metrics match scikit-learn on logits where thresholds or the wrong axis would differ."


def _tiny_classifier():
    from transformers import BertForSequenceClassification

    from ..models import bert_config
    from ..profiles import get_profile

    torch.manual_seed(0)
    return BertForSequenceClassification(bert_config(get_profile("smoke"), num_labels=2, hidden_dropout_prob=0.3))


_TEXTS = ["质量很好，物流也快", "太差了，再也不买", "一般般吧", "书的内容很精彩，推荐！", "房间小，服务差"]


@register("02.3", "predict() for new reviews")
def check_predict(answer: Any) -> str:
    """``answer(texts, model, tokenizer)`` -> [{"label": "positive"|"negative", "probability": p}, ...]."""
    from ..tokenization import load_course_tokenizer

    expect_callable(answer, "predict")
    tokenizer = load_course_tokenizer()
    model = _tiny_classifier()
    model.eval()
    with torch.no_grad():
        batch = tokenizer(_TEXTS, padding=True, truncation=True, max_length=64, return_tensors="pt")
        probabilities = torch.softmax(model(**batch).logits, dim=-1)
    model.train()  # as it is right after training: predict() must switch to eval mode itself
    first = call_answer(answer, list(_TEXTS), model, tokenizer)
    second = call_answer(answer, list(_TEXTS), model, tokenizer)
    if not isinstance(first, list) or len(first) != len(_TEXTS):
        raise ExerciseFailed(f"return one result per text (a list of {len(_TEXTS)} dicts); got "
                             f"{type(first).__name__}{' of length ' + str(len(first)) if hasattr(first, '__len__') else ''}.")
    for i, item in enumerate(first):
        if not isinstance(item, dict) or set(item) != {"label", "probability"}:
            raise ExerciseFailed(f"result {i} is {item!r}; expected a dict with keys 'label' and 'probability'.")
        if item["label"] not in ("negative", "positive"):
            raise ExerciseFailed(f"result {i} has label {item['label']!r}; use the names 'negative'/'positive', "
                                 "not an index.")
    if [r["probability"] for r in first] != [r["probability"] for r in second]:
        raise ExerciseFailed("two calls on the same texts gave different probabilities: dropout is still on. "
                             "Call model.eval() (and use torch.no_grad()) inside predict.")
    for i, item in enumerate(first):
        index = int(probabilities[i].argmax())
        expected_label = ("negative", "positive")[index]
        if item["label"] != expected_label:
            raise ExerciseFailed(f"for {_TEXTS[i]!r} you predicted {item['label']!r}; the model says {expected_label!r}. "
                                 "Take argmax over the label axis (dim=-1) of each row.")
        if abs(float(item["probability"]) - float(probabilities[i, index])) > 1e-4:
            positive = float(probabilities[i, 1])
            hint = (" You returned P(positive); return the probability of the predicted label."
                    if abs(float(item["probability"]) - positive) < 1e-4 else " Use softmax over the logits.")
            raise ExerciseFailed(f"for {_TEXTS[i]!r} probability {float(item['probability']):.4f}; expected "
                                 f"{float(probabilities[i, index]):.4f}.{hint}")
    return "labels and probabilities match the model in eval mode, and repeated calls agree."
