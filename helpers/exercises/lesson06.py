"""Lesson 06 exercises: a control-token training example, distinct-2, and a verbatim-copy detector."""

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


@register("06.1", "a control-token training example")
def check_control_example(answer: Any, seed: int = 0) -> str:
    """``answer(text, label, tokenizer, max_length)`` -> ids: control token, review (truncated), [SEP].

    Edge cases: both labels (so [POS]/[NEG] swapped fails), a review far longer than ``max_length`` (no
    truncation, truncating to max_length - 1, or cutting after adding [SEP] fails), ``max_length=2`` (the
    control token and [SEP] only), an empty review, a review with Latin letters and digits (several characters
    per token, so truncating the *text* instead of the ids fails). Plus 20 random reviews and lengths.
    Wrong ideas told apart: the control token last, no [SEP], [CLS] added by the tokenizer, the label's name as
    text instead of the control token. Accepted: a list of ints, a 1-D tensor or array.
    """
    expect_callable(answer, "control_example")
    tokenizer = _tokenizer()
    random = rng(seed, "06.1")
    cases = [("质量很好", 1, 16), ("太差了，不推荐", 0, 16), ("好" * 50, 1, 10), ("物流很快", 0, 2), ("", 1, 8),
             ("iPhone 2024 wifi很好用", 1, 9)]
    for _ in range(20):
        text = "".join(random.choice(_REVIEW_CHARS) for _ in range(random.randint(0, 40)))
        cases.append((text, random.randint(0, 1), random.randint(2, 30)))
    for text, label, max_length in cases:
        control_id = tokenizer.convert_tokens_to_ids(_CONTROL[label])
        body = tokenizer(text, add_special_tokens=False)["input_ids"][: max_length - 2]
        expected = [control_id] + body + [tokenizer.sep_token_id]
        got = as_int_list(call_answer(answer, text, label, tokenizer, max_length), "the example")
        where = f"for {text[:12]!r}{'...' if len(text) > 12 else ''} (label {label}, max_length {max_length})"
        if got == expected:
            continue
        if not got or got[0] != control_id:
            raise ExerciseFailed(f"{where} the first id is {got[0] if got else None}; it must be the control token "
                                 f"{_CONTROL[label]} (id {control_id}), so generation can start from it.")
        if got[-1] != tokenizer.sep_token_id:
            raise ExerciseFailed(f"{where} the last id is {got[-1]}: end every example with [SEP] (id "
                                 f"{tokenizer.sep_token_id}), so the model learns where a review stops.")
        if len(got) > max_length:
            raise ExerciseFailed(f"{where} you returned {len(got)} ids: truncate the review so that the control token, "
                                 "the review and [SEP] together fit in max_length.")
        if len(got) < len(expected):
            raise ExerciseFailed(f"{where} you returned {len(got)} ids, {len(expected)} fit: keep max_length - 2 ids of "
                                 "the review.")
        raise ExerciseFailed(f"{where} you returned {got}; expected {expected}. Encode the text without special tokens "
                             "(add_special_tokens=False), then add the control token and [SEP].")
    return f"{len(cases)} examples right: control token first, the review truncated to fit, [SEP] last."


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
