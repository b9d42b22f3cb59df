"""Token classification (序列标注) for NER: label alignment, entity-level metrics, constrained decoding, training.

Lesson 07 and ``bench/ner.py`` share these, so the lesson's figures and the benchmark's come from one recipe.

* :func:`align_labels` / :func:`tokenize_and_align`: a tokenizer may give a character (a "word" here) zero, one or
  several tokens; ``word_ids()`` says which. The first token of each character gets its label; special tokens
  (``[CLS]``, ``[SEP]``, padding) and later pieces get -100, which the loss ignores. With the course's
  character tokenizer almost every character is exactly one token; the same code works unchanged with a
  word-piece tokenizer such as ``bert-base-chinese``'s.
* :func:`entity_report`: entity-level precision / recall / F1 per type with ``seqeval`` (an entity counts only
  if its type and both boundaries are right), next to token accuracy.
* :func:`error_breakdown`: every gold and predicted entity classified as correct, type error, boundary error,
  boundary + type error, missed, or spurious.
* :func:`allowed_transitions` / :func:`viterbi_decode`: the best tag sequence under the constraint that ``I-X``
  only follows ``B-X`` or ``I-X`` (what a CRF layer's learned transitions mostly encode), by hand-written Viterbi.
* :func:`predict_tags`, :func:`predict_entities`: per-character predictions for data sets and for new text.
* :func:`ner_model`, :func:`ner_subset`, :func:`fine_tune_ner`: a pretrained or from-scratch
  ``BertForTokenClassification``, a seeded training subset, and ``Trainer`` with the course's settings for a fixed
  number of optimizer steps. :func:`bench_record` reads what ``bench/ner.py`` measured.
"""

from __future__ import annotations

import json
import math
import random
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from datasets import Dataset

from .ner import ENTITY_TYPES, ID2LABEL, LABEL2ID, LABEL_NAMES, bio_to_spans, validate_example

IGNORE_INDEX = -100  # positions the cross-entropy loss skips
BENCH_RECORD = Path(__file__).resolve().parents[1] / "bench" / "results" / "ner.json"
# Chosen on the validation split by bench/ner.py's learning-rate grid (1,000 sentences, seed 0); a test checks
# that they agree with the record.
NER_LEARNING_RATES = {"course-bert": 3e-4, "scratch": 1e-3}


# ---------------------------------------------------------------------------------------------------------
# Label alignment
# ---------------------------------------------------------------------------------------------------------

def align_labels(word_ids: Sequence[int | None], word_labels: Sequence[int], label_all_pieces: bool = False) -> list[int]:
    """Token-level labels from word-level ones, following a tokenizer's ``word_ids()``.

    ``None`` (a special token) gets -100. The first token of each word gets the word's label; later tokens of
    the same word get -100, or, with ``label_all_pieces``, the word's label with ``B-`` turned into ``I-`` (so a
    continuation piece never claims to start an entity).
    """
    labels: list[int] = []
    previous = None
    for word in word_ids:
        if word is None:
            labels.append(IGNORE_INDEX)
        elif not 0 <= word < len(word_labels):
            raise ValueError(f"word id {word} has no label: only {len(word_labels)} word labels were given")
        elif word != previous:
            labels.append(int(word_labels[word]))
        elif label_all_pieces:
            name = LABEL_NAMES[word_labels[word]]
            labels.append(LABEL2ID["I-" + name[2:]] if name.startswith("B-") else int(word_labels[word]))
        else:
            labels.append(IGNORE_INDEX)
        previous = word if word is not None else previous
    return labels


