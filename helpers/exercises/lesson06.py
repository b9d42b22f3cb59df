"""Lesson 06 exercises: a control-token training example with its loss mask, distinct-2, and a verbatim-copy detector."""

from __future__ import annotations

from typing import Any

from .core import ExerciseFailed, as_bool, as_int_list, as_number, call_answer, expect_callable, register, rng

_CONTROL = {1: "[POS]", 0: "[NEG]"}


def _tokenizer():
    from ..tokenization import load_course_tokenizer

    tokenizer = load_course_tokenizer()
    tokenizer.add_special_tokens({"additional_special_tokens": list(_CONTROL.values())})
    return tokenizer


_REVIEW_CHARS = "质量很好太差了不推荐物流快服务态度一般房间干净早餐书内容精彩价格便宜，。！"


def _start_options(tokenizer) -> list[list[int]]:
    """Text starts a checker tries: the course GPT's [SEP], the Hub GPT-2's [CLS], and none."""
    return [[tokenizer.sep_token_id], [tokenizer.cls_token_id], []]


@register("06.1", "a control-token training example with its loss mask")
def check_control_example(answer: Any, seed: int = 0) -> str:
    """``answer(text, label, tokenizer, start_ids, max_length)`` -> ``{"input_ids": [...], "labels": [...]}``.

    ``input_ids``: ``start_ids``, the control token ([POS] for 1, [NEG] for 0), the review's ids (no special
    tokens, truncated so the whole example fits in ``max_length``), [SEP]. ``labels``: the same ids, with -100 on
    every start position and on the control token. Position 0's label is never used (the model shifts labels by
    one), so any value there is accepted; every other position must match.
    Edge cases: both labels, the starts [SEP], [CLS] and none, a review far longer than fits, a review with Latin
    letters and digits (several characters per token, so truncating the text fails), an empty review, no room
    for any review id. Plus 20 random reviews, starts and lengths.
    Wrong ideas told apart: the control token before the start, only the start masked (no effect after the
    shift), nothing masked, labels shifted by hand, no [SEP], no or wrong truncation, [POS]/[NEG] swapped, the
    ids alone instead of the dict. Accepted: lists of ints, 1-D integer tensors or arrays, any mapping.
    """
    expect_callable(answer, "control_example")
    tokenizer = _tokenizer()
    sep, cls = tokenizer.sep_token_id, tokenizer.cls_token_id
    random = rng(seed, "06.1")
    cases = [("质量很好", 1, [sep], 16), ("太差了，不推荐", 0, [sep], 16), ("好" * 50, 1, [sep], 10),
             ("服务一般", 0, [cls], 12), ("还不错", 1, [], 12), ("", 1, [sep], 8),
             ("iPhone 2024 wifi很好用", 1, [sep], 9), ("物流很快", 0, [sep], 3)]
    for _ in range(20):
        text = "".join(random.choice(_REVIEW_CHARS) for _ in range(random.randint(0, 40)))
        start = random.choice(_start_options(tokenizer))
        cases.append((text, random.randint(0, 1), start, random.randint(len(start) + 2, 30)))
    for text, label, start, max_length in cases:
        control_id = tokenizer.convert_tokens_to_ids(_CONTROL[label])
        body = tokenizer(text, add_special_tokens=False)["input_ids"][: max_length - len(start) - 2] + [sep]
        control = len(start)  # the control token's position
        expected_ids = list(start) + [control_id] + body
        expected_labels = [-100] * (control + 1) + body
        got = call_answer(answer, text, label, tokenizer, list(start), max_length)
        if not hasattr(got, "keys") or not {"input_ids", "labels"} <= set(got.keys()):
            raise ExerciseFailed("return a dict with two lists, {'input_ids': [...], 'labels': [...]}; got "
                                 f"{type(got).__name__}.")
        ids, labels = as_int_list(got["input_ids"], "input_ids"), as_int_list(got["labels"], "labels")
        where = (f"for {text[:12]!r}{'...' if len(text) > 12 else ''} (label {label}, start_ids {list(start)}, "
                 f"max_length {max_length})")
        if ids[:control] != list(start):
            raise ExerciseFailed(f"{where} input_ids begin {ids[: control + 1]}: begin with start_ids (how the "
                                 "model's pretraining texts began), then the control token.")
        if len(ids) <= control or ids[control] != control_id:
            raise ExerciseFailed(f"{where} the id after start_ids must be the control token {_CONTROL[label]} "
                                 f"(id {control_id}), so generation can start from it.")
        if ids[-1] != sep:
            raise ExerciseFailed(f"{where} the last id is {ids[-1]}: end every example with [SEP] (id {sep}), so "
                                 "the model learns where a review stops.")
        if len(ids) > max_length:
            raise ExerciseFailed(f"{where} you returned {len(ids)} input ids: truncate the review so that the start, "
                                 "the control token, the review and [SEP] together fit in max_length.")
        if ids != expected_ids:
            raise ExerciseFailed(f"{where} you returned input_ids {ids}; expected {expected_ids}. Encode the text "
                                 "without special tokens and keep as many of its ids as fit.")
        if len(labels) != len(ids):
            raise ExerciseFailed(f"{where} labels has {len(labels)} entries for {len(ids)} input ids: one label per "
                                 "position.")
        if labels[1:] == expected_labels[2:] + [-100] or labels == expected_ids[1:] + [-100]:
            raise ExerciseFailed(f"{where} you shifted the labels by hand: GPT2LMHeadModel shifts them itself "
                                 "(position i's logits predict label i + 1), so labels line up with input_ids.")
        masked = range(1, control + 1)  # position 0's label is never a target, whatever it holds
        if any(labels[i] != -100 for i in masked):
            if control >= 1 and labels[control] != -100 and all(labels[i] == -100 for i in range(control)):
                raise ExerciseFailed(f"{where} only the start is masked. Position 0 is never a target anyway (the "
                                     "model shifts the labels by one), so that mask alone changes nothing: the "
                                     "control token at position len(start_ids) needs -100.")
            position = next(i for i in masked if labels[i] != -100)
            raise ExerciseFailed(f"{where} the label at position {position} is {labels[position]}: the start and the "
                                 "control token are conditions we give, never something to predict, so their labels "
                                 "must be -100.")
        if labels[1:] != expected_labels[1:]:
            raise ExerciseFailed(f"{where} you returned labels {labels}; expected {expected_labels}: -100 on the "
                                 "start and the control token, the ids themselves on the review and [SEP].")
    return (f"{len(cases)} examples right: start, control token, the review truncated to fit, [SEP]; the start and "
            "the control token masked with -100.")


