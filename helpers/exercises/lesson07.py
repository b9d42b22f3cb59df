"""Lesson 07 exercises: BIO tags from spans, spans back from (possibly malformed) BIO tags, label alignment
for sub-word tokenizers, and entity-level F1 by hand, checked against seqeval."""

from __future__ import annotations

from typing import Any

from .core import ExerciseFailed, call_answer, expect_callable, register

# (length, spans) cases: adjacent entities of the same type, an entity at the very end, a one-character entity.
_SPAN_CASES = [
    (10, [("PER", 0, 3), ("LOC", 4, 6)]),
    (6, [("LOC", 0, 2), ("LOC", 2, 4), ("ORG", 5, 6)]),
    (5, []),
    (7, [("ORG", 3, 7)]),
]


def _as_tag_list(got: Any, what: str) -> list:
    if isinstance(got, str) or not hasattr(got, "__len__"):
        raise ExerciseFailed(f"{what} must be a list of tag strings such as ['B-PER', 'I-PER', 'O']; got {got!r}.")
    return list(got)


@register("07.1", "BIO tags from entity spans")
def check_bio_from_spans(answer: Any) -> str:
    """``answer(length, spans)`` -> list of BIO tags; spans are ``(type, start, end)`` with ``end`` exclusive."""
    from ..ner import spans_to_bio

    expect_callable(answer, "bio_from_spans")
    for length, spans in _SPAN_CASES:
        got = _as_tag_list(call_answer(answer, length, list(spans)), "the result")
        expected = spans_to_bio(length, spans)
        if len(got) != length:
            raise ExerciseFailed(f"for length {length} and spans {spans} you returned {len(got)} tags; return one tag "
                                 f"per character ({length}). Is `end` exclusive in your loop?")
        if got == expected:
            continue
        where = next(i for i, (a, b) in enumerate(zip(got, expected)) if a != b)
        hint = ""
        if got[where].startswith("I-") and expected[where].startswith("B-"):
            hint = " The first character of every entity is B-, even right after another entity of the same type."
        elif got[where].startswith("B-") and expected[where].startswith("I-"):
            hint = " Only the first character of an entity gets B-; the rest get I-."
        elif got[where] != "O" and expected[where] == "O":
            hint = " `end` is exclusive: the character at position `end` is not part of the entity."
        elif got[where] == "O" and expected[where] != "O":
            hint = " Cover every position from start up to (not including) end."
        raise ExerciseFailed(f"for length {length} and spans {spans}, position {where} is {got[where]!r}; expected "
                             f"{expected[where]!r} (whole answer should be {expected}).{hint}")
    return "B- on each entity's first character, I- on the rest, O elsewhere, including adjacent same-type entities."


_BIO_CASES = [
    ["B-PER", "I-PER", "I-PER", "O", "B-LOC", "I-LOC"],
    ["B-LOC", "B-LOC", "I-LOC", "O"],          # two adjacent places
    ["I-PER", "I-PER", "O", "B-ORG"],          # I- without B- starts an entity; entity at the end
    ["B-PER", "I-LOC", "I-LOC", "O", "I-ORG"],  # type switch starts a new entity
    ["O", "O", "O"],
]


@register("07.2", "entity spans from BIO tags, malformed ones included")
def check_spans_from_bio(answer: Any) -> str:
    """``answer(tags)`` -> list of ``(type, start, end)`` with ``end`` exclusive, read as seqeval reads them."""
    from ..ner import bio_to_spans

    expect_callable(answer, "spans_from_bio")
    for tags in _BIO_CASES:
        got = call_answer(answer, list(tags))
        if isinstance(got, str) or not hasattr(got, "__iter__"):
            raise ExerciseFailed(f"return a list of (type, start, end) tuples; got {got!r}.")
        try:
            got = [(str(kind), int(start), int(end)) for kind, start, end in got]
        except (TypeError, ValueError):
            raise ExerciseFailed(f"return a list of (type, start, end) tuples such as ('PER', 0, 3); got {got!r}.") from None
        expected = bio_to_spans(tags)
        if got == expected:
            continue
        hint = ""
        starts = {start for _, start, _ in got}
        missing_starts = [start for _, start, _ in expected if start not in starts]
        if [(k, s, e - 1) for k, s, e in expected] == got:
            hint = " `end` must be exclusive (one past the last character), like Python slices."
        elif any(tags[start].startswith("B-") for start in missing_starts):
            hint = " A B- tag always starts a new entity, even right after an entity of the same type."
        elif any(tags[start].startswith("I-") for start in missing_starts):
            hint = (" An I-X that does not continue an entity of type X (after O, at the start, or after another "
                    "type) still starts an entity: seqeval and conlleval read it that way.")
        raise ExerciseFailed(f"for tags {tags} you returned {got}; expected {expected}.{hint}")
    return "spans match seqeval's reading, including I- without B- and type switches."


