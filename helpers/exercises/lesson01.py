"""Lesson 01 exercises: BERT's masking rule, GPT's shifted loss, packing text into blocks."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from .core import ExerciseFailed, call_answer, expect_callable, register

IGNORE_INDEX = -100
_VOCAB, _MASK, _SPECIALS = 1000, 4, (0, 1, 2, 3, 4)  # [PAD] [UNK] [CLS] [SEP] [MASK] as in the course tokenizer


def _sample_batch(rows: int = 400, length: int = 128) -> torch.Tensor:
    ids = torch.randint(10, _VOCAB, (rows, length), generator=torch.Generator().manual_seed(0))
    ids[:, 0], ids[:, -1] = 2, 3
    ids[::2, -30:-1] = 0  # padding in every other row
    return ids


def _as_pair(got: Any, shape: torch.Size) -> tuple[torch.Tensor, torch.Tensor]:
    if not (isinstance(got, tuple) and len(got) == 2):
        raise ExerciseFailed(f"return a tuple (masked_inputs, labels); got {type(got).__name__}.")
    for name, tensor in zip(("masked_inputs", "labels"), got):
        if not isinstance(tensor, torch.Tensor):
            raise ExerciseFailed(f"{name} should be a torch.Tensor, got {type(tensor).__name__}.")
        if tensor.shape != shape:
            raise ExerciseFailed(f"{name} has shape {tuple(tensor.shape)}; expected {tuple(shape)}, like input_ids.")
        if tensor.dtype != torch.long:
            raise ExerciseFailed(f"{name} has dtype {tensor.dtype}; token ids and labels must be torch.long.")
    return got


@register("01.1", "BERT masking, 15% and 80/10/10")
def check_mask_tokens(answer: Any) -> str:
    """``answer(input_ids, special_ids, mask_id, vocab_size, mlm_probability, generator)``."""
    expect_callable(answer, "mask_tokens")
    ids = _sample_batch()
    before = ids.clone()
    inputs, labels = _as_pair(call_answer(answer, ids, _SPECIALS, _MASK, _VOCAB, 0.15,
                                          torch.Generator().manual_seed(1)), ids.shape)
    if not torch.equal(ids, before):
        raise ExerciseFailed("your function changed input_ids in place. Work on input_ids.clone().")
    selected = labels != IGNORE_INDEX
    special = torch.isin(ids, torch.tensor(_SPECIALS))
    if selected.float().mean() > 0.5:
        raise ExerciseFailed(f"{selected.float().mean():.0%} of the labels are not -100. Labels must be -100 wherever "
                             "a token was NOT selected, so that the loss ignores those positions.")
    if (selected & special).any():
        row, col = (selected & special).nonzero()[0].tolist()
        raise ExerciseFailed(f"special/padding token {ids[row, col].item()} at position ({row}, {col}) was selected. "
                             "Give special tokens probability 0 before drawing.")
    if not torch.equal(labels[selected], ids[selected]):
        raise ExerciseFailed("labels at selected positions must be the ORIGINAL token ids (what the model must recover).")
    if not torch.equal(inputs[~selected], ids[~selected]):
        raise ExerciseFailed("a position that was not selected changed. Only selected positions may be replaced.")
    rate = selected.sum().item() / (~special).sum().item()
    if abs(rate - 0.15) > 0.01:
        raise ExerciseFailed(f"{rate:.1%} of the non-special tokens were selected; expected about 15%. "
                             "Hint: torch.bernoulli on a matrix filled with mlm_probability.")
    n = selected.sum().item()
    masked = (inputs[selected] == _MASK).sum().item() / n
    kept = (inputs[selected] == ids[selected]).sum().item() / n
    randomised = 1 - masked - kept
    for name, value, target in (("[MASK]", masked, 0.8), ("random token", randomised, 0.1), ("unchanged", kept, 0.1)):
        if abs(value - target) > 0.02:
            raise ExerciseFailed(f"of the selected tokens {value:.1%} became {name}; expected about {target:.0%}. "
                                 "Hint: 80% [MASK]; of the remaining 20%, half random, half unchanged.")
    inputs2, labels2 = _as_pair(call_answer(answer, ids, _SPECIALS, _MASK, _VOCAB, 0.15,
                                            torch.Generator().manual_seed(1)), ids.shape)
    if not (torch.equal(inputs, inputs2) and torch.equal(labels, labels2)):
        raise ExerciseFailed("the same generator seed gave different masks. Pass generator= to every random call.")
    _, labels3 = _as_pair(call_answer(answer, ids, _SPECIALS, _MASK, _VOCAB, 0.3,
                                      torch.Generator().manual_seed(2)), ids.shape)
    rate3 = (labels3 != IGNORE_INDEX).sum().item() / (~special).sum().item()
    if abs(rate3 - 0.3) > 0.015:
        raise ExerciseFailed(f"with mlm_probability=0.3 you selected {rate3:.1%}. Use the argument, not a constant.")
    return f"selected {rate:.1%}; of those {masked:.1%} [MASK], {randomised:.1%} random, {kept:.1%} unchanged."


@register("01.2", "GPT's next-token loss by hand")
def check_causal_loss(answer: Any) -> str:
    """``answer(logits, input_ids)`` must equal the mean cross-entropy of position t predicting token t+1."""
    expect_callable(answer, "next_token_loss")
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 12, 50, generator=generator)
    ids = torch.randint(50, (3, 12), generator=generator)
    got = call_answer(answer, logits, ids)
    if not isinstance(got, torch.Tensor) or got.numel() != 1:
        raise ExerciseFailed(f"return a single-number tensor (the mean loss); got {type(got).__name__}"
                             f"{'' if not isinstance(got, torch.Tensor) else ' of shape ' + str(tuple(got.shape))}.")
    expected = F.cross_entropy(logits[:, :-1].reshape(-1, 50), ids[:, 1:].reshape(-1))
    unshifted = F.cross_entropy(logits.reshape(-1, 50), ids.reshape(-1))
    if torch.allclose(got, expected, atol=1e-5):
        return f"loss {got.item():.4f} matches: position t predicts token t+1, averaged over {3 * 11} predictions."
    if torch.allclose(got, unshifted, atol=1e-5):
        raise ExerciseFailed("you compared logits at position t with the token AT t: that is copying, not predicting. "
                             "Use logits[:, :-1] against input_ids[:, 1:].")
    if torch.allclose(got, expected * 33, atol=1e-3):
        raise ExerciseFailed("your loss is the SUM over the 33 predictions; take the mean (F.cross_entropy's default).")
    wrong_way = F.cross_entropy(logits[:, 1:].reshape(-1, 50), ids[:, :-1].reshape(-1))
    if torch.allclose(got, wrong_way, atol=1e-5):
        raise ExerciseFailed("you shifted the wrong way (position t predicting token t-1). Use logits[:, :-1] with input_ids[:, 1:].")
    raise ExerciseFailed(f"got {got.item():.4f}, expected {expected.item():.4f}. Hint: flatten to (N, vocab) and (N,) "
                         "and use F.cross_entropy.")


_PACK_CASES = (
    ([[5, 6, 7], [8, 9], [10, 11, 12, 13]], 4, [[5, 6, 7, 3], [8, 9, 3, 10], [11, 12, 13, 3]]),
    ([[5, 6, 7], [8, 9], [10, 11, 12]], 4, [[5, 6, 7, 3], [8, 9, 3, 10]]),
    ([[5, 6], [7]], 2, [[5, 6], [3, 7]]),
    ([[5, 6, 7, 8, 9, 10, 11]], 3, [[5, 6, 7], [8, 9, 10]]),
    ([[5], [], [6]], 2, [[5, 3], [6, 3]]),
)


@register("01.3", "packing documents into blocks")
def check_pack(answer: Any) -> str:
    """``answer(token_lists, block_size, sep_id)`` -> list of blocks, each document followed by sep_id."""
    expect_callable(answer, "pack")
    for documents, block_size, expected in _PACK_CASES:
        got = call_answer(answer, [list(d) for d in documents], block_size, 3)
        if isinstance(got, torch.Tensor):
            got = got.tolist()
        if not isinstance(got, list) or not all(isinstance(block, list) for block in got):
            raise ExerciseFailed(f"return a list of blocks (lists of ints); got {type(got).__name__}.")
        if got == expected:
            continue
        if len(got) > len(expected) and got[: len(expected)] == expected:
            raise ExerciseFailed(f"for {documents} with block_size={block_size} you kept the incomplete tail "
                                 f"{got[len(expected):]}. Drop it: every block must be exactly block_size long.")
        if any(len(block) != block_size for block in got):
            raise ExerciseFailed(f"for {documents} a block has length {[len(b) for b in got]}; all must be {block_size}.")
        raise ExerciseFailed(f"for {documents} with block_size={block_size} you returned {got}; expected {expected}. "
                             "Each document is followed by sep_id (3); empty documents add nothing.")
    return f"all {len(_PACK_CASES)} cases right, including the dropped tail and an empty document."
