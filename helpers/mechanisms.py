"""The mechanisms of lesson 11, written out in a few lines each: the course's reference versions.

Lesson 11 asks the learner to write each of these, checks the answer against the library that implements it
(``helpers/exercises/lesson11.py``), and then uses these versions in the cells that follow, so that a learner's
unfinished exercise never stops the rest of the notebook. Each one is tested against its library in
``tests/test_mechanisms.py``.

* :func:`attention` – scaled dot-product attention with an optional causal mask (vs ``F.scaled_dot_product_attention``)
* :func:`embed_by_hand` – BERT's token + position + segment embeddings and LayerNorm (vs ``BertEmbeddings``)
* :func:`static_and_contextual` – a character's embedding-table row and its contextual hidden state
* :class:`LoRALinear` – a frozen ``nn.Linear`` plus a low-rank update, mergeable (vs ``peft``'s LoRA)
* :func:`token_stats` – tokens per text and [UNK] rate of a tokenizer
* :func:`prompt_ids` – a cloze prompt for zero-shot classification that survives truncation
* :func:`read_scalars` – the (step, value) pairs of one scalar in a TensorBoard log folder
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import torch
from torch import nn

CLOZE_TEMPLATE = "。总之，这个很[MASK]。"  # "... in short, this is very [MASK]." scored with 好 (good) vs 差 (bad)


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """``(softmax(q k^T / sqrt(d_k)) v, weights)``; with ``causal`` query i sees keys 0..i only."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if causal:
        allowed = torch.ones(scores.shape[-2:], dtype=torch.bool, device=q.device).tril()
        scores = scores.masked_fill(~allowed, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights


def embed_by_hand(embeddings: nn.Module, input_ids: torch.Tensor, token_type_ids: torch.Tensor) -> torch.Tensor:
    """LayerNorm(word + position + token-type embeddings) from a ``BertEmbeddings`` module (dropout left out)."""
    positions = torch.arange(input_ids.shape[1], device=input_ids.device)
    summed = (embeddings.word_embeddings(input_ids) + embeddings.position_embeddings(positions)[None]
              + embeddings.token_type_embeddings(token_type_ids))
    return embeddings.LayerNorm(summed)


def static_and_contextual(model: nn.Module, tokenizer, sentence: str, char: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The static vector (embedding-table row) and the contextual one (last hidden state) of ``char``'s first
    occurrence in ``sentence``, for a ``BertModel``."""
    encoded = tokenizer(sentence, return_tensors="pt").to(model.device)
    char_id = tokenizer.convert_tokens_to_ids(char)
    ids = encoded["input_ids"][0].tolist()
    if char_id not in ids:
        raise ValueError(f"{char!r} does not occur in {sentence!r} (as a token of this tokenizer)")
    with torch.no_grad():
        hidden = model(**encoded).last_hidden_state[0]
    return model.embeddings.word_embeddings.weight[char_id].detach(), hidden[ids.index(char_id)]


class LoRALinear(nn.Module):
    """A frozen ``nn.Linear`` plus a trainable low-rank update: ``base(x) + (alpha / r) * x A^T B^T``.

    ``lora_A`` (r x in) starts random as in peft, ``lora_B`` (out x r) at zero, so the layer starts equal to
    ``base``; :meth:`merge` folds the update into a plain ``nn.Linear`` for inference.
    """

    def __init__(self, base: nn.Linear, r: int, alpha: float):
        super().__init__()
        if not isinstance(base, nn.Linear):
            raise TypeError(f"LoRALinear wraps an nn.Linear, got {type(base).__name__}")
        if not isinstance(r, int) or r < 1:
            raise ValueError(f"the rank r must be a positive int, got {r!r}")
        self.base, self.r, self.scaling = base, r, alpha / r
        for parameter in base.parameters():
            parameter.requires_grad = False
        self.lora_A = nn.Parameter(torch.empty(r, base.in_features))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + (x @ self.lora_A.T @ self.lora_B.T) * self.scaling

    def merge(self) -> nn.Linear:
        """A new ``nn.Linear`` with weight ``W + (alpha / r) B A`` and the same bias."""
        merged = nn.Linear(self.base.in_features, self.base.out_features, bias=self.base.bias is not None,
                           device=self.base.weight.device, dtype=self.base.weight.dtype)
        with torch.no_grad():
            merged.weight.copy_(self.base.weight + self.scaling * self.lora_B @ self.lora_A)
            if self.base.bias is not None:
                merged.bias.copy_(self.base.bias)
        return merged


def token_stats(tokenizer, texts: Sequence[str]) -> dict[str, float]:
    """Mean tokens per text (special tokens not counted) and the share of those tokens that are [UNK]."""
    texts = list(texts)
    if not texts:
        raise ValueError("token_stats needs at least one text")
    ids = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in texts]
    n_tokens = sum(len(row) for row in ids)
    unknown = sum(token == tokenizer.unk_token_id for row in ids for token in row)
    return {"tokens_per_text": n_tokens / len(texts), "unk_rate": unknown / max(n_tokens, 1)}


def prompt_ids(review: str, tokenizer, max_length: int, template: str = CLOZE_TEMPLATE) -> list[int]:
    """``[CLS] review template [SEP]`` as ids, at most ``max_length``: the review is cut, never the template."""
    template_ids = tokenizer(template, add_special_tokens=False)["input_ids"]
    room = max_length - 2 - len(template_ids)
    if room < 0:
        raise ValueError(f"max_length={max_length} cannot hold the template ({len(template_ids)} tokens) and "
                         "[CLS]/[SEP]; raise max_length")
    body = tokenizer(review, add_special_tokens=False)["input_ids"][:room]
    return [tokenizer.cls_token_id] + body + template_ids + [tokenizer.sep_token_id]


def read_scalars(logdir: str | Path, tag: str) -> tuple[list[int], list[float]]:
    """``(steps, values)`` of one scalar tag in a TensorBoard log folder (read with tensorboard's EventAccumulator)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(logdir)).Reload()
    if tag not in accumulator.Tags()["scalars"]:
        raise KeyError(f"no scalar {tag!r} in {logdir}; it has {accumulator.Tags()['scalars']}")
    events = accumulator.Scalars(tag)
    return [event.step for event in events], [event.value for event in events]