# (word_ids, word_labels) -> aligned labels; label ids: 0 O, 1 B-PER, 2 I-PER, 3 B-LOC, 4 I-LOC.
_ALIGN_CASES = [
    ([None, 0, 1, 1, 1, 2, None], [1, 3, 0]),
    ([None, 0, 0, 1, None, None], [3, 0]),
    ([None, 0, 1, 2, None], [1, 2, 0]),
]


@register("07.3", "align word labels to sub-word tokens")
def check_align_labels(answer: Any) -> str:
    """``answer(word_ids, word_labels)`` -> token labels: -100 for special tokens and for every piece but a word's first."""
    from ..token_classification import align_labels

    expect_callable(answer, "align_word_labels")
    for word_ids, labels in _ALIGN_CASES:
        got = call_answer(answer, list(word_ids), list(labels))
        if isinstance(got, str) or not hasattr(got, "__len__"):
            raise ExerciseFailed(f"return a list of ints, one per token; got {got!r}.")
        got = [int(x) for x in got]
        expected = align_labels(word_ids, labels)
        if len(got) != len(word_ids):
            raise ExerciseFailed(f"word_ids has {len(word_ids)} tokens but you returned {len(got)} labels: one per "
                                 "token, special tokens included.")
        if got == expected:
            continue
        where = next(i for i, (a, b) in enumerate(zip(got, expected)) if a != b)
        if word_ids[where] is None:
            hint = (f" Token {where} is a special token ([CLS], [SEP] or padding): give it -100 so the loss ignores it"
                    f", not {got[where]} (a real label the model would be trained to predict).")
        else:
            hint = (f" Token {where} is a later piece of word {word_ids[where]}: give it -100, so each word is "
                    "counted once and a continuation piece never claims B-.")
        raise ExerciseFailed(f"for word_ids {word_ids} and labels {labels} you returned {got}; expected {expected}.{hint}")
    return "first piece of each word labelled, other pieces and special tokens -100: what the lesson's helper does."


_F1_CASES = [
    ([["B-PER", "I-PER", "I-PER", "O", "B-LOC", "I-LOC", "O"], ["B-ORG", "I-ORG", "O"]],
     [["B-PER", "I-PER", "O", "O", "B-LOC", "I-LOC", "O"], ["B-LOC", "I-LOC", "O"]]),   # boundary and type errors
    ([["B-LOC", "I-LOC", "O", "B-PER", "I-PER"], ["O", "O", "O"]],
     [["B-LOC", "I-LOC", "O", "B-PER", "I-PER"], ["B-PER", "I-PER", "O"]]),               # a spurious entity
    ([["B-LOC", "I-LOC", "O", "O"]], [["O", "O", "O", "O"]]),                             # nothing found
    ([["O", "I-PER", "I-PER", "O", "B-LOC"]], [["O", "I-PER", "I-PER", "O", "B-LOC"]]),   # malformed but identical
]


@register("07.4", "entity-level F1 by hand")
def check_entity_f1(answer: Any) -> str:
    """``answer(true_tags, predicted_tags)`` -> micro-averaged entity F1, equal to ``seqeval.metrics.f1_score``."""
    from seqeval.metrics import f1_score

    expect_callable(answer, "entity_f1")
    for gold, predicted in _F1_CASES:
        got = call_answer(answer, [list(s) for s in gold], [list(s) for s in predicted])
        try:
            value = float(got)
        except (TypeError, ValueError):
            raise ExerciseFailed(f"return one number (the F1), got {got!r}.") from None
        expected = float(f1_score(gold, predicted, zero_division=0))
        if abs(value - expected) <= 1e-9:
            continue
        flat_gold = [t for s in gold for t in s]
        flat_predicted = [t for s in predicted for t in s]
        token_accuracy = sum(a == b for a, b in zip(flat_gold, flat_predicted)) / len(flat_gold)
        hint = ""
        if abs(value - token_accuracy) < 1e-9:
            hint = " That is token accuracy; count whole entities (type, start, end) instead of tags."
        elif value > expected:
            hint = (" An entity counts as correct only if its type AND both boundaries match exactly; partial overlaps"
                    " and right spans with the wrong type are errors.")
        elif expected == 0:
            hint = " With no correct entity the F1 is 0 (define 0/0 as 0)."
        raise ExerciseFailed(f"for gold {gold} and predictions {predicted} you returned {value:.4f}; seqeval says "
                             f"{expected:.4f}. F1 = 2PR/(P+R), P = correct/predicted entities, R = correct/gold "
                             f"entities, over all sentences together.{hint}")
    return "matches seqeval's f1_score, including boundary errors, type errors and spurious entities."
