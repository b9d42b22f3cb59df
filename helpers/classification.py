"""Sentence classification with a BERT encoder: tokenising, dynamic padding, a plain training loop, metrics.

The loop is the source articles' loop done right: ``model.train()`` / ``model.eval()`` switched, gradients zeroed every
step, batches padded only to their longest member (a ``DataCollatorWithPadding``), gradient clipping, AdamW
with warmup and linear decay, validation after every epoch, and the best epoch's weights kept. The test split
is never touched here: call :func:`evaluate_classifier` on it once, at the end.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from datasets import Dataset
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from transformers import (BertForSequenceClassification, DataCollatorWithPadding, PreTrainedModel,
                          PreTrainedTokenizerBase, get_linear_schedule_with_warmup)
from transformers.modeling_outputs import SequenceClassifierOutput
from transformers.trainer_pt_utils import LengthGroupedSampler

from .regularization import FGM
from .training import MixedPrecision, adamw_parameter_groups


class MeanPoolingBertForSequenceClassification(BertForSequenceClassification):
    """``BertForSequenceClassification`` that classifies the mean of the token vectors instead of the pooled [CLS].

    Why: the course BERT was pretrained with masked LM only (no next-sentence task), so neither its [CLS] vector nor
    its pooler layer ever learned to summarise a sentence: the pooler is freshly initialised at fine-tuning time. The
    mean over the real (unpadded) tokens uses what pretraining did learn, the token vectors; the Cramming recipe
    (Geiping & Goldstein 2023) classifies this way. Loads from any BERT checkpoint like its parent class.
    """

    def __init__(self, config):
        super().__init__(config)
        self.bert.pooler = None  # not used: no weights that never train

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, labels=None, **kwargs):
        hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                           **kwargs).last_hidden_state
        if attention_mask is None:
            attention_mask = torch.ones(hidden.shape[:2], dtype=hidden.dtype, device=hidden.device)
        weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
        logits = self.classifier(self.dropout(pooled))
        loss = F.cross_entropy(logits.float(), labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)


def tokenize_dataset(dataset: Dataset, tokenizer: PreTrainedTokenizerBase, max_length: int) -> Dataset:
    """Token ids for every review, truncated to ``max_length``; no padding yet (the collator pads per batch)."""
    if "text" not in dataset.column_names:
        raise ValueError(f"expected a 'text' column, found {dataset.column_names}")

    def encode(batch: dict) -> dict:
        return tokenizer(batch["text"], truncation=True, max_length=max_length)

    return dataset.map(encode, batched=True, remove_columns=["text"], desc="tokenising")


def balanced_subset(dataset: Dataset, n: int, seed: int = 0) -> Dataset:
    """``n`` examples with (as nearly as possible) equal numbers per label, drawn with a fixed seed."""
    if not isinstance(n, int) or n < 2:
        raise ValueError(f"n must be an int >= 2, got {n!r}")
    if n >= len(dataset):
        return dataset
    labels = np.array(dataset["label"])
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    per_class = [n // len(classes) + (1 if i < n % len(classes) else 0) for i in range(len(classes))]
    chosen = np.concatenate([rng.choice(np.flatnonzero(labels == c), k, replace=False)
                             for c, k in zip(classes, per_class)])
    return dataset.select(sorted(chosen.tolist()))


@dataclass
class FineTuneSettings:
    """Hyper-parameters of one fine-tuning run."""

    epochs: int = 3
    batch_size: int = 32
    eval_batch_size: int = 128
    learning_rate: float = 5e-5
    weight_decay: float = 0.01
    warmup_fraction: float = 0.06
    max_grad_norm: float = 1.0
    seed: int = 0
    label_smoothing: float = 0.0  # spread this much probability mass over the other labels
    adversarial_epsilon: float = 0.0  # > 0: FGM adversarial training on the word embeddings
    patience: int | None = None  # early stopping: stop after this many epochs without a better validation score
    select_on: str = "accuracy"  # "accuracy" (higher is better) or "loss" (lower is better)
    track_train: bool = False  # also measure loss and accuracy on the training set after every epoch
    mixed_precision: str | None = None  # a profile's "fp16"/"bf16" (used on CUDA only)
    eval_every_steps: int | None = None  # validate every this many optimizer steps instead of every epoch
    group_by_length: bool = False  # batch reviews of similar length together: far less padding, same data


@dataclass
class FineTuneResult:
    """Per-epoch history and the best validation epoch (whose weights the model holds afterwards)."""

    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    best_step: int = 0
    best_validation_accuracy: float = 0.0
    seconds: float = 0.0


def _loader(dataset: Dataset, collator, batch_size: int, shuffle: bool, seed: int,
            group_by_length: bool = False) -> DataLoader:
    columns = [c for c in ("input_ids", "attention_mask", "token_type_ids", "label") if c in dataset.column_names]
    generator = torch.Generator().manual_seed(seed)
    data = dataset.with_format("torch", columns=columns)
    if group_by_length:  # transformers' sampler: random mega-batches, sorted by length inside, longest batch first
        sampler = LengthGroupedSampler(batch_size, lengths=[len(ids) for ids in dataset["input_ids"]],
                                       generator=generator)
        return DataLoader(data, batch_size=batch_size, sampler=sampler, collate_fn=collator)
    return DataLoader(data, batch_size=batch_size, shuffle=shuffle, collate_fn=collator, generator=generator)


@torch.no_grad()
def predict_logits(model: PreTrainedModel, dataset: Dataset, tokenizer: PreTrainedTokenizerBase,
                   batch_size: int = 128) -> np.ndarray:
    """Logits for every row of a tokenised dataset, in order.

    Rows are batched in order of length (and put back in their order afterwards), so each batch pads to a
    similar length: the same logits as batching in order, computed several times faster on short reviews.
    """
    model.eval()
    device = next(model.parameters()).device
    collator = DataCollatorWithPadding(tokenizer)
    order = np.argsort([len(ids) for ids in dataset["input_ids"]], kind="stable")
    outputs = []
    for batch in _loader(dataset.select(order), collator, batch_size, shuffle=False, seed=0):
        batch.pop("labels", None)
        outputs.append(model(**{k: v.to(device) for k, v in batch.items()}).logits.float().cpu().numpy())
    logits = np.empty_like(np.concatenate(outputs))
    logits[order] = np.concatenate(outputs)
    return logits


def classification_metrics(labels, predictions) -> dict[str, float]:
    """Accuracy, and precision / recall / F1 of the positive class (label 1), from scikit-learn."""
    return {
        "accuracy": float(accuracy_score(labels, predictions)),
        "precision": float(precision_score(labels, predictions, zero_division=0)),
        "recall": float(recall_score(labels, predictions, zero_division=0)),
        "f1": float(f1_score(labels, predictions, zero_division=0)),
    }


def evaluate_classifier(model: PreTrainedModel, dataset: Dataset, tokenizer: PreTrainedTokenizerBase,
                        batch_size: int = 128) -> dict[str, float]:
    """Metrics of ``model`` on a tokenised, labelled dataset, plus its mean cross-entropy ``loss``."""
    logits = predict_logits(model, dataset, tokenizer, batch_size)
    labels = np.array(dataset["label"])
    loss = float(F.cross_entropy(torch.from_numpy(logits), torch.from_numpy(labels)))
    return {**classification_metrics(labels, logits.argmax(-1)), "loss": loss}


def train_classifier(
    model: PreTrainedModel,
    train: Dataset,
    validation: Dataset,
    tokenizer: PreTrainedTokenizerBase,
    settings: FineTuneSettings,
    progress: bool = True,
    parameter_groups: list[dict] | None = None,
    on_step: Callable[[int], None] | None = None,
) -> FineTuneResult:
    """Fine-tune ``model`` on ``train``; validate each epoch (or every ``eval_every_steps``); keep the best weights.

    ``parameter_groups`` replaces the default AdamW groups (e.g. per-layer learning rates); ``on_step`` is
    called with the global step after each optimizer step (AdaLoRA's rank allocation needs it). With
    ``patience``, training stops after that many validations without a better score (early stopping).
    """
    torch.manual_seed(settings.seed)
    device = next(model.parameters()).device
    collator = DataCollatorWithPadding(tokenizer)
    loader = _loader(train, collator, settings.batch_size, shuffle=True, seed=settings.seed,
                     group_by_length=settings.group_by_length)
    groups = parameter_groups or adamw_parameter_groups(model, settings.weight_decay)
    optimizer = torch.optim.AdamW(groups, lr=settings.learning_rate)
    precision = MixedPrecision(settings.mixed_precision, device)
    total_steps = settings.epochs * len(loader)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(settings.warmup_fraction * total_steps), total_steps)
    result = FineTuneResult()
    if settings.select_on not in ("accuracy", "loss"):
        raise ValueError(f"select_on must be 'accuracy' or 'loss', got {settings.select_on!r}")
    best_state, best_score = None, float("-inf")
    trainable = [p for p in model.parameters() if p.requires_grad]
    fgm = FGM(model, settings.adversarial_epsilon) if settings.adversarial_epsilon > 0 else None
    start = time.perf_counter()
    step, evaluations, losses = 0, 0, []

    def validate(epoch: int) -> bool:
        """Score the model on validation, keep it if best; return True when early stopping says stop."""
        nonlocal best_state, best_score, evaluations, losses
        metrics = evaluate_classifier(model, validation, tokenizer, settings.eval_batch_size)
        evaluations += 1
        row = {"epoch": epoch, "step": step, "train_loss": float(np.mean(losses)) if losses else float("nan"),
               "validation_loss": metrics["loss"], "validation_accuracy": metrics["accuracy"],
               "validation_f1": metrics["f1"]}
        losses = []
        if settings.track_train:
            on_train = evaluate_classifier(model, train, tokenizer, settings.eval_batch_size)
            row.update(train_loss=on_train["loss"], train_accuracy=on_train["accuracy"])
        row["seconds"] = time.perf_counter() - start
        result.history.append(row)
        model.train()
        score = metrics["accuracy"] if settings.select_on == "accuracy" else -metrics["loss"]
        if best_state is None or score > best_score:
            best_score, result.best_epoch, result.best_step = score, epoch, step
            result.best_validation_accuracy = metrics["accuracy"]
            best_state = copy.deepcopy(model.state_dict())
            best_evaluation[0] = evaluations
            return False
        return settings.patience is not None and evaluations - best_evaluation[0] >= settings.patience

    best_evaluation = [0]
    stop = False
    for epoch in range(1, settings.epochs + 1):
        model.train()
        for batch in tqdm(loader, desc=f"epoch {epoch}", disable=not progress, leave=False):
            batch = {k: v.to(device) for k, v in batch.items()}
            labels = batch.pop("labels")
            with precision.autocast():
                loss = F.cross_entropy(model(**batch).logits.float(), labels, label_smoothing=settings.label_smoothing)
            precision.backward(loss)
            if fgm is not None:  # a second loss on adversarially perturbed embeddings, then undo the perturbation
                fgm.attack()
                with precision.autocast():
                    adversarial = F.cross_entropy(model(**batch).logits.float(), labels,
                                                  label_smoothing=settings.label_smoothing)
                precision.backward(adversarial)
                fgm.restore()
            precision.step(loss, optimizer, trainable, settings.max_grad_norm, backward=False, zero_grad=False)
            scheduler.step()
            step += 1
            losses.append(loss.item())
            if on_step is not None:  # after the step, before the gradients are cleared (AdaLoRA reads them)
                on_step(scheduler.last_epoch)
            optimizer.zero_grad(set_to_none=True)
            every = settings.eval_every_steps
            if every and (step % every == 0 or step == total_steps):
                if stop := validate(epoch):
                    break
        if stop:
            break
        if not settings.eval_every_steps and validate(epoch):
            break
    model.load_state_dict(best_state)
    model.eval()
    result.seconds = time.perf_counter() - start
    return result


@torch.no_grad()
def predict_texts(texts: list[str], model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
                  max_length: int = 128, label_names: tuple[str, ...] = ("negative", "positive")) -> list[dict]:
    """Predicted label and its probability for each raw text (the model is put in eval mode)."""
    if isinstance(texts, str):
        raise TypeError("predict_texts expects a list of texts; wrap a single review as [text]")
    if not texts:
        return []
    if not all(isinstance(t, str) for t in texts):
        raise TypeError("every item to predict must be a str")
    model.eval()
    device = next(model.parameters()).device
    batch = tokenizer(list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    probabilities = torch.softmax(model(**{k: v.to(device) for k, v in batch.items()}).logits.float(), dim=-1).cpu()
    best = probabilities.argmax(dim=-1)
    return [{"label": label_names[int(i)], "probability": float(p[i])} for i, p in zip(best, probabilities)]
