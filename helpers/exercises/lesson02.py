"""Lesson 02 exercises: a dynamic-padding collate function, compute_metrics, and predict()."""

from __future__ import annotations

import copy
import warnings
from typing import Any

import numpy as np
import torch

from .core import (ExerciseFailed, as_number, call_answer, describe, expect_callable, register, rng,
                   torch_generator)

# ---------------------------------------------------------------- 02.1 dynamic padding
_FIXED_BATCHES = (  # (examples, pad id)
    ([{"input_ids": [2, 11, 12, 13, 3], "label": 1}, {"input_ids": [2, 21, 3], "label": 0},
      {"input_ids": [2, 31, 32, 33, 34, 35, 36, 3], "label": 1}], 0),
    ([{"input_ids": [2, 40, 3], "label": 0}], 0),  # one example: nothing to pad
    ([{"input_ids": [2, 41, 42, 3], "label": 1}, {"input_ids": [2, 43, 3], "label": 2}], 7),  # pad id 7, 3 classes
    ([{"input_ids": [9], "label": 0}, {"input_ids": [2, 8, 8, 8, 8, 8, 8, 8, 8, 3], "label": 1}], 1),
)


def _expected_batch(examples: list[dict], pad_id: int) -> dict[str, torch.Tensor]:
    longest = max(len(e["input_ids"]) for e in examples)
    ids = torch.full((len(examples), longest), pad_id, dtype=torch.long)
    mask = torch.zeros((len(examples), longest), dtype=torch.long)
    for row, example in enumerate(examples):
        ids[row, : len(example["input_ids"])] = torch.tensor(example["input_ids"])
        mask[row, : len(example["input_ids"])] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": torch.tensor([e["label"] for e in examples])}


def _integer_tensor(got: dict, key: str, mask: bool = False) -> torch.Tensor:
    value = got[key]
    if not isinstance(value, torch.Tensor):
        raise ExerciseFailed(f"{key} must be a torch.long tensor, got {describe(value)}.")
    if mask and (value.dtype == torch.bool or value.dtype.is_floating_point):
        return value.long().cpu() if ((value == 0) | (value == 1)).all() else value.cpu()
    if value.dtype.is_floating_point or value.dtype.is_complex or value.dtype == torch.bool:
        raise ExerciseFailed(f"{key} must be a torch.long tensor, got dtype {value.dtype}: the embedding layer and the "
                             "loss need integer ids and labels.")
    return value.long().cpu()


def _check_one_batch(answer: Any, examples: list[dict], pad_id: int) -> None:
    given = copy.deepcopy(examples)
    got = call_answer(answer, given, pad_id)
    if given != examples:
        raise ExerciseFailed("your function changed the examples it was given (e.g. appended pads to their "
                             "input_ids lists): that edits the dataset itself. Build new tensors instead.")
    if not isinstance(got, dict) and hasattr(got, "keys") and hasattr(got, "__getitem__"):
        got = {key: got[key] for key in got.keys()}  # a BatchEncoding or another mapping
    if not isinstance(got, dict):
        raise ExerciseFailed(f"return a dict of tensors; got {describe(got)}.")
    if "label" in got and "labels" not in got:
        raise ExerciseFailed("name the key 'labels' (plural): that is the argument the model's forward() takes.")
    for key in ("input_ids", "attention_mask", "labels"):
        if key not in got:
            raise ExerciseFailed(f"the batch has no {key!r}; expected keys input_ids, attention_mask, labels.")
    ids = _integer_tensor(got, "input_ids")
    mask = _integer_tensor(got, "attention_mask", mask=True)
    labels = _integer_tensor(got, "labels")
    expected = _expected_batch(examples, pad_id)
    rows, longest = expected["input_ids"].shape
    if ids.shape != (rows, longest):
        width = ids.shape[-1] if ids.dim() == 2 else "?"
        hint = " Pad to the longest sequence in THIS batch, not a fixed length." if width != longest else ""
        raise ExerciseFailed(f"input_ids has shape {tuple(ids.shape)}; expected ({rows}, {longest}).{hint}")
    if not torch.equal(ids, expected["input_ids"]):
        row = int((ids != expected["input_ids"]).any(dim=1).nonzero()[0])
        pads = f" Pad with pad_id (here {pad_id}), not a constant." if pad_id != 0 else ""
        raise ExerciseFailed(f"with pad_id={pad_id}, row {row} of input_ids is {ids[row].tolist()}; expected "
                             f"{expected['input_ids'][row].tolist()} (tokens first, then pad_id on the right).{pads}")
    if mask.shape != ids.shape or not torch.equal(mask, expected["attention_mask"]):
        raise ExerciseFailed(f"attention_mask is {mask.tolist()}; expected {expected['attention_mask'].tolist()}: 1 on "
                             "real tokens and 0 on padding, so attention ignores the pads.")
    if labels.tolist() != expected["labels"].tolist():
        raise ExerciseFailed(f"labels are {labels.tolist()}; expected {expected['labels'].tolist()}, one per example.")