def tokenize_and_align(dataset: Dataset, tokenizer, max_length: int = 128, label_all_pieces: bool = False) -> Dataset:
    """Tokenize ``tokens`` (one entry per character) with ``is_split_into_words=True`` and align ``ner_tags``.

    Adds ``input_ids``, ``attention_mask``, ``labels`` and ``word_ids`` (-1 for special tokens) and keeps the
    original columns. ``Trainer`` drops the columns the model does not take.
    """
    if not getattr(tokenizer, "is_fast", False):
        raise TypeError("tokenize_and_align needs a fast tokenizer (it uses word_ids()); load it with AutoTokenizer")
    missing = {"tokens", "ner_tags"} - set(dataset.column_names)
    if missing:
        raise ValueError(f"the data set lacks the columns {sorted(missing)}; use helpers.ner.load_ner()")

    def encode(batch):
        encoded = tokenizer(batch["tokens"], is_split_into_words=True, truncation=True, max_length=max_length)
        encoded["labels"], encoded["word_ids"] = [], []
        for row, tags in enumerate(batch["ner_tags"]):
            word_ids = encoded.word_ids(row)
            encoded["labels"].append(align_labels(word_ids, tags, label_all_pieces))
            encoded["word_ids"].append([-1 if w is None else w for w in word_ids])
        return encoded

    return dataset.map(encode, batched=True, desc="tokenize and align")


# ---------------------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------------------

def _check_pairs(true_tags: Sequence[Sequence[str]], predicted_tags: Sequence[Sequence[str]]) -> None:
    if len(true_tags) != len(predicted_tags):
        raise ValueError(f"{len(true_tags)} gold sentences but {len(predicted_tags)} predicted ones")
    if len(true_tags) == 0:
        raise ValueError("no sentences to score")
    for index, (gold, predicted) in enumerate(zip(true_tags, predicted_tags)):
        if len(gold) != len(predicted):
            raise ValueError(f"sentence {index}: {len(gold)} gold tags but {len(predicted)} predicted tags")


def entity_report(true_tags: Sequence[Sequence[str]], predicted_tags: Sequence[Sequence[str]]) -> dict:
    """Entity-level scores from seqeval, per type and micro-averaged, plus token accuracy.

    Returns ``{"PER": {"precision", "recall", "f1", "support"}, ..., "micro": {...}, "token_accuracy": float,
    "o_share": float}`` where ``o_share`` is the share of gold tags that are ``O`` (the "always O" accuracy).
    """
    from seqeval.metrics import accuracy_score, classification_report

    _check_pairs(true_tags, predicted_tags)
    gold, predicted = [list(s) for s in true_tags], [list(s) for s in predicted_tags]
    report = classification_report(gold, predicted, output_dict=True, zero_division=0, mode=None)
    result = {}
    for entity in ENTITY_TYPES:
        row = report.get(entity, {"precision": 0.0, "recall": 0.0, "f1-score": 0.0, "support": 0})
        result[entity] = {"precision": float(row["precision"]), "recall": float(row["recall"]),
                          "f1": float(row["f1-score"]), "support": int(row["support"])}
    micro = report["micro avg"]
    result["micro"] = {"precision": float(micro["precision"]), "recall": float(micro["recall"]),
                       "f1": float(micro["f1-score"]), "support": int(micro["support"])}
    result["token_accuracy"] = float(accuracy_score(gold, predicted))
    flat = [tag for sentence in gold for tag in sentence]
    result["o_share"] = flat.count("O") / len(flat)
    return result


def make_compute_metrics():
    """A ``compute_metrics`` for ``Trainer``: entity P/R/F1 (seqeval) and token accuracy on non-ignored positions."""

    def compute_metrics(eval_pred) -> dict[str, float]:
        logits, labels = eval_pred
        predictions = np.asarray(logits).argmax(-1)
        gold, predicted = [], []
        for prediction_row, label_row in zip(predictions, np.asarray(labels)):
            keep = label_row != IGNORE_INDEX
            gold.append([ID2LABEL[int(i)] for i in label_row[keep]])
            predicted.append([ID2LABEL[int(i)] for i in prediction_row[keep]])
        report = entity_report(gold, predicted)
        return {"precision": report["micro"]["precision"], "recall": report["micro"]["recall"],
                "f1": report["micro"]["f1"], "token_accuracy": report["token_accuracy"],
                **{f"f1_{entity}": report[entity]["f1"] for entity in ENTITY_TYPES}}

    return compute_metrics


ERROR_KINDS = ("correct", "type", "boundary", "boundary+type", "missed", "spurious")


