"""Sentiment-controlled generation (可控生成) with control tokens, measured fairly (lesson 06).

A control token (控制符) in front of every training review, ``[POS]`` or ``[NEG]``, turns a language model into a
conditional one: p(review | sentiment). The pieces, each small and tested:

* :func:`add_control_tokens` adds the tokens, grows the embedding matrix, and sets each new row to the **mean
  of related characters' rows** (好 棒 满意 … for ``[POS]``), so the token starts out meaning roughly "praise"
  rather than noise;
* :func:`control_example` writes one training example, ``start + [POS] + review + [SEP]``, with the labels of
  the start and the control token set to -100: the condition is given, never predicted. (``GPT2LMHeadModel``
  shifts labels by one inside its loss, so the label at position 0 is never used anyway; the control token sits
  at position 1, after the start token, and *would* be a target without the mask.) :func:`plain_example` is the
  same without a control token (news text, and the unconditioned baseline);
* :func:`collator` pads a batch and keeps those labels (``DataCollatorForLanguageModeling`` would rebuild the
  labels from the inputs and lose the mask);
* :func:`replay_examples` draws news examples to mix into the fine-tuning data (replay, 回放: the remedy for
  catastrophic forgetting measured in lesson 06);
* :func:`perplexity` scores exactly the labelled positions; :func:`generate_texts` samples with fixed settings;
* :func:`per_class_accuracy` and :func:`share_positive` put a judge's verdicts on generated text next to its
  accuracy on real reviews.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from datasets import Dataset
from torch.utils.data import DataLoader
from transformers import DataCollatorForSeq2Seq, PreTrainedModel, PreTrainedTokenizerBase

from .gpt_text import decode_texts
from .pretraining import IGNORE_INDEX

CONTROL_TOKENS = {1: "[POS]", 0: "[NEG]"}
RELATED_CHARACTERS = {  # characters whose mean embedding starts each control token off
    "[POS]": "好棒赞满意喜欢推荐值得优秀",
    "[NEG]": "差糟烂失望后悔退垃圾坑差劲",
}


def add_control_tokens(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
                       related: dict[str, str]) -> dict[str, int]:
    """Add each key of ``related`` as a special token and initialise its embedding as the mean of the rows of
    the characters in its value; returns ``{token: id}``.

    The tokenizer and the model change in place (``resize_token_embeddings``; with tied input and output
    embeddings, as in GPT-2, the output row is the same tensor). A related character that the tokenizer does not
    know as a single token is an error, not a silent ``[UNK]`` in the average.
    """
    if not isinstance(related, dict) or not related:
        raise ValueError("related must map each control token to a string of related characters, "
                         "e.g. {'[POS]': '好棒满意', '[NEG]': '差糟失望'}")
    source_ids = {}
    for token, characters in related.items():
        if not isinstance(token, str) or not isinstance(characters, str) or not characters:
            raise ValueError(f"{token!r}: give the control token as a str and at least one related character")
        ids = [tokenizer.convert_tokens_to_ids(c) for c in characters]
        unknown = [c for c, i in zip(characters, ids) if i is None or i == tokenizer.unk_token_id]
        if unknown:
            raise ValueError(f"{token}: {''.join(unknown)!r} is not a token of this tokenizer; pick related "
                             "characters from its vocabulary")
        source_ids[token] = ids
    tokenizer.add_special_tokens({"additional_special_tokens": list(related)})
    model.resize_token_embeddings(len(tokenizer), mean_resizing=False)  # the rows are set just below
    embeddings = model.get_input_embeddings().weight
    new_ids = {}
    with torch.no_grad():
        for token, ids in source_ids.items():
            new_ids[token] = tokenizer.convert_tokens_to_ids(token)
            embeddings[new_ids[token]] = embeddings[ids].mean(dim=0)
    return new_ids


def control_example(text: str, control: str | None, tokenizer: PreTrainedTokenizerBase, start_ids: Sequence[int],
                    max_length: int) -> dict[str, list[int]]:
    """``start + [control] + text + [SEP]`` (truncated to ``max_length`` ids), with the start and the control
    token labelled -100. ``control=None`` gives the same example without a control token."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    prefix = list(start_ids)
    if control is not None:
        control_id = tokenizer.convert_tokens_to_ids(control)
        if control_id is None or control_id == tokenizer.unk_token_id:
            raise ValueError(f"{control!r} is not in the tokenizer: add it with add_control_tokens first")
        prefix.append(control_id)
    room = max_length - len(prefix) - 1
    if room < 1:
        raise ValueError(f"max_length={max_length} leaves no room for text after {len(prefix)} prefix ids and [SEP]")
    body = tokenizer(text, add_special_tokens=False)["input_ids"][:room] + [tokenizer.sep_token_id]
    return {"input_ids": prefix + body, "labels": [IGNORE_INDEX] * len(prefix) + body}