def reference_distinct_2(texts: list[str]) -> float:
    """Distinct character bigrams over all bigrams, pooled over the texts; 0.0 when there is no bigram."""
    grams = [text[i : i + 2] for text in texts for i in range(len(text) - 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


@register("06.2", "distinct-2")
def check_distinct_2(answer: Any, seed: int = 0) -> str:
    """``answer(texts)`` -> distinct character bigrams / all bigrams, pooled over the texts.

    Edge cases: one text of one repeated character, the same text twice (repeats ACROSS texts count, so a
    per-text average fails), texts that would share a bigram only if joined (a bigram never spans two texts,
    so ``"".join(texts)`` fails), one-character and empty texts (no bigram), an empty list (0.0).
    Plus 15 random lists over a small alphabet (many repeats). Accepted: any number type, within 1e-9.
    """
    expect_callable(answer, "distinct_2")
    random = rng(seed, "06.2")
    cases = [["好好好好"], ["abab", "abab"], ["质量很好", "质量很差", "服务很好"], ["ab", "ba"], ["a", "bcd", ""],
             ["好"], []]
    for _ in range(15):
        cases.append(["".join(random.choice("好很差质量服务") for _ in range(random.randint(0, 9)))
                      for _ in range(random.randint(1, 5))])
    for texts in cases:
        expected = reference_distinct_2(texts)
        got = call_answer(answer, list(texts), hint="Hint: with no bigram at all, return 0.0.")
        value = as_number(got, "the result")
        if abs(value - expected) > 1e-9:
            per_text = [reference_distinct_2([t]) for t in texts if len(t) > 1]
            if per_text and abs(value - sum(per_text) / len(per_text)) < 1e-9:
                hint = " You averaged per text; pool the bigrams of all texts first (repeats ACROSS texts count)."
            elif abs(value - reference_distinct_2(["".join(texts)])) < 1e-9:
                hint = " You joined the texts, which makes bigrams that span two texts; take bigrams within each text."
            else:
                hint = " Bigrams are pairs of neighbouring characters within one text: text[i:i+2]."
            raise ExerciseFailed(f"for {texts} you returned {value:.4f}; expected {expected:.4f}.{hint}")
    return f"pooled distinct-2 right on {len(cases)} lists: repeated, cross-text, very short and empty."


_TRAINING = "这家酒店的服务非常好，房间也很干净。\n书的内容很一般，不值这个价。"


def reference_copies(text: str, training_text: str, window: int) -> bool:
    """True if some ``window``-character stretch of ``text`` occurs in ``training_text``."""
    return any(text[i : i + window] in training_text for i in range(len(text) - window + 1))


@register("06.3", "a verbatim-copy detector")
def check_copy(answer: Any, seed: int = 0) -> str:
    """``answer(text, training_text, window)`` -> True if any ``window``-character stretch of text is in training_text.

    Edge cases: a copy at the very end of the text (the last start position is ``len(text) - window``), a copy
    that starts at an offset that is not a multiple of the window (checking only the aligned chunks
    ``text[0:w], text[w:2w], ...`` misses it), a text exactly as long as the window, texts shorter than the
    window and the empty text (False), a copy that runs across two training reviews (it is still a substring).
    Plus 30 random texts over a small alphabet against a random training text, with copies planted at random
    offsets, windows 1-12. Accepted: Python or NumPy bools.
    """
    expect_callable(answer, "copies_training")
    random = rng(seed, "06.3")
    cases = [("我觉得这家酒店的服务非常好", _TRAINING, 8, True), ("服务态度一般", _TRAINING, 8, False),
             ("内容很一般，不值", _TRAINING, 8, True), ("很好", _TRAINING, 8, False), ("这家酒店的服务", _TRAINING, 7, True),
             ("店的服务非常好，房间也很", _TRAINING, 12, True), ("啊啊啊店的服务非常好", _TRAINING, 6, True),
             ("啊店的服务非常啊啊啊啊啊", _TRAINING, 6, True), ("", _TRAINING, 3, False), ("净。\n书的", _TRAINING, 5, True)]
    alphabet = "好差很服务质量"
    for _ in range(30):
        training = "\n".join("".join(random.choice(alphabet) for _ in range(random.randint(5, 30)))
                             for _ in range(random.randint(1, 4)))
        window = random.randint(1, 12)
        text = "".join(random.choice("好差很服务质量行吧") for _ in range(random.randint(0, 25)))
        if random.random() < 0.5 and len(training) > window:
            start = random.randrange(len(training) - window)
            at = random.randint(0, len(text))
            text = text[:at] + training[start : start + window] + text[at:]
        cases.append((text, training, window, reference_copies(text, training, window)))
    for text, training, window, expected in cases:
        got = as_bool(call_answer(answer, text, training, window), "your result")
        if got != expected:
            hint = ("Check every start position i from 0 to len(text) - window (inclusive): text[i:i+window] in "
                    "training_text; a text shorter than the window cannot contain such a stretch.")
            if expected and any(text[i : i + window] in training for i in range(0, len(text) - window + 1, window)) is False:
                hint = ("The copied stretch starts at an offset that is not a multiple of the window: slide the window "
                        "one character at a time, not in steps of window. " + hint)
            raise ExerciseFailed(f"text {text!r}, window {window}: you said {got}, expected {expected}. {hint}")
    return f"all {len(cases)} cases right, including unaligned copies, copies at the very end and texts shorter than the window."