@register("02.1", "dynamic padding")
def check_pad_batch(answer: Any, seed: int = 0) -> str:
    """``answer(examples, pad_id)`` -> dict of input_ids / attention_mask / labels tensors, padded to the longest.

    Edge cases: a batch of one example (no padding at all), pad ids 0, 1 and 7 (a hard-coded 0 fails), three
    classes, a one-token example next to a long one. Plus 20 random batches (1-8 examples of 1-30 tokens).
    Wrong ideas told apart: a fixed length (512), left padding, an all-ones mask, the key 'label', a list
    instead of tensors, changing the examples' lists in place.
    Accepted: any integer dtype for ids and labels, an integer, bool or 0/1 float mask, a dict or a BatchEncoding.
    """
    expect_callable(answer, "pad_batch")
    random = rng(seed, "02.1")
    batches = [(examples, pad_id) for examples, pad_id in _FIXED_BATCHES]
    for _ in range(20):
        pad_id = random.choice((0, 1, 7))
        examples = [{"input_ids": [random.randint(10, 5000) for _ in range(random.randint(1, 30))],
                     "label": random.randint(0, 2)} for _ in range(random.randint(1, 8))]
        batches.append((examples, pad_id))
    for examples, pad_id in batches:
        _check_one_batch(answer, examples, pad_id)
    return (f"{len(batches)} batches padded to their longest example, masks and labels right: the same as "
            "DataCollatorWithPadding.")


