"""Lesson 05 exercises: top-k and top-p filtering, temperature, and a greedy loop that matches generate().

The filters are checked for *validity*, not against one library's output: among tied logits any choice that
satisfies the definition is right, so a filter that breaks a tie differently from ``transformers`` passes.
"""

from __future__ import annotations

from typing import Any

import torch

from .core import ExerciseFailed, call_answer, describe, expect_callable, register, rng, tolerance, torch_generator


def _logits_cases(seed: int) -> list[torch.Tensor]:
    """Batches of logits (and single vectors) in float16/32/64: random, tied, peaked, with -inf already in."""
    generator = torch_generator(seed, "05 logits")
    random = rng(seed, "05 logits")
    cases = [
        torch.randn(4, 50, generator=generator) * 3,
        torch.tensor([[2.0, 2.0, 2.0, 1.0, 1.0, 0.5, 0.5, 0.5, -1.0, -3.0]]),  # ties at the top and in the middle
        torch.tensor([[10.0, 1.0, 0.5, 0.2, 0.1, 0.0, -1.0, -2.0]]),  # very peaked
        torch.tensor([1.0, 1.0, 1.0, 1.0]),  # one vector (not a batch), all equal
        torch.tensor([[3.0, float("-inf"), 1.0, 2.0, float("-inf"), 0.0]]),  # already filtered once
        torch.tensor([[0.7]]),  # a vocabulary of one
    ]
    for dtype in (torch.float16, torch.float64, torch.float32):
        shape = (random.randint(1, 5), random.randint(2, 80))
        values = torch.randn(shape, generator=generator) * random.choice((0.5, 2.0, 5.0))
        if random.random() < 0.5:  # quantised logits: many exact ties
            values = values.round()
        cases.append(values.to(dtype))
    return cases


def _as_logits(got: Any, expected_shape: torch.Size, what: str) -> torch.Tensor:
    if not isinstance(got, torch.Tensor):
        raise ExerciseFailed(f"{what}: return a tensor of logits, got {describe(got)}.")
    if got.shape != expected_shape:
        raise ExerciseFailed(f"{what}: returned shape {tuple(got.shape)}; expected {tuple(expected_shape)} (the same as "
                             "the input: filter along the last dimension).")
    if not got.dtype.is_floating_point:
        raise ExerciseFailed(f"{what}: returned dtype {got.dtype}; logits are floating-point numbers, with the "
                             "filtered-out ones set to -inf.")
    got = got.detach().cpu().double()
    if torch.isnan(got).any():
        raise ExerciseFailed(f"{what}: your result holds NaN. Set filtered-out logits to float('-inf').")
    return got


def _kept(got: torch.Tensor, logits: torch.Tensor, what: str) -> torch.Tensor:
    """Boolean mask of the tokens the answer keeps; fails if kept logits changed or removed ones are not -inf."""
    original = logits.double()
    if (got == float("inf")).any():
        raise ExerciseFailed(f"{what}: your result holds +inf. Set filtered-out logits to float('-inf').")
    finite_in = torch.isfinite(original)
    if torch.isfinite(got).all() and (got >= 0).all() and torch.allclose(got.sum(-1), torch.ones(got.shape[:-1],
                                                                                                  dtype=got.dtype)) \
            and not torch.allclose(got, original):
        raise ExerciseFailed(f"{what}: you returned probabilities. Return logits, with the filtered-out ones set to "
                             "-inf (softmax turns them into probability 0 later).")
    removed = got == float("-inf")
    kept = ~removed
    tol = tolerance(logits.dtype)
    stand_ins = kept & finite_in & (got <= -1e4) & (original > -1e4)
    if stand_ins.any():
        raise ExerciseFailed(f"{what}: you set removed logits to {got[stand_ins][0].item():.3g}; use float('-inf'), "
                             "as transformers does, so that a removed token is recognisable (torch.isinf) whatever "
                             "the dtype and the other logits.")
    if not torch.allclose(got[kept & finite_in], original[kept & finite_in], rtol=tol, atol=tol):
        raise ExerciseFailed(f"{what}: the kept logits changed. Leave kept logits as they are; set the others to -inf.")
    return kept & finite_in


