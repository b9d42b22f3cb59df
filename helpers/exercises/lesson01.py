"""Lesson 01 exercises: BERT's masking rule, GPT's shifted loss, packing text into blocks."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from .core import (ExerciseFailed, as_int_list, call_answer, close, describe, expect_callable, register, rng,
                   tolerance, torch_generator)

IGNORE_INDEX = -100


# ---------------------------------------------------------------- 01.1 masking
def _sample_batch(generator: torch.Generator, vocab: int, specials: tuple[int, ...], rows: int = 400,
                  length: int = 128) -> torch.Tensor:
    low = max(specials) + 1
    ids = torch.randint(low, vocab, (rows, length), generator=generator)
    ids[:, 0], ids[:, -1] = specials[2], specials[3]  # [CLS] ... [SEP]
    pad_lengths = torch.randint(0, length // 3, (rows,), generator=generator)
    for row, pad in enumerate(pad_lengths.tolist()):
        if row % 2 == 0 and pad:
            ids[row, length - 1 - pad : length - 1] = specials[0]  # padding in every other row
    return ids


def _as_pair(got: Any, shape: torch.Size) -> tuple[torch.Tensor, torch.Tensor]:
    if not (isinstance(got, (tuple, list)) and len(got) == 2):
        raise ExerciseFailed(f"return a tuple (masked_inputs, labels); got {describe(got)}.")
    for name, tensor in zip(("masked_inputs", "labels"), got):
        if not isinstance(tensor, torch.Tensor):
            raise ExerciseFailed(f"{name} should be a torch.Tensor, got {describe(tensor)}.")
        if tensor.shape != shape:
            raise ExerciseFailed(f"{name} has shape {tuple(tensor.shape)}; expected {tuple(shape)}, like input_ids.")
        if tensor.dtype.is_floating_point or tensor.dtype.is_complex or tensor.dtype == torch.bool:
            raise ExerciseFailed(f"{name} has dtype {tensor.dtype}; token ids and labels must be integers (torch.long).")
    return got[0].long().cpu(), got[1].long().cpu()


def _call_mask(answer, ids, specials, mask_id, vocab, probability, seed_value):
    given = ids.clone()
    got = call_answer(answer, given, specials, mask_id, vocab, probability, torch.Generator().manual_seed(seed_value))
    if not torch.equal(given, ids):
        raise ExerciseFailed("your function changed input_ids in place. Work on input_ids.clone().")
    inputs, labels = _as_pair(got, ids.shape)
    if (inputs == IGNORE_INDEX).any():
        raise ExerciseFailed("the first tensor you returned holds -100: you returned (labels, masked_inputs); return "
                             "(masked_inputs, labels) in that order.")
    return inputs, labels


@register("01.1", "BERT masking, 15% and 80/10/10")
def check_mask_tokens(answer: Any, seed: int = 0) -> str:
    """``answer(input_ids, special_ids, mask_id, vocab_size, mlm_probability, generator)``.

    Random part: a 400 x 128 batch (about 45,000 maskable tokens) with a random vocabulary size, random special
    ids (passed as a list or a tuple), padding in every other row, and ``mlm_probability`` 0.15 and a
    random one in [0.2, 0.4]. Checked: input_ids untouched; labels are the original id where selected and -100
    elsewhere; specials and padding never selected; unselected positions unchanged; the selection rate (within
    about 6 standard errors) and the 80/10/10 split (also in each half of the rows and of the sequence, so that
    "the first 80% of the selected positions" fails); random replacements drawn from the whole vocabulary (many different ids,
    all < vocab_size); the same generator seed gives the same result and another seed another one.
    Edge cases: ``mlm_probability=0`` (nothing selected), ``1.0`` (every non-special token selected), a batch
    of one row made only of special tokens, and (labels, inputs) returned in the wrong order.
    Accepted: Bernoulli draws or an exact count, any integer dtype, a tuple or a list of the two tensors.
    """
    expect_callable(answer, "mask_tokens")
    random = rng(seed, "01.1")
    vocab = random.choice((1000, 3000, 5366))
    specials = (0, 1, 2, 3, 4) if random.random() < 0.5 else (0, 100, 101, 102, 103)
    mask_id = specials[4]
    special_arg = random.choice((list, tuple))(specials)
    ids = _sample_batch(torch_generator(seed, "01.1 ids"), vocab, specials)
    special = torch.isin(ids, torch.tensor(specials))
    maskable = int((~special).sum())
    hint_rate = "Hint: torch.bernoulli on a matrix filled with mlm_probability, 0 at special tokens."

    # Edge cases first: they name the mistake most directly.
    tiny = torch.tensor([[specials[2], specials[0], specials[0], specials[3]]])
    inputs, labels = _call_mask(answer, tiny, special_arg, mask_id, vocab, 0.5, 0)
    if torch.equal(labels, tiny) and not (labels == IGNORE_INDEX).any():
        raise ExerciseFailed(f"for the row {tiny.tolist()} your labels are the input ids themselves. Labels must be "
                             "-100 wherever a token was NOT selected (here: everywhere, the row holds only special "
                             "tokens), so that the loss ignores those positions.")
    if (labels != IGNORE_INDEX).any() or not torch.equal(inputs, tiny):
        raise ExerciseFailed(f"for a row made only of special tokens {tiny.tolist()} you returned inputs "
                             f"{inputs.tolist()} and labels {labels.tolist()}; nothing may be selected there. "
                             "Give special tokens probability 0 before drawing.")
    inputs, labels = _call_mask(answer, ids, special_arg, mask_id, vocab, 0.0, 1)
    if (labels != IGNORE_INDEX).any() or not torch.equal(inputs, ids):
        raise ExerciseFailed("with mlm_probability=0 nothing may be selected: labels all -100 and inputs unchanged. "
                             "Use the argument, not a constant.")
    inputs, labels = _call_mask(answer, ids, special_arg, mask_id, vocab, 1.0, 1)
    if not torch.equal(labels != IGNORE_INDEX, ~special):
        raise ExerciseFailed("with mlm_probability=1.0 every non-special token must be selected (label = its id) "
                             f"and no special token. {hint_rate}")

    seed_value = random.randrange(2**31)
    inputs, labels = _call_mask(answer, ids, special_arg, mask_id, vocab, 0.15, seed_value)
    selected = labels != IGNORE_INDEX
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
    rate = selected.sum().item() / maskable
    if abs(rate - 0.15) > 0.01:
        raise ExerciseFailed(f"{rate:.1%} of the non-special tokens were selected; expected about 15%. {hint_rate}")
    half_rows, half_columns = ids.shape[0] // 2, ids.shape[1] // 2
    everything = (slice(None), slice(None))
    parts = (("", everything), (" in the first half of the rows", (slice(0, half_rows), slice(None))),
             (" in the second half of the rows", (slice(half_rows, None), slice(None))),
             (" in the first half of the sequence", (slice(None), slice(0, half_columns))),
             (" in the second half of the sequence", (slice(None), slice(half_columns, None))))
    for part, where in parts:
        chosen = selected[where]
        n = chosen.sum().item()
        masked = (inputs[where][chosen] == mask_id).sum().item() / n
        kept = (inputs[where][chosen] == ids[where][chosen]).sum().item() / n
        randomised = 1 - masked - kept
        for name, value, target in (("[MASK]", masked, 0.8), ("random token", randomised, 0.1),
                                    ("unchanged", kept, 0.1)):
            if abs(value - target) > (0.02 if not part else 0.03):
                raise ExerciseFailed(f"of the selected tokens{part} {value:.1%} became {name}; expected about "
                                     f"{target:.0%}. Hint: 80% [MASK]; of the remaining 20%, half random, half "
                                     "unchanged, each position drawn independently.")
    replaced = selected & (inputs != mask_id) & (inputs != ids)
    new_ids = inputs[replaced]
    if (new_ids < 0).any() or (new_ids >= vocab).any():
        raise ExerciseFailed(f"a random replacement is {int(new_ids[(new_ids < 0) | (new_ids >= vocab)][0])}, outside "
                             f"the vocabulary 0..{vocab - 1}. Draw with torch.randint(vocab_size, ...).")
    if new_ids.unique().numel() < min(50, new_ids.numel() // 4):
        raise ExerciseFailed(f"the {new_ids.numel()} random replacements use only {new_ids.unique().numel()} different "
                             "ids. Draw each one from the whole vocabulary: torch.randint(vocab_size, ...).")
    inputs2, labels2 = _call_mask(answer, ids, special_arg, mask_id, vocab, 0.15, seed_value)
    if not (torch.equal(inputs, inputs2) and torch.equal(labels, labels2)):
        raise ExerciseFailed("the same generator seed gave different masks. Pass generator= to every random call.")
    inputs3, labels3 = _call_mask(answer, ids, special_arg, mask_id, vocab, 0.15, seed_value + 1)
    if torch.equal(labels, labels3):
        raise ExerciseFailed("two different generator seeds gave the same mask: draw with the generator you are "
                             "given, not a fixed seed of your own.")
    probability = round(random.uniform(0.2, 0.4), 3)
    _, labels4 = _call_mask(answer, ids, special_arg, mask_id, vocab, probability, seed_value + 2)
    rate4 = (labels4 != IGNORE_INDEX).sum().item() / maskable
    if abs(rate4 - probability) > 0.015:
        raise ExerciseFailed(f"with mlm_probability={probability} you selected {rate4:.1%}. Use the argument, not a "
                             "constant.")
    return f"selected {rate:.1%}; of those {masked:.1%} [MASK], {randomised:.1%} random, {kept:.1%} unchanged."


# ---------------------------------------------------------------- 01.2 next-token loss
def _reference_loss(logits: torch.Tensor, ids: torch.Tensor, shift: int = 1, reduction: str = "mean") -> float:
    logits = logits.detach().double()
    vocab = logits.shape[-1]
    if shift == 1:
        pairs = logits[:, :-1].reshape(-1, vocab), ids[:, 1:].reshape(-1)
    elif shift == 0:
        pairs = logits.reshape(-1, vocab), ids.reshape(-1)
    else:
        pairs = logits[:, 1:].reshape(-1, vocab), ids[:, :-1].reshape(-1)
    return F.cross_entropy(*pairs, reduction=reduction).item()


def _loss_cases(seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch_generator(seed, "01.2")
    random = rng(seed, "01.2")
    cases = []
    shapes = [(1, 2, 7), (3, 12, 50)]  # a single prediction, and the shape of the original check
    shapes += [(random.randint(1, 4), random.randint(2, 20), random.randint(5, 60)) for _ in range(4)]
    dtypes = [torch.float32, torch.float32, torch.float64, torch.float16, torch.float32, torch.float64]
    for (batch, length, vocab), dtype in zip(shapes, dtypes):
        logits = (torch.randn(batch, length, vocab, generator=generator) * 2).to(dtype)
        ids = torch.randint(vocab, (batch, length), generator=generator)
        cases.append((logits, ids))
    return cases


@register("01.2", "GPT's next-token loss by hand")
def check_causal_loss(answer: Any, seed: int = 0) -> str:
    """``answer(logits, input_ids)`` must equal the mean cross-entropy of position t predicting token t+1.

    Cases: one row with two tokens (a single prediction), the (3, 12, 50) batch, and four random shapes, with
    logits in float16, float32 and float64 (the reference is computed in float64). The loss must be a one-number
    tensor that still carries the gradient to the logits (a loss you cannot backpropagate cannot train).
    Wrong ideas told apart: no shift (copying), the shift the wrong way, the sum instead of the mean, a
    detached loss (.item(), NumPy), probabilities fed to cross-entropy (softmax twice).
    Accepted: any floating dtype (a float64 loss for float32 logits, a float16 loss for float16 logits within
    float16 precision), shape () or (1,).
    """
    expect_callable(answer, "next_token_loss")
    cases = _loss_cases(seed)
    for logits, ids in cases:
        tol = tolerance(logits.dtype)
        leaf = logits.clone().requires_grad_(True)
        got = call_answer(answer, leaf, ids.clone())
        shape = f"logits of shape {tuple(logits.shape)} ({logits.dtype})"
        if not isinstance(got, torch.Tensor) or got.numel() != 1:
            raise ExerciseFailed(f"for {shape} you returned {describe(got)}; return a single-number tensor "
                                 "(the mean loss), e.g. from F.cross_entropy.")
        if not got.dtype.is_floating_point:
            raise ExerciseFailed(f"for {shape} the loss has dtype {got.dtype}; a loss is a floating-point number.")
        value = got.detach().double().item()
        expected = _reference_loss(logits, ids)
        if close(value, expected, tol):
            if not got.requires_grad:
                raise ExerciseFailed("the value is right, but the loss is cut off from the logits (no gradient): do "
                                     "not call .item(), .detach(), .numpy() or torch.tensor(...) on the way. Training "
                                     "needs loss.backward() to reach the model.")
            continue
        n = ids.shape[0] * (ids.shape[1] - 1)
        if close(value, _reference_loss(logits, ids, shift=0), tol):
            raise ExerciseFailed("you compared logits at position t with the token AT t: that is copying, not "
                                 "predicting. Use logits[:, :-1] against input_ids[:, 1:].")
        if close(value, _reference_loss(logits, ids, reduction="sum"), tol) and n > 1:
            raise ExerciseFailed(f"your loss is the SUM over the {n} predictions; take the mean (F.cross_entropy's "
                                 "default).")
        if close(value, _reference_loss(logits, ids, shift=-1), tol):
            raise ExerciseFailed("you shifted the wrong way (position t predicting token t-1). Use logits[:, :-1] "
                                 "with input_ids[:, 1:].")
        softmaxed = torch.softmax(logits.double(), -1)
        if close(value, _reference_loss(softmaxed, ids), tol):
            raise ExerciseFailed("you passed probabilities to cross-entropy, which applies log-softmax itself: pass "
                                 "the raw logits.")
        raise ExerciseFailed(f"for {shape} you returned {value:.4f}, expected {expected:.4f}. Hint: flatten to "
                             "(N, vocab) and (N,) and use F.cross_entropy.")
    return (f"the loss matches on {len(cases)} batches (float16/32/64, down to a single prediction): position t "
            "predicts token t+1, averaged, with the gradient kept.")


# ---------------------------------------------------------------- 01.3 packing
_PACK_CASES = (  # (documents, block size, sep id, expected)
    ([[5, 6, 7], [8, 9], [10, 11, 12, 13]], 4, 3, [[5, 6, 7, 3], [8, 9, 3, 10], [11, 12, 13, 3]]),
    ([[5, 6, 7], [8, 9], [10, 11, 12]], 4, 3, [[5, 6, 7, 3], [8, 9, 3, 10]]),  # the tail [11, 12, 3] is dropped
    ([[5, 6], [7]], 2, 3, [[5, 6], [3, 7]]),
    ([[5, 6, 7, 8, 9, 10, 11]], 3, 3, [[5, 6, 7], [8, 9, 10]]),
    ([[5], [], [6]], 2, 3, [[5, 3], [6, 3]]),  # an empty document adds nothing, not even sep_id
    ([], 4, 3, []),  # no documents
    ([[5, 6]], 4, 3, []),  # too short for one block
    ([[5, 6, 7]], 1, 9, [[5], [6], [7], [9]]),  # block size 1, another sep id
)


def reference_pack(token_lists: list[list[int]], block_size: int, sep_id: int) -> list[list[int]]:
    """Documents each followed by ``sep_id``, joined, cut into blocks of ``block_size``; the tail is dropped."""
    stream = [token for ids in token_lists if ids for token in [*ids, sep_id]]
    return [stream[i : i + block_size] for i in range(0, len(stream) - block_size + 1, block_size)]


def _as_blocks(got: Any, documents) -> list[list[int]]:
    if isinstance(got, torch.Tensor):
        if got.dim() == 2 or got.numel() == 0:
            return [[int(v) for v in row] for row in got.tolist()]
        raise ExerciseFailed(f"for {documents} you returned {describe(got)}; return a list of blocks.")
    if not isinstance(got, (list, tuple)):
        raise ExerciseFailed(f"return a list of blocks (lists of ints); got {describe(got)}.")
    return [as_int_list(block, "a block") for block in got]


@register("01.3", "packing documents into blocks")
def check_pack(answer: Any, seed: int = 0) -> str:
    """``answer(token_lists, block_size, sep_id)`` -> list of blocks, each document followed by sep_id.

    Edge cases: the dropped tail, an empty document (adds nothing, not even sep_id), no documents at all, a
    text shorter than one block, block size 1, a separator id other than 3 (a hard-coded 3 fails). Plus 25
    random document lists. Wrong ideas told apart: keeping or padding the tail, no separator or a separator
    before each document, separators for empty documents, one block list per document (blocks must run across
    documents). Accepted: a list of lists, of tuples, or a 2-D tensor; NumPy or tensor ints.
    """
    expect_callable(answer, "pack")
    random = rng(seed, "01.3")
    cases = list(_PACK_CASES)
    for _ in range(25):
        documents = [[random.randint(5, 999) for _ in range(random.choice((0, 1, 2, 3, 5, 8, 13)))]
                     for _ in range(random.randint(0, 7))]
        block_size, sep_id = random.randint(1, 9), random.choice((2, 3, 102))
        cases.append((documents, block_size, sep_id, reference_pack(documents, block_size, sep_id)))
    for documents, block_size, sep_id, expected in cases:
        copies = [list(d) for d in documents]
        got = _as_blocks(call_answer(answer, copies, block_size, sep_id), documents)
        if got == expected:
            continue
        where = f"for {documents} with block_size={block_size}, sep_id={sep_id}"
        if len(got) > len(expected) and got[: len(expected)] == expected:
            raise ExerciseFailed(f"{where} you kept the incomplete tail {got[len(expected):]}. Drop it: every block "
                                 "must be exactly block_size long.")
        if any(len(block) != block_size for block in got):
            raise ExerciseFailed(f"{where} the blocks have lengths {[len(b) for b in got]}; all must be {block_size}.")
        raise ExerciseFailed(f"{where} you returned {got}; expected {expected}. Each non-empty document is followed "
                             "by sep_id, the documents run on from one block into the next, and empty documents add "
                             "nothing.")
    return f"all {len(cases)} cases right, including the dropped tail, empty documents and block size 1."
