"""A fine-tuning comparison a reader can trust: the protocol behind lesson 03's curve and ``bench/label_efficiency.py``.

Comparing a pretrained model with one trained from scratch (or two fine-tuning methods) is easy to get wrong:
give one arm a learning rate that suits it and the other not, stop one too early, pick the epoch on the test
split, or trust one seed where the difference is within noise. This protocol fixes all of it:

* every arm gets the same learning-rate grid (PEFT arms get their own, about 10x higher, grid) and the same
  schedule: linear warmup over 10% of the steps, then linear decay;
* every run takes at least ``min_steps`` optimizer steps, however few the labels (epochs = whatever that takes):
  with 100 labels and batch 32 one epoch is 4 steps, far too few to fine-tune anything;
* validation is scored ``evaluations`` times per run; the best step *and* the learning rate are chosen on
  validation only; the test split is scored once per run, at the chosen step, and never used to choose;
* each seed draws its own balanced set of labels *and* initialises its own head: the spread over seeds shows
  how much of a difference is noise (the standard error of accuracy on the 1,736 test reviews is ~1 point).

:func:`run_grid` returns one row per (labels, arm, seed, learning rate); :func:`select_on_validation` keeps, per
(labels, arm, seed), the learning rate with the best validation accuracy; :func:`summarise` gives mean ± sd.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterable

import numpy as np
import pandas as pd
import torch
from datasets import Dataset
from tqdm.auto import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from .baselines import tfidf_accuracy
from .classification import FineTuneSettings, balanced_subset, evaluate_classifier, tokenize_dataset, train_classifier
from .profiles import set_seed

FULL_GRID = (1e-4, 3e-4, 1e-3)  # learning rates every full fine-tuning arm is tried with
PEFT_GRID = (1e-3, 3e-3, 1e-2)  # adapters train far fewer weights from zero: they need about 10x higher rates


@dataclass(frozen=True)
class Protocol:
    """How every run of a comparison is trained and chosen."""

    seeds: tuple[int, ...] = (0, 1, 2)
    min_steps: int = 300  # fewest optimizer steps per run
    min_epochs: int = 1
    evaluations: int = 6  # validation checks per run, evenly spaced; the best is kept
    batch_size: int = 32
    eval_batch_size: int = 128
    max_length: int = 128
    warmup_fraction: float = 0.1
    weight_decay: float = 0.01
    group_by_length: bool = True  # less padding per batch: same data, several times faster
    mixed_precision: str | None = None

    def epochs_for(self, n_examples: int) -> int:
        """Epochs that give at least ``min_steps`` optimizer steps (and at least ``min_epochs``)."""
        if n_examples < 1:
            raise ValueError(f"need at least one training example, got {n_examples}")
        steps_per_epoch = math.ceil(n_examples / self.batch_size)
        return max(self.min_epochs, math.ceil(self.min_steps / steps_per_epoch))

    def settings(self, n_examples: int, learning_rate: float, seed: int) -> FineTuneSettings:
        """The :class:`FineTuneSettings` of one run."""
        epochs = self.epochs_for(n_examples)
        total_steps = epochs * math.ceil(n_examples / self.batch_size)
        return FineTuneSettings(
            epochs=epochs, batch_size=self.batch_size, eval_batch_size=self.eval_batch_size,
            learning_rate=learning_rate, weight_decay=self.weight_decay, warmup_fraction=self.warmup_fraction,
            seed=seed, eval_every_steps=max(1, math.ceil(total_steps / self.evaluations)),
            group_by_length=self.group_by_length, mixed_precision=self.mixed_precision)


@dataclass
class Arm:
    """One side of a comparison: how to build its model for a seed, and the learning rates it may use.

    ``make_model(seed)`` returns a fresh ``BertForSequenceClassification`` (or a PEFT-wrapped one) on the CPU;
    ``prepare`` (optional) returns ``train_classifier`` keyword arguments for that model, e.g. layer-wise
    ``parameter_groups`` or AdaLoRA's ``on_step`` hook.
    """

    name: str
    make_model: Callable[[int], PreTrainedModel]
    learning_rates: tuple[float, ...] = FULL_GRID
    prepare: Callable[[PreTrainedModel, int], dict] | None = None


@dataclass
class GridData:
    """Tokenised validation and test splits, and the raw training split labels are drawn from."""

    train_raw: Dataset
    validation: Dataset
    test: Dataset
    test_raw: Dataset
    tokenizer: PreTrainedTokenizerBase
    extra: dict = field(default_factory=dict)


def prepare_data(reviews, tokenizer: PreTrainedTokenizerBase, protocol: Protocol,
                 validation_examples: int | None = None, test_examples: int | None = None) -> GridData:
    """Tokenise the validation and test splits once (optionally only their first rows)."""
    from .data import head

    validation_raw = head(reviews["validation"], validation_examples)
    test_raw = head(reviews["test"], test_examples)
    return GridData(train_raw=reviews["train"], validation=tokenize_dataset(validation_raw, tokenizer, protocol.max_length),
                    test=tokenize_dataset(test_raw, tokenizer, protocol.max_length), test_raw=test_raw,
                    tokenizer=tokenizer)


def label_draw(train_raw: Dataset, n_labels: int | None, seed: int) -> Dataset:
    """The balanced training subset of a seed (``None`` = every training label, the same for every seed)."""
    return train_raw if n_labels is None or n_labels >= len(train_raw) else balanced_subset(train_raw, n_labels, seed)


def finetune_run(arm: Arm, train: Dataset, data: GridData, protocol: Protocol, learning_rate: float, seed: int,
                 device: torch.device | str = "cpu") -> dict:
    """Fine-tune one model; return validation accuracy at the chosen step and test accuracy there (scored once)."""
    set_seed(seed)
    model = arm.make_model(seed).to(device)
    extra = arm.prepare(model, seed) if arm.prepare else {}
    settings = protocol.settings(len(train), learning_rate, seed)
    result = train_classifier(model, train, data.validation, data.tokenizer, settings, progress=False, **extra)
    test = evaluate_classifier(model, data.test, data.tokenizer, protocol.eval_batch_size)
    return {"validation_accuracy": result.best_validation_accuracy, "test_accuracy": test["accuracy"],
            "best_step": result.best_step, "steps": settings.epochs * math.ceil(len(train) / protocol.batch_size),
            "epochs": settings.epochs, "seconds": round(result.seconds, 1)}


def run_grid(arms: Iterable[Arm], label_sizes: Iterable[int | None], data: GridData, protocol: Protocol,
             device: torch.device | str = "cpu", done: list[dict] | None = None,
             on_row: Callable[[dict], None] | None = None, progress: bool = True) -> list[dict]:
    """Every (labels, arm, seed, learning rate) run, plus TF-IDF on each label draw. Returns all rows.

    ``done`` holds rows of an earlier, interrupted call: runs already in it are skipped (a long grid resumes).
    ``on_row`` is called with each new row (e.g. to save it at once).
    """
    arms, label_sizes = list(arms), list(label_sizes)
    rows = list(done or [])
    have = {(r["labels"], r["arm"], r["seed"], r.get("learning_rate")) for r in rows}
    jobs = [(n, arm, seed, lr) for n in label_sizes for seed in protocol.seeds
            for arm in [None, *arms] for lr in ([None] if arm is None else arm.learning_rates)]
    bar = tqdm(jobs, desc="fine-tuning runs", disable=not progress)
    for n_labels, arm, seed, lr in bar:
        train_raw = label_draw(data.train_raw, n_labels, seed)
        key = (len(train_raw), "TF-IDF + logistic regression" if arm is None else arm.name, seed, lr)
        if key in have:
            continue
        bar.set_postfix_str(f"{key[1]} n={key[0]} seed={seed} lr={lr}")
        if arm is None:
            start = time.perf_counter()
            row = {"test_accuracy": tfidf_accuracy(train_raw, data.test_raw), "validation_accuracy": None,
                   "seconds": round(time.perf_counter() - start, 1)}
        else:
            train = tokenize_dataset(train_raw, data.tokenizer, protocol.max_length)
            row = finetune_run(arm, train, data, protocol, lr, seed, device)
        row = {"labels": key[0], "arm": key[1], "seed": seed, "learning_rate": lr, **row}
        rows.append(row)
        have.add(key)
        if on_row is not None:
            on_row(row)
    return rows


def select_on_validation(rows: list[dict]) -> pd.DataFrame:
    """Per (labels, arm, seed), the run whose learning rate scored best on validation (TF-IDF has only one)."""
    frame = pd.DataFrame(rows)
    if frame.empty:
        raise ValueError("no runs to select from")
    ranked = frame.assign(_score=frame["validation_accuracy"].fillna(-1.0))
    best = ranked.sort_values(["_score", "learning_rate"], ascending=[False, True], na_position="last")
    return best.groupby(["labels", "arm", "seed"], as_index=False).head(1).drop(columns="_score").sort_values(
        ["labels", "arm", "seed"]).reset_index(drop=True)


def summarise(selected: pd.DataFrame) -> pd.DataFrame:
    """Mean, standard deviation and count of test accuracy over seeds, per (labels, arm)."""
    return (selected.groupby(["labels", "arm"])["test_accuracy"].agg(mean="mean", sd="std", seeds="count")
            .reset_index())


def protocol_record(protocol: Protocol) -> dict:
    """The protocol's settings as a plain dict, for results files."""
    return {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(protocol).items()}


def standard_error(accuracy: float, n: int) -> float:
    """Binomial standard error of an accuracy measured on ``n`` examples: ``sqrt(p (1 - p) / n)``."""
    if n < 1 or not 0.0 <= accuracy <= 1.0:
        raise ValueError(f"need n >= 1 and an accuracy in [0, 1], got n={n}, accuracy={accuracy}")
    return float(np.sqrt(accuracy * (1 - accuracy) / n))