def _rows(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.reshape(-1, tensor.shape[-1])


@register("05.1", "top-k filtering")
def check_top_k(answer: Any, seed: int = 0) -> str:
    """``answer(logits, k)`` -> logits with everything outside the top k set to -inf.

    Inputs (see ``_logits_cases``): random batches, ties at the top and in the middle, a peaked row, a single
    vector of equal logits, a row with -inf already in it, a vocabulary of one, and random batches in float16,
    float64 and float32 (some rounded, so full of ties); k = 1, 2, 3, 5 and the whole vocabulary.
    A valid answer, row by row: kept logits unchanged, the others -inf; every token strictly above the k-th
    largest value kept, none below it; at a tie on the k-th value, either all tied tokens (as transformers'
    TopKLogitsWarper and the lesson do) or exactly k tokens (any tie-break, as torch.topk + scatter does).
    Wrong ideas told apart: returning probabilities, keeping the k+1 best, keeping the k smallest, scaling the
    kept logits, a large negative number instead of -inf, an integer dtype, filtering along the wrong dimension.
    Accepted: any floating dtype, filtering in place or on a copy.
    """
    expect_callable(answer, "top_k_filter")
    checked = 0
    for logits in _logits_cases(seed):
        vocab = logits.shape[-1]
        for k in sorted({1, 2, 3, 5, vocab}):
            if k > vocab:
                continue
            what = f"k={k} on {'a vector' if logits.dim() == 1 else 'a batch'} of {vocab} {logits.dtype} logits"
            got = _as_logits(call_answer(answer, logits.clone(), k), logits.shape, what)
            kept = _rows(_kept(got, logits, what))
            values = _rows(logits.double())
            for row in range(values.shape[0]):
                finite = torch.isfinite(values[row])
                available = int(finite.sum())
                want = min(k, available)
                if want == 0:
                    continue
                threshold = values[row][finite].sort(descending=True).values[want - 1]
                above, at = values[row] > threshold, values[row] == threshold
                n_kept = int(kept[row].sum())
                ties_kept = int((kept[row] & at).sum())
                valid = (bool(kept[row][above].all()) and not bool((kept[row] & ~above & ~at).any())
                         and (n_kept == want or ties_kept == int(at.sum())))
                if not valid:
                    if n_kept < want:
                        hint = f"you keep {n_kept} tokens; keep the {want} largest (torch.topk gives the k-th value)."
                    elif (kept[row] & ~above & ~at).any():
                        hint = (f"you keep {n_kept} tokens, including some below the k-th largest value "
                                f"{threshold.item():.3g} (k={want}); keep only values >= it.")
                    else:
                        hint = (f"you keep {n_kept} tokens; keep exactly the {want} largest, or at a tie on the "
                                "k-th value all the tied ones.")
                    raise ExerciseFailed(f"{what}, row {row}: {hint}")
                checked += 1
    return f"valid top-k on {checked} rows: random, tied, peaked, pre-filtered and float16/32/64 logits."


@register("05.2", "top-p (nucleus) filtering")
def check_top_p(answer: Any, seed: int = 0) -> str:
    """``answer(logits, p)`` keeps the smallest set of most likely tokens whose probabilities add up to p or more.

    Inputs as for 05.1, with p = 0.01, 0.5, 0.9, 0.999 and a random p. A valid answer, row by row (probabilities
    from the input logits, in float64): at least one token kept; kept logits unchanged, the others -inf; the
    kept tokens are most likely ones (none less likely than a removed one); together they reach p; and without
    their least likely token they would not (so the token that crosses p is kept, and no more). Tolerance
    (1e-2 for float16 input, 1e-4 for float32, 1e-7 for float64) makes both "> p" and ">= p" right where the
    sum lands on p exactly, and accepts any tie-break among equal logits.
    Wrong ideas told apart: leaving out the token that crosses p, comparing p with logits instead of
    probabilities, keeping the least likely tokens, sorting but not mapping the mask back to the original order,
    softmax over the wrong dimension, keeping no token when p is small, returning probabilities.
    Accepted: any tie-break, any floating dtype, filtering in place or on a copy.
    """
    expect_callable(answer, "top_p_filter")
    random = rng(seed, "05.2")
    checked = 0
    for logits in _logits_cases(seed):
        tol = tolerance(logits.dtype)
        probabilities = _rows(torch.softmax(logits.double(), -1))
        for p in (0.01, 0.5, 0.9, 0.999, round(random.uniform(0.05, 0.95), 3)):
            what = (f"p={p} on {'a vector' if logits.dim() == 1 else 'a batch'} of {logits.shape[-1]} {logits.dtype} "
                    "logits")
            got = _as_logits(call_answer(answer, logits.clone(), p), logits.shape, what)
            kept = _rows(_kept(got, logits, what))
            for row in range(probabilities.shape[0]):
                q, keep = probabilities[row], kept[row]
                if not keep.any():
                    raise ExerciseFailed(f"{what}, row {row}: you removed every token; always keep at least the most "
                                         "likely one.")
                mass, smallest = q[keep].sum().item(), q[keep].min().item()
                largest_removed = q[~keep].max().item() if (~keep).any() else 0.0
                if smallest < largest_removed - tol:
                    raise ExerciseFailed(f"{what}, row {row}: you keep a token of probability {smallest:.3g} but remove "
                                         f"one of {largest_removed:.3g}. Keep the MOST likely tokens: sort by "
                                         "probability, descending, and map the mask back to the original positions "
                                         "(scatter).")
                if mass < p - tol:
                    raise ExerciseFailed(f"{what}, row {row}: the {int(keep.sum())} tokens you keep add up to {mass:.4f}, "
                                         f"less than p. Sort by probability, keep tokens until the cumulative "
                                         "probability reaches p: the token that crosses p is kept too.")
                if mass - smallest > p + tol:
                    raise ExerciseFailed(f"{what}, row {row}: you keep {int(keep.sum())} tokens adding up to {mass:.4f}, "
                                         f"but without the least likely of them they would still reach {mass - smallest:.4f} "
                                         "> p: keep the SMALLEST such set. Hint: work with softmax probabilities, not "
                                         "logits.")
                checked += 1
    return f"a valid nucleus on {checked} rows (ties broken any way), for p from 0.01 to 0.999 and float16/32/64."


@register("05.3", "temperature")
def check_temperature(answer: Any, seed: int = 0) -> str:
    """``answer(logits, t)`` -> logits / t, without changing the input.

    Inputs as for 05.1, t = 0.5, 1, 2, 0.7 (a float that is not a power of two) and a random t in (0.1, 5).
    Checked: the values equal logits / t (within the input dtype's precision; -inf stays -inf), the shape is
    kept, the input is untouched. Wrong ideas told apart: logits * t, softmax(logits / t) (probabilities),
    dividing in place, logits - t. Accepted: any floating dtype that holds the right values.
    """
    expect_callable(answer, "apply_temperature")
    random = rng(seed, "05.3")
    temperatures = (0.5, 1.0, 2.0, 0.7, round(random.uniform(0.1, 5.0), 3))
    cases = _logits_cases(seed)
    for logits in cases:
        for t in temperatures:
            original = logits.clone()
            given = logits.clone()
            got = call_answer(answer, given, t)
            what = f"t={t} on {logits.dtype} logits of shape {tuple(logits.shape)}"
            if not torch.equal(given, original):
                raise ExerciseFailed("your function changed the input logits in place; return a new tensor "
                                     "(logits / t, not logits.div_(t)).")
            if not isinstance(got, torch.Tensor) or got.shape != logits.shape or not got.dtype.is_floating_point:
                raise ExerciseFailed(f"{what}: return a float tensor of the same shape, got {describe(got)}.")
            expected = original.double() / t
            tol = tolerance(logits.dtype)
            if not torch.allclose(got.detach().cpu().double(), expected, rtol=tol, atol=tol, equal_nan=False):
                direction = "sharper" if t < 1 else "flatter" if t > 1 else "unchanged"
                raise ExerciseFailed(f"{what}: the result differs from logits / t (t<1 makes the distribution sharper, "
                                     f"t>1 flatter; here it should get {direction}).")
    return f"logits / t for t in {temperatures} on {len(cases)} inputs (float16/32/64, -inf kept); input untouched."


# ---------------------------------------------------------------- 05.4 greedy decoding
def _greedy_cases(seed: int):
    random = rng(seed, "05.4")
    generator = torch_generator(seed, "05.4")
    prompts = [torch.tensor([[2, 100, 200, 300]]), torch.tensor([[2]]),
               torch.randint(5, 1000, (2, random.randint(2, 8)), generator=generator)]
    return list(zip(prompts, (12, 5, random.randint(1, 10)))) + [(torch.tensor([[2, 7]]), 0)]


@register("05.4", "a greedy loop that matches generate()")
def check_greedy(answer: Any, seed: int = 0) -> str:
    """``answer(model, input_ids, max_new_tokens)`` -> ids: the prompt followed by max_new_tokens argmax tokens.

    A small random GPT-2 (in eval mode); prompts of 4 tokens and of 1 token, a batch of two prompts of equal
    length, and ``max_new_tokens=0`` (the prompt alone). Each new token must be the argmax of the model's
    logits at the last position given everything before it; this is checked with one forward pass over your
    whole output (so a different tie-break or the tiny float differences of a KV cache are fine), and the
    first difference from ``model.generate(do_sample=False)`` is named when it fails. Wrong ideas told apart:
    the argmax of the first position, the second best token, returning only the new tokens, one token too many
    or too few, a list. Accepted: a loop with or without the KV cache, generate() itself, any tie-break.
    """
    from transformers import GPT2LMHeadModel

    from ..models import gpt_config
    from ..profiles import get_profile

    expect_callable(answer, "greedy_generate")
    random = rng(seed, "05.4")
    torch.manual_seed(random.randrange(2**31))
    model = GPT2LMHeadModel(gpt_config(get_profile("smoke"))).eval()
    total = 0
    for prompt, new_tokens in _greedy_cases(seed):
        got = call_answer(answer, model, prompt.clone(), new_tokens)
        expected_shape = (prompt.shape[0], prompt.shape[1] + new_tokens)
        if not isinstance(got, torch.Tensor):
            raise ExerciseFailed(f"return a tensor of token ids, got {describe(got)}.")
        if tuple(got.shape) != expected_shape:
            raise ExerciseFailed(f"for a prompt of shape {tuple(prompt.shape)} and max_new_tokens={new_tokens} you returned "
                                 f"shape {tuple(got.shape)}; expected {expected_shape}: the prompt followed by "
                                 "max_new_tokens new ids.")
        got = got.detach().cpu()
        if got.dtype.is_floating_point or not torch.equal(got[:, : prompt.shape[1]].long(), prompt):
            raise ExerciseFailed("the output must start with the prompt, as integer token ids.")
        got = got.long()
        if new_tokens == 0:
            continue
        with torch.no_grad():
            logits = model(got).logits.double()
        for position in range(prompt.shape[1], got.shape[1]):
            scores = logits[:, position - 1]
            chosen = scores.gather(1, got[:, position : position + 1]).squeeze(1)
            bad = (chosen < scores.max(-1).values - 1e-4).nonzero()
            if len(bad):
                row = int(bad[0])
                with torch.no_grad():
                    expected = model.generate(prompt, attention_mask=torch.ones_like(prompt), do_sample=False,
                                              max_new_tokens=new_tokens, min_new_tokens=new_tokens, pad_token_id=0,
                                              eos_token_id=None)
                raise ExerciseFailed(f"at position {position} (row {row}) you chose {int(got[row, position])}, but the "
                                     f"argmax of the last position's logits is {int(scores[row].argmax())} "
                                     f"(generate() chose {int(expected[row, position])}). Take the argmax of the LAST "
                                     "position's logits each step: model(ids).logits[:, -1].argmax(-1).")
        total += new_tokens * prompt.shape[0]
    return f"{total} new tokens, each the argmax that model.generate(do_sample=False) takes; max_new_tokens=0 right."
