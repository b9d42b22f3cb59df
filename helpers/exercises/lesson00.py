"""Lesson 00 exercise: which characters of a text does the tokenizer not know?"""

from __future__ import annotations

from typing import Any

from .core import ExerciseFailed, call_answer, expect_callable, register

# (text, the characters that become [UNK], in order of first appearance). Full-width digits and
# capital letters are *not* unknown: the tokenizer's NFKC + lower-casing maps them into the vocabulary.
_CASES: tuple[tuple[str, list[str]], ...] = (
    ("这本书写得真好", []),
    ("", []),
    ("ＡＢＣ１２３ iPhone", []),
    ("好评😊推荐👍😊", ["😊", "👍"]),
    ("龘靐齉，太难写了", ["龘", "靐", "齉"]),
)


@register("00.1", "unknown characters")
def check_unk_characters(answer: Any) -> str:
    """``answer(text, tokenizer)`` must return the [UNK] characters of ``text`` in first-seen order."""
    from ..tokenization import load_course_tokenizer

    expect_callable(answer, "unk_characters")
    tokenizer = load_course_tokenizer()
    for text, expected in _CASES:
        got = call_answer(answer, text, tokenizer)
        if not isinstance(got, list):
            raise ExerciseFailed(
                f"for text {text!r} your function returned a {type(got).__name__}; expected a list of "
                "single characters, e.g. ['😊']."
            )
        bad_items = [item for item in got if not (isinstance(item, str) and len(item) == 1)]
        if bad_items:
            raise ExerciseFailed(
                f"for text {text!r} the list holds {bad_items[0]!r}, which is not a single character. "
                "Return characters, not token ids or tokens."
            )
        missing = [ch for ch in expected if ch not in got]
        extra = [ch for ch in got if ch not in expected]
        if missing:
            raise ExerciseFailed(
                f"for text {text!r} you missed {missing}: the tokenizer maps them to [UNK]. "
                "Hint: encode each character with tokenizer(ch, add_special_tokens=False) and look for "
                "tokenizer.unk_token_id."
            )
        if extra:
            raise ExerciseFailed(
                f"for text {text!r} you returned {extra}, but the tokenizer knows them (NFKC turns "
                "full-width 'Ａ１' into 'a1', and it lower-cases). Hint: ask the tokenizer, not the vocab dict."
            )
        if got != expected:
            raise ExerciseFailed(
                f"for text {text!r} you returned {got}; expected {expected}: each character once, "
                "in order of first appearance."
            )
    return f"All {len(_CASES)} test texts right, including emoji, rare characters and full-width input."