def plain_example(text: str, tokenizer: PreTrainedTokenizerBase, start_ids: Sequence[int],
                  max_length: int) -> dict[str, list[int]]:
    """``start + text + [SEP]``, only the start unlabelled: a news paragraph for replay or evaluation."""
    return control_example(text, None, tokenizer, start_ids, max_length)


def encode_reviews(dataset: Dataset, tokenizer: PreTrainedTokenizerBase, start_ids: Sequence[int], max_length: int,
                   controls: dict[int, str] | None = CONTROL_TOKENS) -> Dataset:
    """A review dataset (text, label) as examples with their label's control token (``controls=None``: none)."""
    def encode(row):
        return control_example(row["text"], controls[row["label"]] if controls else None, tokenizer, start_ids,
                               max_length)
    return dataset.map(encode, remove_columns=dataset.column_names, desc="encoding")


def replay_examples(texts: Sequence[str], n: int, tokenizer: PreTrainedTokenizerBase, start_ids: Sequence[int],
                    max_length: int, seed: int = 0) -> Dataset:
    """``n`` plain examples from randomly chosen ``texts`` (the pretraining news), to mix into fine-tuning."""
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be a non-negative int, got {n!r}")
    texts = [t for t in texts if isinstance(t, str) and t.strip()]
    if n and not texts:
        raise ValueError("replay needs at least one non-empty text")
    chosen = np.random.default_rng(seed).choice(len(texts), size=n, replace=n > len(texts)) if n else []
    rows = [plain_example(texts[i], tokenizer, start_ids, max_length) for i in chosen]
    return Dataset.from_dict({"input_ids": [r["input_ids"] for r in rows], "labels": [r["labels"] for r in rows]})


def replay_count(n_examples: int, share: float) -> int:
    """How many replay examples make up ``share`` of the mixed training set (0.2: one in five is news)."""
    if not 0.0 <= share < 1.0:
        raise ValueError(f"share must be in [0, 1), got {share!r}")
    return round(n_examples * share / (1 - share))


def collator(tokenizer: PreTrainedTokenizerBase) -> DataCollatorForSeq2Seq:
    """Pads input_ids with [PAD] and labels with -100, keeping the labels each example already has.

    (``DataCollatorForSeq2Seq`` is named for encoder-decoders but pads any ``input_ids`` + ``labels`` batch.)
    """
    return DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=IGNORE_INDEX, padding=True)