def error_breakdown(true_tags: Sequence[Sequence[str]], predicted_tags: Sequence[Sequence[str]]) -> list[dict]:
    """Classify every gold and every predicted entity, sentence by sentence.

    * ``correct``: same span, same type; ``type``: same span, other type; ``boundary``: overlapping span of the
      same type; ``boundary+type``: overlapping span of another type (judged from the gold entity);
    * ``missed``: a gold entity that no prediction overlaps; ``spurious``: a prediction that overlaps no gold entity.

    Returns one dict per case: ``sentence``, ``kind``, ``gold`` and ``predicted`` spans ``(type, start, end)``.
    """
    _check_pairs(true_tags, predicted_tags)
    rows = []
    for index, (gold_tags, predicted) in enumerate(zip(true_tags, predicted_tags)):
        gold_spans, predicted_spans = bio_to_spans(gold_tags), bio_to_spans(predicted)
        for gold in gold_spans:
            overlapping = [p for p in predicted_spans if p[1] < gold[2] and gold[1] < p[2]]
            exact = [p for p in overlapping if p[1:] == gold[1:]]
            if exact:
                kind, match = ("correct" if exact[0][0] == gold[0] else "type"), exact[0]
            elif overlapping:
                same_type = [p for p in overlapping if p[0] == gold[0]]
                kind, match = ("boundary", same_type[0]) if same_type else ("boundary+type", overlapping[0])
            else:
                kind, match = "missed", None
            rows.append({"sentence": index, "kind": kind, "gold": gold, "predicted": match})
        for predicted_span in predicted_spans:
            if not any(g[1] < predicted_span[2] and predicted_span[1] < g[2] for g in gold_spans):
                rows.append({"sentence": index, "kind": "spurious", "gold": None, "predicted": predicted_span})
    return rows


# ---------------------------------------------------------------------------------------------------------
# Constrained decoding (what a CRF's transition matrix mostly learns, imposed by hand)
# ---------------------------------------------------------------------------------------------------------

def allowed_transitions(label_names: Sequence[str] = LABEL_NAMES) -> tuple[np.ndarray, np.ndarray]:
    """``(allowed[i, j], start_allowed[j])``: may tag j follow tag i, and may a sentence start with tag j.

    ``I-X`` may only follow ``B-X`` or ``I-X``; it may not start a sentence, nor follow ``O`` or another type.
    Everything else is allowed.
    """
    names = list(label_names)
    for name in names:
        if name != "O" and not (name[:2] in ("B-", "I-") and len(name) > 2):
            raise ValueError(f"label {name!r} is not O, B-X or I-X")
    size = len(names)
    allowed = np.ones((size, size), dtype=bool)
    start = np.ones(size, dtype=bool)
    for j, name in enumerate(names):
        if name.startswith("I-"):
            start[j] = False
            for i, previous in enumerate(names):
                allowed[i, j] = previous in (f"B-{name[2:]}", name)
    return allowed, start


