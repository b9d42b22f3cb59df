"""Lesson 06 exercises: a control-token training example, distinct-2, and a verbatim-copy detector."""

from __future__ import annotations

from typing import Any

from .core import ExerciseFailed, call_answer, expect_callable, register

_CONTROL = {1: "[POS]", 0: "[NEG]"}


def _tokenizer():
    from ..tokenization import load_course_tokenizer

    tokenizer = load_course_tokenizer()
    tokenizer.add_special_tokens({"additional_special_tokens": list(_CONTROL.values())})
    return tokenizer


@register("06.1", "a control-token training example")
def check_control_example(answer: Any) -> str:
    """``answer(text, label, tokenizer, max_length)`` -> ids: control token, review (truncated), [SEP]."""
    expect_callable(answer, "control_example")
    tokenizer = _tokenizer()
    cases = [("质量很好", 1, 16), ("太差了，不推荐", 0, 16), ("好" * 50, 1, 10)]
    for text, label, max_length in cases:
        control_id = tokenizer.convert_tokens_to_ids(_CONTROL[label])
        body = tokenizer(text, add_special_tokens=False)["input_ids"][: max_length - 2]
        expected = [control_id] + body + [tokenizer.sep_token_id]
        got = call_answer(answer, text, label, tokenizer, max_length)
        if hasattr(got, "tolist"):
            got = got.tolist()
        if not isinstance(got, list) or not all(isinstance(i, int) for i in got):
            raise ExerciseFailed(f"return a list of token ids (ints); got {type(got).__name__}.")
        if got and got[0] != control_id:
            raise ExerciseFailed(f"for label {label} the first id is {got[0]}; it must be the control token "
                                 f"{_CONTROL[label]} (id {control_id}), so generation can start from it.")
        if got and got[-1] != tokenizer.sep_token_id:
            raise ExerciseFailed("end every example with [SEP], so the model learns where a review stops.")
        if len(got) > max_length:
            raise ExerciseFailed(f"{len(got)} ids for max_length={max_length}: truncate the review, keeping the "
                                 "control token and [SEP].")
        if got != expected:
            raise ExerciseFailed(f"for {text[:10]!r} (label {label}) you returned {got}; expected {expected}. "
                                 "Encode the text without special tokens, then add the control token and [SEP].")
    return "control token first, the review truncated to fit, [SEP] last."


@register("06.2", "distinct-2")
def check_distinct_2(answer: Any) -> str:
    """``answer(texts)`` -> distinct character bigrams / all bigrams, pooled over the texts."""
    from ..text_metrics import distinct_n

    expect_callable(answer, "distinct_2")
    cases = [["好好好好"], ["abab", "abab"], ["质量很好", "质量很差", "服务很好"], ["a", "bcd"]]
    for texts in cases:
        got = call_answer(answer, list(texts))
        expected = distinct_n(texts, 2)
        try:
            value = float(got)
        except (TypeError, ValueError):
            raise ExerciseFailed(f"return a number; got {got!r}.") from None
        if abs(value - expected) > 1e-9:
            per_text = [distinct_n([t], 2) for t in texts if len(t) > 1]
            hint = (" You averaged per text; pool the bigrams of all texts first (repeats ACROSS texts count)."
                    if per_text and abs(value - sum(per_text) / len(per_text)) < 1e-9 else
                    " Bigrams are pairs of neighbouring characters: text[i:i+2].")
            raise ExerciseFailed(f"for {texts} you returned {value:.4f}; expected {expected:.4f}.{hint}")
    return "pooled distinct-2 right on repeated, cross-text and very short texts."


@register("06.3", "a verbatim-copy detector")
def check_copy(answer: Any) -> str:
    """``answer(text, training_text, window)`` -> True if any ``window``-character stretch of text is in training_text."""
    expect_callable(answer, "copies_training")
    training = "这家酒店的服务非常好，房间也很干净。\n书的内容很一般，不值这个价。"
    cases = [("我觉得这家酒店的服务非常好", 8, True), ("服务态度一般", 8, False), ("内容很一般，不值", 8, True),
             ("很好", 8, False), ("这家酒店的服务", 7, True), ("店的服务非常好，房间也很", 12, True)]
    for text, window, expected in cases:
        got = call_answer(answer, text, training, window)
        if not isinstance(got, bool):
            raise ExerciseFailed(f"return True or False; got {got!r}.")
        if got != expected:
            raise ExerciseFailed(f"text {text!r}, window {window}: you said {got}, expected {expected}. Check every "
                                 "start position i from 0 to len(text) - window (inclusive): text[i:i+window] in training_text; "
                                 "a text shorter than the window cannot contain such a stretch.")
    return f"all {len(cases)} cases right, including stretches at the very end and texts shorter than the window."