@torch.no_grad()
def log_likelihoods(model: PreTrainedModel, examples: Dataset, tokenizer: PreTrainedTokenizerBase,
                    batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Per example: the summed log-probability (nats) of its labelled positions, and how many there are.

    Examples are batched in order of length (little padding) and returned in their own order.
    """
    if len(examples) == 0:
        raise ValueError("need at least one example")
    model.eval()
    device = next(model.parameters()).device
    order = np.argsort([len(ids) for ids in examples["input_ids"]], kind="stable")  # similar lengths together
    rows = examples.select(order).with_format(None, columns=["input_ids", "labels"])
    sums, counts = [], []
    for batch in DataLoader(list(rows), batch_size=batch_size, collate_fn=collator(tokenizer)):
        batch = {k: v.to(device) for k, v in batch.items()}
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
        targets = batch["labels"][:, 1:]
        losses = F.cross_entropy(logits.float().transpose(1, 2), targets, ignore_index=IGNORE_INDEX, reduction="none")
        sums.append(-losses.sum(dim=1).cpu().numpy())
        counts.append((targets != IGNORE_INDEX).sum(dim=1).cpu().numpy())
    log_probs, numbers = np.empty(len(order)), np.empty(len(order), dtype=np.int64)
    log_probs[order], numbers[order] = np.concatenate(sums), np.concatenate(counts)
    return log_probs, numbers


def perplexity(model: PreTrainedModel, examples: Dataset, tokenizer: PreTrainedTokenizerBase,
               batch_size: int = 64) -> float:
    """exp(mean next-token loss) over the labelled positions of ``examples`` (input_ids + labels).

    Summed per token, not averaged per batch, so examples weigh by their token counts.
    """
    if len(examples) == 0:
        raise ValueError("perplexity needs at least one example")
    log_probs, counts = log_likelihoods(model, examples, tokenizer, batch_size)
    if counts.sum() == 0:
        raise ValueError("no labelled position to score: every label is -100")
    return math.exp(-log_probs.sum() / counts.sum())


def generative_predictions(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, texts: Sequence[str],
                           start_ids: Sequence[int], max_length: int, controls: dict[int, str] = CONTROL_TOKENS,
                           batch_size: int = 64) -> np.ndarray:
    """The conditional GPT as a classifier (Bayes' rule with equal priors): for each text, the label whose control
    token makes it most likely, log p(text | [POS]) against log p(text | [NEG])."""
    data = Dataset.from_dict({"text": list(texts)})
    scores = []
    for label in sorted(controls):
        encoded = data.map(lambda row: control_example(row["text"], controls[label], tokenizer, start_ids, max_length),
                           remove_columns=["text"])
        scores.append(log_likelihoods(model, encoded, tokenizer, batch_size)[0])
    return np.array(sorted(controls))[np.argmax(np.stack(scores), axis=0)]


def suppressed_ids(tokenizer: PreTrainedTokenizerBase) -> list[list[int]]:
    """Special tokens a sample may not contain (all but [SEP], which ends it), as ``bad_words_ids``."""
    keep = {tokenizer.sep_token_id}
    return [[i] for i in sorted(set(tokenizer.all_special_ids) - keep)]


@torch.no_grad()
def generate_texts(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, prompt_ids: Sequence[int], n: int,
                   max_new_tokens: int, seed: int = 0, batch_size: int = 100,
                   negative_prompt_ids: Sequence[int] | None = None, **sampling) -> list[str]:
    """``n`` sampled continuations of ``prompt_ids``, decoded to characters (prompt and special tokens removed).

    ``sampling`` goes to ``generate`` (top_p, temperature, repetition_penalty, ...). The generator is seeded once
    at the start, so every condition generated with the same ``seed`` and settings sees the same random stream.

    Classifier-free guidance (无分类器引导; Sanchez et al. 2023, "Stay on topic with classifier-free guidance"):
    with ``guidance_scale`` = g in ``sampling`` and a ``negative_prompt_ids`` (e.g. the opposite control token),
    ``generate`` runs the model on both prompts at every step and samples from
    ``log p(x | negative) + g * (log p(x | prompt) - log p(x | negative))``: g = 1 is plain sampling, g > 1 pushes
    each token towards what the prompt makes likelier than the negative prompt does, at twice the compute.
    """
    if not prompt_ids:
        raise ValueError("a prompt needs at least one id (the text start)")
    if negative_prompt_ids is not None and not negative_prompt_ids:
        raise ValueError("negative_prompt_ids needs at least one id (or None for no negative prompt)")
    if negative_prompt_ids is not None and sampling.get("guidance_scale", 1) == 1:
        raise ValueError("a negative prompt only acts with guidance_scale != 1 (e.g. guidance_scale=2.0)")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    model.eval()
    device = next(model.parameters()).device
    torch.manual_seed(seed)
    prompt = torch.tensor([list(prompt_ids)], device=device)
    texts = []
    for start in range(0, n, batch_size):
        count = min(batch_size, n - start)
        guidance = {}
        if negative_prompt_ids is not None:  # one row per sample: the guidance branch keeps its own cache per row
            negative = torch.tensor([list(negative_prompt_ids)], device=device).repeat(count, 1)
            guidance = dict(negative_prompt_ids=negative, negative_prompt_attention_mask=torch.ones_like(negative))
        output = model.generate(prompt.repeat(count, 1), attention_mask=torch.ones(count, prompt.shape[1],
                                device=device, dtype=torch.long), do_sample=True, max_new_tokens=max_new_tokens,
                                pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.sep_token_id,
                                bad_words_ids=suppressed_ids(tokenizer), **guidance, **sampling)
        texts.extend(decode_texts(tokenizer, output[:, prompt.shape[1]:]))
    return texts


def per_class_accuracy(labels: Sequence[int], predictions: Sequence[int],
                       names: tuple[str, str] = ("negative", "positive")) -> dict[str, float]:
    """Accuracy on each true class: the share of real negative (positive) reviews the judge calls negative
    (positive). The ceiling against which its verdicts on generated text are read."""
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    if labels.shape != predictions.shape or labels.ndim != 1 or len(labels) == 0:
        raise ValueError("labels and predictions must be two equally long, non-empty sequences")
    result = {}
    for value, name in enumerate(names):
        chosen = labels == value
        result[name] = float((predictions[chosen] == value).mean()) if chosen.any() else float("nan")
    return result


def share_positive(predictions: Sequence[int]) -> float:
    """Share of verdicts that say positive (label 1)."""
    predictions = np.asarray(predictions)
    if predictions.ndim != 1 or len(predictions) == 0:
        raise ValueError("share_positive needs a non-empty 1-D sequence of 0/1 verdicts")
    return float((predictions == 1).mean())


@torch.no_grad()
def interpolate_weights(model: PreTrainedModel, start_state: dict[str, torch.Tensor], alpha: float) -> None:
    """Set ``model``'s weights to ``start + alpha * (fine-tuned - start)`` in place (WiSE-FT, Wortsman et al. 2022).

    ``alpha=1`` keeps the fine-tuned model, ``alpha=0`` returns to ``start_state`` (taken after the control tokens
    were added, so the shapes match).
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
    for name, tensor in model.state_dict().items():
        if name not in start_state or start_state[name].shape != tensor.shape:
            raise ValueError(f"start_state has no matching {name!r}: take it after add_control_tokens")
        if tensor.is_floating_point():
            tensor.copy_(start_state[name].to(tensor.device) + alpha * (tensor - start_state[name].to(tensor.device)))