def viterbi_decode(scores: np.ndarray, allowed: np.ndarray, start_allowed: np.ndarray) -> list[int]:
    """The highest-scoring tag sequence whose every step is allowed.

    ``scores`` is (length, tags): per-position log-probabilities (or any additive scores). Forbidden
    transitions score minus infinity; no learned transition weights, so this is a CRF decode with a 0 / -inf
    transition matrix. Runs in O(length x tags^2).
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[0] == 0:
        raise ValueError(f"scores must be a non-empty (length, tags) array, got shape {scores.shape}")
    n_tags = scores.shape[1]
    if allowed.shape != (n_tags, n_tags) or start_allowed.shape != (n_tags,):
        raise ValueError(f"allowed must be ({n_tags}, {n_tags}) and start_allowed ({n_tags},) for {n_tags} tags")
    transition = np.where(allowed, 0.0, -np.inf)
    best = np.where(start_allowed, scores[0], -np.inf)
    back = np.zeros(scores.shape, dtype=np.int64)
    for t in range(1, scores.shape[0]):
        candidates = best[:, None] + transition  # previous tag i -> tag j
        back[t] = candidates.argmax(axis=0)
        best = candidates.max(axis=0) + scores[t]
    path = [int(best.argmax())]
    for t in range(scores.shape[0] - 1, 0, -1):
        path.append(int(back[t, path[-1]]))
    return path[::-1]


# ---------------------------------------------------------------------------------------------------------
# Prediction
# ---------------------------------------------------------------------------------------------------------

def character_log_probs(model, tokenizer, sentences: Sequence[Sequence[str]], batch_size: int = 64,
                        max_length: int = 128) -> list[np.ndarray]:
    """Per-character log-probabilities (first token of each character); characters with no token get P(O) = 1."""
    device = next(model.parameters()).device
    model.eval()
    order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
    results: list[np.ndarray | None] = [None] * len(sentences)
    n_labels = model.config.num_labels
    with torch.no_grad():
        for begin in range(0, len(order), batch_size):
            rows = order[begin:begin + batch_size]
            batch = tokenizer([list(sentences[i]) for i in rows], is_split_into_words=True, truncation=True,
                              max_length=max_length, padding=True, return_tensors="pt")
            logits = model(input_ids=batch["input_ids"].to(device),
                           attention_mask=batch["attention_mask"].to(device)).logits
            log_probs = torch.log_softmax(logits.float(), dim=-1).cpu().numpy()
            for k, i in enumerate(rows):
                out = np.full((len(sentences[i]), n_labels), -np.inf)
                out[:, LABEL2ID["O"]] = 0.0
                seen = set()
                for position, word in enumerate(batch.word_ids(k)):
                    if word is not None and word not in seen:
                        seen.add(word)
                        out[word] = log_probs[k, position]
                results[i] = out
    return results  # type: ignore[return-value]


def decode(scores: Sequence[np.ndarray], constrained: bool = False) -> list[list[str]]:
    """Tags from per-character log-probabilities: argmax per character, or Viterbi under :func:`allowed_transitions`."""
    allowed, start = allowed_transitions(LABEL_NAMES)
    tags = []
    for sentence_scores in scores:
        ids = viterbi_decode(sentence_scores, allowed, start) if constrained else sentence_scores.argmax(-1).tolist()
        tags.append([ID2LABEL[int(i)] for i in ids])
    return tags


def predict_tags(model, tokenizer, sentences: Sequence[Sequence[str]], constrained: bool = False,
                 batch_size: int = 64, max_length: int = 128) -> list[list[str]]:
    """One predicted BIO tag per character of each sentence: argmax, or Viterbi under :func:`allowed_transitions`."""
    if isinstance(sentences, str):
        raise TypeError("give a list of sentences (each a string or a list of characters), not one string")
    if any(len(s) == 0 for s in sentences):
        raise ValueError("empty sentence: every sentence needs at least one character")
    return decode(character_log_probs(model, tokenizer, sentences, batch_size, max_length), constrained)


def predict_entities(texts: Sequence[str], model, tokenizer, constrained: bool = True,
                     max_length: int = 128) -> list[list[dict]]:
    """For each text, its entities: ``[{"entity": "江泽民", "type": "PER", "start": 0, "end": 3}, ...]``."""
    if isinstance(texts, str):
        raise TypeError("predict_entities expects a list of texts; wrap a single text in a list")
    for text in texts:
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"every text must be a non-empty string, got {text!r}")
    found = []
    for text, tags in zip(texts, predict_tags(model, tokenizer, [list(t) for t in texts], constrained,
                                              max_length=max_length)):
        found.append([{"entity": text[start:end], "type": entity, "start": start, "end": end}
                      for entity, start, end in bio_to_spans(tags)])
    return found


def evaluate_ner(model, tokenizer, dataset: Dataset, constrained: bool = False, batch_size: int = 64) -> dict:
    """:func:`entity_report` of the model's predictions on a split of :func:`helpers.ner.load_ner`."""
    return evaluate_ner_both(model, tokenizer, dataset, batch_size)["constrained" if constrained else "argmax"]


