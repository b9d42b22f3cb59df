"""Lesson 00 exercise: which characters of a text does the tokenizer not know?"""

from __future__ import annotations

from typing import Any

from .core import ExerciseFailed, call_answer, describe, expect_callable, register, rng

# Fixed cases (text, the characters that become [UNK], in order of first appearance). Each one separates a
# wrong idea from the right one:
_CASES: tuple[tuple[str, list[str]], ...] = (
    ("这本书写得真好", []),
    ("", []),  # empty input
    ("😊", ["😊"]),  # one character
    ("ＡＢＣ１２３ iPhone", []),  # NFKC + lower-casing map full-width and capitals into the vocabulary
    ("好评😊推荐👍😊", ["😊", "👍"]),  # each character once, in first-seen order
    ("龘靐齉，太难写了", ["龘", "靐", "齉"]),  # rare characters, not only emoji
    ("ﬁ™① \u3000\t\u200b好", []),  # known after normalisation (ligature, ™, ①) or dropped (spaces, zero-width)
    ("hello ö 好 é", ["ö", "é"]),  # accents are not stripped: accented letters are unknown
    ("ok ok 😂 Ｏk 龘", ["😂", "龘"]),  # pairing tokens with characters by position goes out of step here
)

# Material for random texts. Unknown non-CJK characters (emoji, accented letters) are always set apart by a
# separator, so that no Latin word contains one: a word with one unknown character becomes a single [UNK]
# token, which would make "which characters are unknown" ambiguous.
_KNOWN_CJK = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处理府研质"
_RARE_CJK = "龘靐齉丂丄丅丆丌丏丐丒丗丠両丣丨丩丬丮丯丱丳丵"
_ODD_UNKNOWN = ("😊", "👍", "🎉", "🔥", "💯", "🙏", "😂", "🤔", "é", "ñ", "ß", "ü", "ç", "ø", "€", "É")
_WORDS = ("iPhone", "ok", "OK", "hello", "ＡＢＣ", "１２３", "2024", "wifi", "ＰＰＴ", "app")
_SEPARATORS = (" ", "，", "。", "！", "\u3000", "\t", "、", "…", "?")


def _random_text(random) -> str:
    parts: list[str] = []
    for _ in range(random.randint(1, 8)):
        kind = random.choice(("cjk", "cjk", "word", "odd", "sep"))
        if kind == "cjk":
            run = [random.choice(_RARE_CJK) if random.random() < 0.15 else random.choice(_KNOWN_CJK)
                   for _ in range(random.randint(1, 6))]
            part = "".join(run)
        elif kind == "word":
            part = random.choice(_WORDS)
        elif kind == "odd":
            part = "".join(random.choice(_ODD_UNKNOWN) for _ in range(random.randint(1, 2)))
        else:
            part = random.choice(_SEPARATORS)
        if parts and kind in ("word", "odd"):
            part = random.choice(_SEPARATORS) + part + random.choice(_SEPARATORS)
        parts.append(part)
    return "".join(parts)


def reference_unk_characters(text: str, tokenizer) -> list[str]:
    """The characters of ``text`` that the tokenizer maps to [UNK] on their own, each once, in first-seen order."""
    found: list[str] = []
    for char in dict.fromkeys(text):
        if tokenizer.unk_token_id in tokenizer(char, add_special_tokens=False)["input_ids"]:
            found.append(char)
    return found


def _compare(text: str, got: Any, expected: list[str]) -> None:
    if not isinstance(got, list):
        raise ExerciseFailed(f"for text {text!r} your function returned {describe(got)}; expected a list of single "
                             "characters, e.g. ['😊'].")
    bad_items = [item for item in got if not (isinstance(item, str) and len(item) == 1)]
    if bad_items:
        raise ExerciseFailed(f"for text {text!r} the list holds {bad_items[0]!r}, which is not a single character. "
                             "Return characters, not token ids or tokens.")
    missing = [ch for ch in expected if ch not in got]
    extra = [ch for ch in got if ch not in expected]
    if missing:
        raise ExerciseFailed(f"for text {text!r} you missed {missing}: the tokenizer maps them to [UNK]. Hint: encode "
                             "each character with tokenizer(ch, add_special_tokens=False) and look for "
                             "tokenizer.unk_token_id; do not pair tokens with characters by position (a word is one "
                             "or several tokens, a space none).")
    if extra:
        raise ExerciseFailed(f"for text {text!r} you returned {extra}, but the tokenizer knows them (NFKC turns "
                             "full-width 'Ａ１' into 'a1' and 'ﬁ' into 'fi', it lower-cases, and it drops spaces and "
                             "zero-width characters). Hint: ask the tokenizer about each character, not the vocab "
                             "dict, and do not pair tokens with characters by position.")
    if got != expected:
        raise ExerciseFailed(f"for text {text!r} you returned {got}; expected {expected}: each character once, "
                             "in order of first appearance.")


@register("00.1", "unknown characters")
def check_unk_characters(answer: Any, seed: int = 0) -> str:
    """``answer(text, tokenizer)`` must return the [UNK] characters of ``text``, each once, in first-seen order.

    Edge cases: the empty text and a one-character text; full-width letters and digits, capitals, the 'ﬁ'
    ligature, '™' and '①' (all known after NFKC and lower-casing, so a vocab-dict lookup reports them wrongly);
    spaces, tabs, the ideographic space and zero-width characters (dropped by the tokenizer, so not unknown);
    accented letters (unknown: this tokenizer does not strip accents); emoji and rare characters (unknown);
    repeats (each character once); unknown characters after words and spaces (pairing ``tokenize(text)`` with
    the characters by position goes out of step there). Plus 20 random texts mixing all of these.
    Accepted: any way of asking the tokenizer, e.g. one character at a time or offsets of the whole text.
    """
    from ..tokenization import load_course_tokenizer

    expect_callable(answer, "unk_characters")
    tokenizer = load_course_tokenizer()
    random = rng(seed, "00.1")
    cases = [(text, expected) for text, expected in _CASES]
    for _ in range(20):
        text = _random_text(random)
        cases.append((text, reference_unk_characters(text, tokenizer)))
    for text, expected in cases:
        got = call_answer(answer, text, tokenizer)
        _compare(text, got, expected)
    return (f"All {len(cases)} test texts right, including emoji, rare and accented characters, full-width input, "
            "spaces and the empty text.")