# ---------------------------------------------------------------- 02.2 metrics
def _reference_metrics(logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Accuracy, precision, recall, F1 of class 1, as scikit-learn computes them (0 for 0/0); NumPy for speed."""
    predictions = np.asarray(logits, dtype=np.float64).argmax(-1)
    labels = np.asarray(labels)
    tp = int(((predictions == 1) & (labels == 1)).sum())
    predicted, actual = int((predictions == 1).sum()), int((labels == 1).sum())
    precision = tp / predicted if predicted else 0.0
    recall = tp / actual if actual else 0.0
    f1 = 2 * tp / (predicted + actual) if predicted + actual else 0.0
    return {"accuracy": float((predictions == labels).mean()), "precision": precision, "recall": recall, "f1": f1}


def _metric_cases(seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    cases = [
        # Asymmetric: precision != recall, so swapping (labels, predictions) in sklearn's calls changes them; a
        # threshold on the raw positive logit, or argmax over the wrong axis, also gives other numbers.
        (np.array([[0.2, 0.4], [1.0, 0.7], [-1.0, 0.3], [0.1, -0.2], [2.0, 2.5], [0.0, 1.0], [0.3, 0.9]],
                  dtype=np.float32), np.array([1, 0, 1, 1, 0, 1, 0])),
        (np.array([[0.5, -0.5]], dtype=np.float64), np.array([1])),  # one example, predicted negative: precision 0/0
        (np.array([[0.1, 0.9], [0.2, 0.3]], dtype=np.float16), np.array([1, 1])),  # float16 logits, all positive
        (np.array([[3.0, 1.0], [2.0, -1.0], [0.0, -0.5]], dtype=np.float32), np.array([0, 0, 0])),  # recall 0/0
    ]
    random = np.random.default_rng(rng(seed, "02.2").randrange(2**32))
    for dtype in (np.float16, np.float32, np.float64, np.float32):
        n = int(random.integers(5, 60))
        logits = (random.normal(size=(n, 2)) * 2).astype(dtype)
        while (logits[:, 0] == logits[:, 1]).any():  # no exact ties: argmax would have to break them
            logits = (random.normal(size=(n, 2)) * 2).astype(dtype)
        labels = random.integers(0, 2, size=n)
        if random.random() < 0.5:
            labels = labels.astype(np.int32)
        cases.append((logits, labels))
    return cases


@register("02.2", "compute_metrics for Trainer")
def check_compute_metrics(answer: Any, seed: int = 0) -> str:
    """``answer((logits, labels))`` -> {"accuracy", "precision", "recall", "f1"} as numbers.

    Edge cases: asymmetric data (precision != recall, so arguments swapped in sklearn's calls fail), one
    example, a case with no predicted positive and one with no true positive (0/0: 0 by sklearn's
    convention, with or without ``zero_division=0``), float16/32/64 logits, int32 and int64 labels. Plus four
    random sets of 5-60 examples. Wrong ideas told apart: swapped arguments, thresholding the raw positive logit,
    argmax over the wrong axis, missing keys, a non-number.
    The argument is an ``EvalPrediction``, as Trainer passes it: unpacking it into (logits, labels) and reading
    ``.predictions`` / ``.label_ids`` both work. Accepted: extra keys, any number type (Python, NumPy, a
    one-element tensor).
    """
    from transformers import EvalPrediction

    expect_callable(answer, "compute_metrics")
    cases = _metric_cases(seed)
    for logits, labels in cases:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # sklearn's UndefinedMetricWarning for 0/0 without zero_division
            got = call_answer(answer, EvalPrediction(predictions=logits.copy(), label_ids=labels.copy()))
        if not isinstance(got, dict):
            raise ExerciseFailed(f"return a dict of metric name -> number; got {describe(got)}.")
        expected = _reference_metrics(logits, labels)
        missing = [name for name in expected if name not in got]
        if missing:
            raise ExerciseFailed(f"the dict has no {missing[0]!r}; expected keys {sorted(expected)}.")
        for name, value in expected.items():
            number = as_number(got[name], name)
            if abs(number - value) > 1e-6:
                swapped = _reference_metrics(np.eye(2)[labels] * 2 - 1, np.asarray(logits, np.float64).argmax(-1))
                hint = (" You swapped the arguments: sklearn's metrics take (y_true, y_pred), labels first."
                        if abs(number - swapped[name]) <= 1e-6 else
                        " Predictions are logits.argmax(axis=-1) (one per row); then use sklearn's metric functions.")
                raise ExerciseFailed(f"for {len(labels)} examples with labels {labels.tolist()[:8]}"
                                     f"{'...' if len(labels) > 8 else ''}, {name} is {number:.4f}; expected "
                                     f"{value:.4f}.{hint}")
    return (f"all four metrics match scikit-learn on {len(cases)} cases: asymmetric data, one example, 0/0 cases "
            "and float16/32/64 logits.")


# ---------------------------------------------------------------- 02.3 predict
_TEXTS = ["质量很好，物流也快", "太差了，再也不买", "一般般吧", "书的内容很精彩，推荐！", "房间小，服务差", ""]
_LONG_FILLER = "这家酒店的位置很好，离地铁站很近，早餐也不错，但是房间隔音一般，晚上能听到走廊的声音。"


def _tiny_classifier(max_positions: int, seed: int, tokenizer, texts: list[str]):
    """A random classifier whose head is scaled and centred so that it predicts both labels on ``texts``."""
    from transformers import BertForSequenceClassification

    from ..models import bert_config
    from ..profiles import get_profile

    torch.manual_seed(seed)
    names = {0: "negative", 1: "positive"}  # so that model.config.id2label gives the names too
    model = BertForSequenceClassification(bert_config(get_profile("smoke"), num_labels=2, hidden_dropout_prob=0.3,
                                                      max_position_embeddings=max_positions, id2label=names,
                                                      label2id={v: k for k, v in names.items()})).eval()
    with torch.no_grad():
        model.classifier.weight.mul_(30.0)
        batch = tokenizer(texts, padding=True, truncation=True, max_length=max_positions, return_tensors="pt")
        logits = model(**batch).logits
        margins = (logits[:, 1] - logits[:, 0]).sort().values
        model.classifier.bias[1] -= float(margins[len(margins) // 2 - 1] + margins[len(margins) // 2]) / 2
    return model


def checker_device() -> torch.device:
    """Where 02.3 runs the model: the GPU when there is one, so that inputs left on the CPU fail there."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _reference_probabilities(model, tokenizer, texts: list[str], limit: int) -> torch.Tensor:
    device = next(model.parameters()).device
    model.eval()
    with torch.no_grad():
        batch = tokenizer(texts, padding=True, truncation=True, max_length=limit, return_tensors="pt").to(device)
        return torch.softmax(model(**batch).logits.double(), dim=-1).cpu()


@register("02.3", "predict() for new reviews")
def check_predict(answer: Any, seed: int = 0) -> str:
    """``answer(texts, model, tokenizer)`` -> [{"label": "positive"|"negative", "probability": p}, ...].

    Two small random classifiers (their heads set so that they predict both labels; dropout 0.3; handed over in
    training mode, as right after training) on the
    checker's device (the GPU when there is one: a batch left on the CPU fails there), with limits of 48 and 160
    positions and a tokenizer whose ``model_max_length`` agrees with the model. Texts: short reviews, an empty
    text, and reviews longer than each limit (no truncation, or a hard-coded ``max_length=128``, either crashes
    past 48 positions or cuts a 160-position review short). Also an empty list and a single text.
    Wrong ideas told apart: dropout left on (two calls differ), P(positive) instead of the predicted label's
    probability, label indices instead of names, a fixed length limit, inputs not moved to the model's device.
    Accepted: any order of batching (all at once or one text at a time), probabilities as any number type,
    within 1e-4.
    """
    from ..tokenization import load_course_tokenizer

    expect_callable(answer, "predict")
    device = checker_device()
    random = rng(seed, "02.3")
    hint = ("Hint: move the tokenized batch to the model's device (next(model.parameters()).device) and truncate to "
            "the model's limit (model.config.max_position_embeddings, or tokenizer.model_max_length).")
    checked = 0
    for limit in (48, 160):
        tokenizer = load_course_tokenizer()
        tokenizer.model_max_length = limit
        long_text = (_LONG_FILLER * 6)[random.randrange(10): random.randrange(limit + 20, limit + 100)]
        medium = _LONG_FILLER * 3  # 130+ tokens: cut short by a hard-coded 128 under the 160 limit
        texts = list(_TEXTS) + [long_text, medium[: random.randrange(140, 150)]]
        random.shuffle(texts)
        model = _tiny_classifier(limit, random.randrange(2**31), tokenizer, texts).to(device)
        expected = _reference_probabilities(model, tokenizer, texts, limit)
        for batch in (texts, texts[:1], []):
            model.train()  # as it is right after training: predict() must switch to eval mode itself
            first = call_answer(answer, list(batch), model, tokenizer, hint=hint)
            second = call_answer(answer, list(batch), model, tokenizer, hint=hint)
            if not isinstance(first, list) or len(first) != len(batch):
                length = f" of length {len(first)}" if isinstance(first, list) else ""
                raise ExerciseFailed(f"for {len(batch)} texts return a list of {len(batch)} dicts (one per text); got "
                                     f"{describe(first) if not isinstance(first, list) else 'a list'}{length}.")
            for i, item in enumerate(first):
                if not isinstance(item, dict) or not {"label", "probability"} <= set(item):
                    raise ExerciseFailed(f"result {i} is {describe(item)}; expected a dict with keys 'label' and "
                                         "'probability'.")
                if not isinstance(item["label"], str) or item["label"] not in ("negative", "positive"):
                    raise ExerciseFailed(f"result {i} has label {item['label']!r}; use the names 'negative'/'positive', "
                                         "not an index.")
            first_p = [as_number(r["probability"], f"the probability of result {i}") for i, r in enumerate(first)]
            second_p = [as_number(r["probability"], f"the probability of result {i}") for i, r in enumerate(second)]
            if any(abs(a - b) > 1e-6 for a, b in zip(first_p, second_p)):
                raise ExerciseFailed("two calls on the same texts gave different probabilities: dropout is still on. "
                                     "Call model.eval() (and use torch.no_grad()) inside predict.")
            rows = [texts.index(text) for text in batch]
            for item, probability, row in zip(first, first_p, rows):
                text = texts[row]
                index = int(expected[row].argmax())
                expected_label = ("negative", "positive")[index]
                shown = text if len(text) <= 12 else f"{text[:12]}... ({len(text)} characters)"
                if item["label"] != expected_label and abs(float(expected[row, 0] - expected[row, 1])) > 1e-4:
                    raise ExerciseFailed(f"for {shown!r} you predicted {item['label']!r}; the model says "
                                         f"{expected_label!r}. Take argmax over the label axis (dim=-1) of each row. "
                                         f"{hint if len(text) > 40 else ''}")
                target = float(expected[row, ("negative", "positive").index(item["label"])])
                if abs(probability - target) > 1e-4:
                    positive = float(expected[row, 1])
                    extra = (" You returned P(positive); return the probability of the predicted label."
                             if abs(probability - positive) < 1e-4 else
                             f" Reviews longer than the model's limit ({limit} positions) must be truncated to "
                             f"exactly that limit. {hint}" if len(text) > 40 else " Use softmax over the logits.")
                    raise ExerciseFailed(f"for {shown!r} probability {probability:.4f}; expected {target:.4f}.{extra}")
                checked += 1
    return (f"labels and probabilities match the model in eval mode on {device.type} for {checked} texts, long "
            "reviews truncated at the model's limit, and repeated calls agree.")