def evaluate_ner_both(model, tokenizer, dataset: Dataset, batch_size: int = 64) -> dict:
    """One forward pass, two decodes: ``{"argmax": report, "constrained": report, "predicted": {...}, ...}``.

    ``predicted`` holds both tag lists and ``gold`` the gold tags, for error analysis; ``scores`` the
    per-character log-probabilities (:func:`character_log_probs`).
    """
    sentences = dataset["tokens"]
    gold = [[ID2LABEL[i] for i in ids] for ids in dataset["ner_tags"]]
    for tokens, tags in zip(sentences, gold):
        validate_example(tokens, tags)
    scores = character_log_probs(model, tokenizer, sentences, batch_size, 128)
    predicted = {"argmax": decode(scores), "constrained": decode(scores, constrained=True)}
    return {"argmax": entity_report(gold, predicted["argmax"]),
            "constrained": entity_report(gold, predicted["constrained"]), "predicted": predicted, "gold": gold,
            "scores": scores}


# ---------------------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class NerSettings:
    """One fine-tuning recipe: the same for every arm a comparison trains."""

    learning_rate: float = 3e-4
    batch_size: int = 32
    epochs: float = 3.0
    min_steps: int = 150  # small training sets still get this many optimizer steps
    warmup_ratio: float = 0.1
    seed: int = 0

    def steps(self, n_examples: int) -> int:
        """Optimizer steps: ``epochs`` passes, but at least ``min_steps``."""
        if n_examples < 1:
            raise ValueError("no training examples")
        return max(self.min_steps, math.ceil(self.epochs * n_examples / self.batch_size))


def fine_tune_ner(model, train: Dataset, tokenizer, settings: NerSettings, profile, progress: bool = True):
    """Train ``model`` on an aligned split (:func:`tokenize_and_align`) with ``Trainer``; return the trainer.

    Fixed step budget (no evaluation during training: the caller scores the validation split at the end),
    linear decay after warmup, batches grouped by length to cut padding.
    """
    from transformers import DataCollatorForTokenClassification, Trainer
    from transformers.trainer_callback import PrinterCallback

    from .training import training_arguments

    steps = settings.steps(len(train))
    arguments = training_arguments(
        profile, output_dir=tempfile.mkdtemp(prefix="ner-"), max_steps=steps, learning_rate=settings.learning_rate,
        per_device_train_batch_size=settings.batch_size, warmup_steps=int(settings.warmup_ratio * steps),
        eval_strategy="no", save_strategy="no", logging_strategy="no", seed=settings.seed,
        train_sampling_strategy="group_by_length", disable_tqdm=not progress,
    )
    trainer = Trainer(model=model, args=arguments, train_dataset=train, processing_class=tokenizer,
                      data_collator=DataCollatorForTokenClassification(tokenizer))
    trainer.remove_callback(PrinterCallback)  # no log dicts printed: the caller reports what it measured
    trainer.train()
    return trainer


def ner_model(model_name: str = "course-bert", pretrained: bool = True, seed: int = 0):
    """``BertForTokenClassification`` with the 7 BIO labels: from ``model_name``'s weights, or the same architecture
    randomly initialised (``pretrained=False``). Seeded, so the new head starts the same in every arm."""
    from transformers import BertForTokenClassification

    from .models import load_pretrained
    from .profiles import set_seed

    set_seed(seed)
    model = load_pretrained(BertForTokenClassification, model_name, num_labels=len(LABEL_NAMES),
                            id2label=dict(ID2LABEL), label2id=dict(LABEL2ID))
    if not pretrained:
        set_seed(seed)
        model = BertForTokenClassification(model.config)
    return model


def ner_subset(dataset: Dataset, size: int | None, seed: int = 0) -> Dataset:
    """``size`` sentences drawn at random with ``seed`` (kept in corpus order); all of them when ``size`` is None."""
    if size is None or size >= len(dataset):
        return dataset
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive int or None, got {size!r}")
    indices = list(range(len(dataset)))
    random.Random(seed).shuffle(indices)
    return dataset.select(sorted(indices[:size]))


def bench_record(path: Path | str = BENCH_RECORD) -> dict | None:
    """What ``bench/ner.py`` recorded, or None where the repository's ``bench/`` folder is absent (pip install, Colab)."""
    path = Path(path)
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
