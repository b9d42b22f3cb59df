"""Pretraining building blocks shared by lesson 01 and the checkpoint script (``python -m helpers.checkpoints``).

* :func:`pack_blocks` turns documents into fixed-length blocks of token ids (no padding is wasted);
* :func:`mask_tokens` is the BERT masking rule: select 15% of the non-special tokens, replace 80% of the
  selected with ``[MASK]``, 10% with a random token, keep 10%; labels are ``-100`` where not selected;
* :func:`mlm_loss` computes the masked-LM loss at the selected positions only (sparse prediction): the
  output layer, a ``hidden x vocab`` matrix product, runs on ~15% of the positions instead of all;
* :func:`causal_lm_loss` is GPT's next-token loss (labels shifted by one inside the model);
* :func:`pretrain` is one small training loop for both, with warmup + cosine decay and a time limit;
* :func:`evaluate_mlm` / :func:`evaluate_causal_lm` give held-out masked-character accuracy and perplexity.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm
from transformers import BertForMaskedLM, GPT2LMHeadModel, PreTrainedTokenizerBase

from .training import MixedPrecision, adamw_parameter_groups

IGNORE_INDEX = -100  # label value that cross-entropy skips (PyTorch's and transformers' convention)


def pack_blocks(
    texts: Iterable[str], tokenizer: PreTrainedTokenizerBase, block_size: int, wrap_cls_sep: bool
) -> torch.Tensor:
    """Concatenate documents (each ended by ``[SEP]``) and cut the stream into ``block_size`` blocks.

    With ``wrap_cls_sep`` (BERT) every block is ``[CLS] + block_size-2 tokens + [SEP]``; without (GPT)
    blocks are plain windows of the stream. The incomplete tail is dropped. Returns ``(n, block_size)``.
    """
    if not isinstance(block_size, int) or block_size < 4:
        raise ValueError(f"block_size must be an int >= 4, got {block_size!r}")
    texts = [] if isinstance(texts, str) else list(texts)
    if not texts or not all(isinstance(t, str) for t in texts):
        raise ValueError("pack_blocks needs a non-empty list of strings")
    encoded = tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]
    stream: list[int] = []
    for ids in encoded:
        if ids:
            stream.extend(ids)
            stream.append(tokenizer.sep_token_id)
    body = block_size - 2 if wrap_cls_sep else block_size
    n_blocks = len(stream) // body
    if n_blocks == 0:
        raise ValueError(f"the texts hold {len(stream)} tokens, fewer than one block of {body}")
    blocks = torch.tensor(stream[: n_blocks * body], dtype=torch.long).view(n_blocks, body)
    if wrap_cls_sep:
        cls = torch.full((n_blocks, 1), tokenizer.cls_token_id, dtype=torch.long)
        sep = torch.full((n_blocks, 1), tokenizer.sep_token_id, dtype=torch.long)
        blocks = torch.cat([cls, blocks, sep], dim=1)
    return blocks


def mask_tokens(
    input_ids: torch.Tensor,
    special_ids: Iterable[int],
    mask_id: int,
    vocab_size: int,
    mlm_probability: float = 0.15,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masking rule. Returns ``(masked_inputs, labels)``; the input tensor is not modified.

    Each non-special token is selected with probability ``mlm_probability``. Of the selected: 80% become
    ``[MASK]``, 10% a random token, 10% stay as they are (so the model cannot assume that an unmasked token
    is always correct, and sees real tokens at prediction positions, as it will when fine-tuned).
    Labels hold the original id at selected positions and ``-100`` elsewhere.
    """
    if not 0.0 < mlm_probability < 1.0:
        raise ValueError(f"mlm_probability must be in (0, 1), got {mlm_probability}")
    inputs = input_ids.clone()
    special = torch.zeros_like(inputs, dtype=torch.bool)
    for token_id in special_ids:
        special |= inputs == token_id
    probabilities = torch.full(inputs.shape, mlm_probability).masked_fill(special, 0.0)
    selected = torch.bernoulli(probabilities, generator=generator).bool()
    labels = torch.where(selected, inputs, torch.full_like(inputs, IGNORE_INDEX))
    to_mask = torch.bernoulli(torch.full(inputs.shape, 0.8), generator=generator).bool() & selected
    to_random = torch.bernoulli(torch.full(inputs.shape, 0.5), generator=generator).bool() & selected & ~to_mask
    inputs[to_mask] = mask_id
    random_ids = torch.randint(vocab_size, inputs.shape, generator=generator)
    inputs[to_random] = random_ids[to_random]
    return inputs, labels


