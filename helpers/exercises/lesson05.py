"""Lesson 05 exercises: top-k and top-p filtering, temperature, and a greedy loop that matches generate()."""

from __future__ import annotations

from typing import Any

import torch

from .core import ExerciseFailed, call_answer, expect_callable, register


def _logits_cases() -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    random_logits = torch.randn(4, 50, generator=generator) * 3
    ties = torch.tensor([[2.0, 2.0, 2.0, 1.0, 1.0, 0.5, 0.5, 0.5, -1.0, -3.0]])
    peaked = torch.tensor([[10.0, 1.0, 0.5, 0.2, 0.1, 0.0, -1.0, -2.0]])
    return [random_logits, ties, peaked]


def _compare(got: Any, expected: torch.Tensor, what: str, hint: str) -> None:
    if not isinstance(got, torch.Tensor):
        raise ExerciseFailed(f"return a tensor of logits, got {type(got).__name__}.")
    if got.shape != expected.shape:
        raise ExerciseFailed(f"returned shape {tuple(got.shape)}; expected {tuple(expected.shape)} (same as the input).")
    if torch.isfinite(got).all() and (got >= 0).all() and torch.allclose(got.sum(-1), torch.ones(got.shape[:-1])):
        raise ExerciseFailed(f"{what}: you returned probabilities. Return logits, with the filtered-out ones set to "
                             "-inf (softmax turns them into probability 0 later).")
    kept_got, kept_expected = torch.isfinite(got), torch.isfinite(expected)
    if not torch.equal(kept_got, kept_expected):
        row = int((kept_got != kept_expected).any(dim=-1).nonzero()[0])
        raise ExerciseFailed(f"{what}: in row {row} you keep {int(kept_got[row].sum())} tokens, transformers keeps "
                             f"{int(kept_expected[row].sum())}. {hint}")
    if not torch.allclose(got[kept_got], expected[kept_expected]):
        raise ExerciseFailed(f"{what}: the kept logits changed. Leave kept logits as they are; set the others to -inf.")


@register("05.1", "top-k filtering")
def check_top_k(answer: Any) -> str:
    """``answer(logits, k)`` -> logits with everything outside the top k set to -inf (ties at the k-th value kept)."""
    from transformers import TopKLogitsWarper

    expect_callable(answer, "top_k_filter")
    for logits in _logits_cases():
        for k in (1, 3, 5):
            before = logits.clone()
            got = call_answer(answer, logits.clone(), k)
            expected = TopKLogitsWarper(top_k=k)(None, before.clone())
            _compare(got, expected, f"k={k}", "Keep every logit >= the k-th largest (torch.topk), including ties.")
    return "matches TopKLogitsWarper on random, tied and peaked logits for k = 1, 3, 5."


@register("05.2", "top-p (nucleus) filtering")
def check_top_p(answer: Any) -> str:
    """``answer(logits, p)`` keeps the smallest set of most likely tokens whose probabilities add up to more than p."""
    from transformers import TopPLogitsWarper

    expect_callable(answer, "top_p_filter")
    for logits in _logits_cases():
        for p in (0.01, 0.5, 0.9, 0.999):
            got = call_answer(answer, logits.clone(), p)
            expected = TopPLogitsWarper(top_p=p)(None, logits.clone())
            _compare(got, expected, f"p={p}", "Sort by probability, keep tokens until the cumulative probability "
                     "exceeds p (the token that crosses p is kept), and always keep at least one.")
    return "matches TopPLogitsWarper on random, tied and peaked logits for p from 0.01 to 0.999."


@register("05.3", "temperature")
def check_temperature(answer: Any) -> str:
    """``answer(logits, t)`` -> logits / t, without changing the input."""
    from transformers import TemperatureLogitsWarper

    expect_callable(answer, "apply_temperature")
    logits = _logits_cases()[0]
    for t in (0.5, 1.0, 2.0):
        original = logits.clone()
        got = call_answer(answer, logits, t)
        if not torch.equal(logits, original):
            raise ExerciseFailed("your function changed the input logits in place; return a new tensor.")
        expected = TemperatureLogitsWarper(t)(None, original.clone())
        if not isinstance(got, torch.Tensor) or got.shape != expected.shape or not torch.allclose(got, expected):
            direction = "sharper" if t < 1 else "flatter"
            raise ExerciseFailed(f"with t={t} the result differs from logits / t (t<1 makes the distribution sharper, "
                                 f"t>1 flatter; here it should get {direction}).")
    return "logits / t for t = 0.5, 1, 2; input untouched."


@register("05.4", "a greedy loop that matches generate()")
def check_greedy(answer: Any) -> str:
    """``answer(model, input_ids, max_new_tokens)`` -> ids, token for token equal to generate(do_sample=False)."""
    from transformers import GPT2LMHeadModel

    from ..models import gpt_config
    from ..profiles import get_profile

    expect_callable(answer, "greedy_generate")
    torch.manual_seed(0)
    model = GPT2LMHeadModel(gpt_config(get_profile("smoke"))).eval()
    prompt = torch.tensor([[2, 100, 200, 300]])
    expected = model.generate(prompt, max_new_tokens=12, do_sample=False, pad_token_id=0, eos_token_id=None,
                              min_new_tokens=12)
    got = call_answer(answer, model, prompt.clone(), 12)
    if not isinstance(got, torch.Tensor):
        raise ExerciseFailed(f"return a tensor of token ids, got {type(got).__name__}.")
    if got.shape != expected.shape:
        raise ExerciseFailed(f"returned shape {tuple(got.shape)}; expected {tuple(expected.shape)}: the prompt followed by "
                             "max_new_tokens new ids.")
    if not torch.equal(got[:, : prompt.shape[1]], prompt):
        raise ExerciseFailed("the output must start with the prompt.")
    mismatch = (got != expected)[0].nonzero()
    if len(mismatch):
        position = int(mismatch[0])
        raise ExerciseFailed(f"first difference at position {position}: you chose {int(got[0, position])}, generate() chose "
                             f"{int(expected[0, position])}. Take the argmax of the LAST position's logits each step.")
    return "12 new tokens, identical to model.generate(do_sample=False)."