def special_token_ids(tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """Ids that masking never selects: all special tokens ([PAD] [UNK] [CLS] [SEP] [MASK]), as in transformers."""
    return sorted(set(tokenizer.all_special_ids))


def mlm_loss(
    model: BertForMaskedLM, input_ids: torch.Tensor, labels: torch.Tensor, sparse: bool = True
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Masked-LM cross-entropy; returns ``(loss, logits_at_selected, labels_at_selected)``.

    ``sparse=True`` runs the prediction head on the selected positions only. The loss is identical to
    the dense version (``model(input_ids, labels=labels).loss``), the work is not.
    """
    selected = labels != IGNORE_INDEX
    if sparse:
        hidden = model.bert(input_ids=input_ids).last_hidden_state
        logits = model.cls(hidden[selected])
    else:
        logits = model(input_ids=input_ids).logits[selected]
    targets = labels[selected]
    return F.cross_entropy(logits.float(), targets), logits, targets


def causal_lm_loss(model: GPT2LMHeadModel, input_ids: torch.Tensor) -> torch.Tensor:
    """Next-token cross-entropy: ``labels=input_ids``, the model shifts them by one position internally."""
    return model(input_ids=input_ids, labels=input_ids).loss


@dataclass
class PretrainSettings:
    """What one pretraining run does.

    The learning-rate schedule runs over ``steps``. With ``max_minutes`` set, the run is time-boxed:
    the schedule's progress is the larger of the step fraction and the time fraction, so warmup and the
    full cosine decay always fit the time budget, however fast the machine is (not bit-reproducible).
    """

    steps: int
    batch_size: int = 64
    learning_rate: float = 1e-3
    warmup_fraction: float = 0.05
    min_lr_fraction: float = 0.1
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    mlm_probability: float = 0.15
    sparse_mlm: bool = True
    seed: int = 0
    max_minutes: float | None = None
    log_every: int = 10
    adam_betas: tuple[float, float] = (0.9, 0.98)
    mixed_precision: str | None = None  # a profile's "fp16"/"bf16" (used on CUDA only)


@dataclass
class PretrainResult:
    """The loss curve and counters of a run."""

    steps: int = 0
    tokens: int = 0
    seconds: float = 0.0
    history: list[dict] = field(default_factory=list)  # {"step", "loss", "lr", "tokens", "seconds"}

    @property
    def final_loss(self) -> float:
        recent = [row["loss"] for row in self.history[-10:]]
        return sum(recent) / len(recent) if recent else float("nan")


def lr_at(step: int, settings: PretrainSettings, time_fraction: float = 0.0) -> float:
    """Linear warmup to the peak, then cosine decay to ``min_lr_fraction`` of it.

    Progress is the larger of the step fraction and ``time_fraction`` (time-boxed runs), in the warmup as well
    as in the decay: with a time box and a generous ``steps``, the schedule still warms up and decays in time.
    """
    warmup_fraction = settings.warmup_fraction
    progress = max((step + 1) / max(1, settings.steps), time_fraction)
    if progress < warmup_fraction:
        return settings.learning_rate * progress / warmup_fraction
    decay = min(1.0, (progress - warmup_fraction) / max(1e-9, 1 - warmup_fraction))
    floor = settings.min_lr_fraction
    return settings.learning_rate * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * decay)))


def pretrain(
    model: BertForMaskedLM | GPT2LMHeadModel,
    blocks: torch.Tensor,
    tokenizer: PreTrainedTokenizerBase,
    settings: PretrainSettings,
    on_log: Callable[[dict], None] | None = None,
    progress: bool = True,
    objective: torch.nn.Module | None = None,
) -> PretrainResult:
    """Train ``model`` on random batches of ``blocks`` for ``settings.steps`` steps (or ``max_minutes``).

    A BERT model gets masked-LM batches (fresh masks every step), a GPT model next-token batches. ``objective``
    replaces the loss: a module called with a batch of blocks (and the random generator) that returns
    ``(loss, figures)``, whose own parameters train too (ELECTRA's generator and head,
    :mod:`helpers.replaced_token_detection`). ``on_log`` is called with each logged row, e.g. to print samples.
    """
    is_mlm = isinstance(model, BertForMaskedLM)
    if not is_mlm and not isinstance(model, GPT2LMHeadModel):
        raise TypeError(f"pretrain expects BertForMaskedLM or GPT2LMHeadModel, got {type(model).__name__}")
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(settings.seed)
    specials = special_token_ids(tokenizer)
    trained = [*model.parameters(), *(objective.parameters() if objective is not None else [])]
    optimizer = torch.optim.AdamW(adamw_parameter_groups(trained, settings.weight_decay), lr=settings.learning_rate,
                                  betas=settings.adam_betas)
    if objective is not None:
        objective.to(device).train()
    precision = MixedPrecision(settings.mixed_precision, device)
    result = PretrainResult()
    model.train()
    start = time.perf_counter()
    bar = tqdm(range(settings.steps), desc="pretraining", disable=not progress, mininterval=2)
    running, extra = [], {}
    budget = 60 * settings.max_minutes if settings.max_minutes else None
    for step in bar:
        time_fraction = (time.perf_counter() - start) / budget if budget else 0.0
        if time_fraction >= 1.0:
            break
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, settings, time_fraction)
        index = torch.randint(len(blocks), (settings.batch_size,), generator=generator)
        batch = blocks[index]
        with precision.autocast():
            if objective is not None:
                loss, figures = objective(batch, generator)
                for key, value in figures.items():
                    extra.setdefault(key, []).append(value)
            elif is_mlm:
                inputs, labels = mask_tokens(batch, specials, tokenizer.mask_token_id, len(tokenizer),
                                             settings.mlm_probability, generator)
                loss = mlm_loss(model, inputs.to(device), labels.to(device), sparse=settings.sparse_mlm)[0]
            else:
                loss = causal_lm_loss(model, batch.to(device))
        precision.step(loss, optimizer, trained, settings.max_grad_norm)
        result.steps = step + 1
        result.tokens += batch.numel()
        running.append(loss.item())
        if result.steps % settings.log_every == 0 or result.steps == settings.steps:
            row = {"step": result.steps, "loss": sum(running) / len(running), "lr": optimizer.param_groups[0]["lr"],
                   "tokens": result.tokens, "seconds": time.perf_counter() - start,
                   **{key: sum(values) / len(values) for key, values in extra.items()}}
            running, extra = [], {}
            result.history.append(row)
            bar.set_postfix(loss=f"{row['loss']:.3f}")
            if on_log is not None:
                on_log(row)
    result.seconds = time.perf_counter() - start
    model.eval()
    return result


@torch.no_grad()
def evaluate_mlm(
    model: BertForMaskedLM, blocks: torch.Tensor, tokenizer: PreTrainedTokenizerBase,
    mlm_probability: float = 0.15, batch_size: int = 64, seed: int = 1234,
) -> dict[str, float]:
    """Held-out masked-LM loss and masked-character accuracy, with a fixed masking seed."""
    model.eval()
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    specials = special_token_ids(tokenizer)
    total_loss = correct = count = 0.0
    for start in range(0, len(blocks), batch_size):
        batch = blocks[start : start + batch_size]
        inputs, labels = mask_tokens(batch, specials, tokenizer.mask_token_id, len(tokenizer), mlm_probability, generator)
        loss, logits, targets = mlm_loss(model, inputs.to(device), labels.to(device), sparse=True)
        total_loss += loss.item() * len(targets)
        correct += (logits.argmax(-1) == targets).sum().item()
        count += len(targets)
    return {"loss": total_loss / count, "masked_accuracy": correct / count, "predictions": int(count)}


@torch.no_grad()
def evaluate_causal_lm(model: GPT2LMHeadModel, blocks: torch.Tensor, batch_size: int = 32) -> dict[str, float]:
    """Held-out next-token loss (nats per token) and perplexity ``exp(loss)``."""
    model.eval()
    device = next(model.parameters()).device
    total = count = 0.0
    for start in range(0, len(blocks), batch_size):
        batch = blocks[start : start + batch_size].to(device)
        n_predicted = batch[:, 1:].numel()
        total += causal_lm_loss(model, batch).item() * n_predicted
        count += n_predicted
    loss = total / count
    return {"loss": loss, "perplexity": math.exp(loss), "tokens": int(count)}
