"""Lesson 07 exercises: BIO tags from spans, spans back from (possibly malformed) BIO tags, label alignment
for sub-word tokenizers, and entity-level F1 by hand, checked against seqeval.

Every checker runs fixed edge cases first (each one separates a usual wrong idea from the right one, so the
message names that idea), then random cases drawn from ``seed``.
"""

from __future__ import annotations

import random as _random
from typing import Any

from .core import (ExerciseFailed, as_int_list, as_number, call_answer, describe, expect_callable, register, rng,
                   short)

_TYPES = ("PER", "LOC", "ORG")


def _random_spans(random: _random.Random, length: int) -> list[tuple[str, int, int]]:
    """Non-overlapping spans in order, often side by side, often of the same type, one to four characters long."""
    spans: list[tuple[str, int, int]] = []
    position = random.randint(0, 2)
    kind = random.choice(_TYPES)
    while position < length:
        if random.random() < 0.55:
            end = min(length, position + random.randint(1, 4))
            if random.random() < 0.6:  # a new type; otherwise the same as the entity before (adjacent same-type)
                kind = random.choice(_TYPES)
            spans.append((kind, position, end))
            position = end
        else:
            position += random.randint(1, 3)
    return spans


# (length, spans) cases: adjacent entities of the same type, an entity at the very end, one-character entities,
# the empty sentence.
_SPAN_CASES = [
    (10, [("PER", 0, 3), ("LOC", 4, 6)]),
    (6, [("LOC", 0, 2), ("LOC", 2, 4), ("ORG", 5, 6)]),
    (5, []),
    (7, [("ORG", 3, 7)]),
    (0, []),
    (1, [("PER", 0, 1)]),
    (8, [("PER", 0, 1), ("PER", 1, 2), ("LOC", 5, 8)]),
]


def _as_tags(got: Any, where: str) -> list[str]:
    if isinstance(got, tuple):
        got = list(got)
    if not isinstance(got, list):
        raise ExerciseFailed(f"{where} you returned {describe(got)}; return a list of tag strings such as "
                             "['B-PER', 'I-PER', 'O'].")
    bad = [tag for tag in got if not isinstance(tag, str)]
    if bad:
        raise ExerciseFailed(f"{where} your list holds {short(bad[0])} ({type(bad[0]).__name__}), not a tag string: "
                             "return tags such as 'B-PER', 'I-PER', 'O', not label ids.")
    return got


@register("07.1", "BIO tags from entity spans")
def check_bio_from_spans(answer: Any, seed: int = 0) -> str:
    """``answer(length, spans)`` -> list of BIO tags; spans are ``(type, start, end)`` with ``end`` exclusive.

    Edge cases: two entities of the same type side by side (the second starts with B- again), an entity that
    ends at the last character, one-character entities (just B-), a sentence without entities, the empty
    sentence (``length`` 0: an empty list). Plus 25 random sentences of 0-30 characters with random spans, many
    of them adjacent and of the same type.
    Wrong ideas told apart: ``end`` taken as inclusive, I- for an entity right after one of the same type, B- on
    every character, I- on the first character, positions counted from 1, one tag too few, a string instead of
    a list, label ids instead of tag strings.
    Accepted: a list or a tuple of tag strings.
    """
    from ..ner import spans_to_bio

    expect_callable(answer, "bio_from_spans")
    random = rng(seed, "07.1")
    cases = list(_SPAN_CASES)
    for _ in range(25):
        length = random.randint(0, 30)
        cases.append((length, _random_spans(random, length)))
    for length, spans in cases:
        where = f"for length {length} and spans {spans}"
        got = _as_tags(call_answer(answer, length, list(spans)), where)
        expected = spans_to_bio(length, spans)
        if len(got) != length:
            raise ExerciseFailed(f"{where} you returned {len(got)} tags; return one tag per character ({length}). "
                                 "Is `end` exclusive in your loop?")
        if got == expected:
            continue
        where_wrong = next(i for i, (a, b) in enumerate(zip(got, expected)) if a != b)
        hint = ""
        if got == ["O"] + expected[:-1]:
            hint = (" Positions count from 0, like Python indices: the span ('PER', 0, 3) covers characters 0, 1 "
                    "and 2.")
        elif got[where_wrong].startswith("I-") and expected[where_wrong].startswith("B-"):
            previous = expected[where_wrong - 1] if where_wrong else "O"
            if previous != "O" and previous[2:] == expected[where_wrong][2:]:
                hint = (" The first character of every entity is B-, even right after another entity of the same "
                        "type: that is how BIO tells two neighbouring entities apart.")
            else:
                hint = " Every entity starts with B- on its first character; I- marks the characters after it."
        elif got[where_wrong].startswith("B-") and expected[where_wrong].startswith("I-"):
            hint = " Only the first character of an entity gets B-; the rest get I-."
        elif got[where_wrong] != "O" and expected[where_wrong] == "O":
            hint = " `end` is exclusive: the character at position `end` is not part of the entity."
        elif got[where_wrong] == "O" and expected[where_wrong] != "O":
            hint = " Cover every position from start up to (not including) end."
        raise ExerciseFailed(f"{where}, position {where_wrong} is {got[where_wrong]!r}; expected "
                             f"{expected[where_wrong]!r} (whole answer should be {expected}).{hint}")
    return (f"{len(cases)} sentences right: B- on each entity's first character, I- on the rest, O elsewhere, "
            "including adjacent same-type entities.")


_BIO_CASES = [
    ["B-PER", "I-PER", "I-PER", "O", "B-LOC", "I-LOC"],  # an entity that runs to the last tag
    ["B-LOC", "B-LOC", "I-LOC", "O"],  # two adjacent places
    ["I-PER", "I-PER", "O", "B-ORG"],  # I- without B- starts an entity; entity at the end
    ["B-PER", "I-LOC", "I-LOC", "O", "I-ORG"],  # type switch starts a new entity
    ["O", "O", "O"],
    [],
    ["B-ORG"],
    ["O", "I-LOC"],
]


def _random_tags(random: _random.Random) -> list[str]:
    """Tags as a model may predict them: mostly well formed, with malformed I- starts and type switches."""
    tags = []
    for _ in range(random.randint(0, 25)):
        roll = random.random()
        if roll < 0.45:
            tags.append("O")
        elif roll < 0.7:
            tags.append("B-" + random.choice(_TYPES))
        elif roll < 0.9 and tags and tags[-1] != "O":
            tags.append("I-" + tags[-1][2:])
        else:
            tags.append("I-" + random.choice(_TYPES))
    return tags


def _as_spans(got: Any, tags: list[str]) -> list[tuple[str, int, int]]:
    where = f"for tags {tags}"
    if isinstance(got, (str, bytes, dict)) or not isinstance(got, (list, tuple, set)):
        raise ExerciseFailed(f"{where} you returned {describe(got)}; return a list of (type, start, end) tuples.")
    spans = []
    for item in got:
        if not isinstance(item, (tuple, list)) or len(item) != 3:
            raise ExerciseFailed(f"{where} your result holds {short(item)}; return a list of (type, start, end) "
                                 "tuples such as ('PER', 0, 3).")
        kind, start, end = item
        if isinstance(kind, int) and isinstance(end, str):
            raise ExerciseFailed(f"{where} your result holds {tuple(item)!r}: put the type first, (type, start, end), "
                                 "such as ('PER', 0, 3).")
        if not isinstance(kind, str) or any(isinstance(x, bool) or not isinstance(x, int) for x in (start, end)):
            raise ExerciseFailed(f"{where} your result holds {short(item)}; return (type, start, end) with a type "
                                 "string and int positions, such as ('PER', 0, 3).")
        spans.append((kind, int(start), int(end)))
    return spans


def _strict_spans(tags: list[str]) -> list[tuple[str, int, int]]:
    """Spans read strictly: an I- that does not continue an entity is ignored (seqeval's *strict* mode drops it)."""
    spans, current = [], None
    for position, tag in enumerate(list(tags) + ["O"]):
        prefix, _, kind = tag.partition("-")
        if current is not None and not (prefix == "I" and kind == current[0]):
            spans.append((current[0], current[1], position))
            current = None
        if prefix == "B":
            current = (kind, position)
    return spans


@register("07.2", "entity spans from BIO tags, malformed ones included")
def check_spans_from_bio(answer: Any, seed: int = 0) -> str:
    """``answer(tags)`` -> list of ``(type, start, end)`` with ``end`` exclusive, read as seqeval reads them.

    Edge cases: an entity that runs to the last tag (it must be closed after the loop), two B- of the same type
    side by side (two entities), an I- at the start or after O (it starts an entity, as in seqeval and
    conlleval), an I- of another type right after an entity (a new entity), no entity, no tags at all, a
    one-tag sentence. Plus 25 random tag sequences with malformed I- tags.
    Wrong ideas told apart: dropping an I- that has no B- before it, letting I-LOC continue a PER entity,
    merging B-LOC B-LOC into one entity, ``end`` inclusive, forgetting the entity still open at the end,
    ``(start, end, type)`` order, the tag's prefix kept in the type ('B-PER'), a string instead of a list.
    Accepted: tuples or lists of (type, start, end), in a list, tuple or set, in any order.
    """
    from ..ner import bio_to_spans

    expect_callable(answer, "spans_from_bio")
    random = rng(seed, "07.2")
    cases = [list(tags) for tags in _BIO_CASES] + [_random_tags(random) for _ in range(25)]
    for tags in cases:
        got = _as_spans(call_answer(answer, list(tags)), tags)
        expected = bio_to_spans(tags)
        if sorted(got) == sorted(expected):
            continue
        hint = ""
        starts = {start for _, start, _ in got}
        missing = [span for span in expected if span not in got]
        missing_starts = [start for _, start, _ in missing if start not in starts]
        if any(kind[:2] in ("B-", "I-") for kind, _, _ in got):
            hint = " The type is the tag without its prefix: 'PER' for B-PER, not 'B-PER'."
        elif sorted((k, s, e - 1) for k, s, e in expected) == sorted(got):
            hint = " `end` must be exclusive (one past the last character), like Python slices."
        elif missing and all(end == len(tags) for _, _, end in missing) and len(got) < len(expected):
            hint = (" The entity that runs to the last tag is missing: after the loop, close the entity that is "
                    "still open (or loop over tags + ['O']).")
        elif any(tags[start].startswith("B-") for start in missing_starts):
            hint = " A B- tag always starts a new entity, even right after an entity of the same type."
        elif any(tags[start].startswith("I-") and start and tags[start - 1] != "O" for start in missing_starts):
            hint = (" An I-X right after an entity of another type does not continue it: the type changed, so a new "
                    "entity starts (seqeval and conlleval read it that way).")
        elif any(tags[start].startswith("I-") for start in missing_starts):
            hint = (" An I-X that does not continue an entity of type X (after O or at the start) still starts an "
                    "entity: seqeval and conlleval read it that way.")
        raise ExerciseFailed(f"for tags {tags} you returned {got}; expected {expected}.{hint}")
    return f"spans right for {len(cases)} tag sequences, read as seqeval does: I- without B-, type switches, ends."


# (word_ids, word_labels) -> aligned labels; label ids: 0 O, 1 B-PER, 2 I-PER, 3 B-LOC, 4 I-LOC.
_ALIGN_CASES = [
    ([None, 0, 1, 1, 1, 2, None], [1, 3, 0]),
    ([None, 0, 0, 1, None, None], [3, 0]),
    ([None, 0, 1, 2, None], [1, 2, 0]),
    ([None, None], []),
    ([None, 0, 0, 0, None], [0]),
]


def _random_word_ids(random: _random.Random) -> tuple[list, list[int]]:
    """word_ids() as a fast tokenizer gives them: [CLS], words of 1-4 pieces in order, [SEP], padding."""
    labels = [random.randint(0, 6) for _ in range(random.randint(0, 10))]
    word_ids: list = [None]
    for word in range(len(labels)):
        word_ids += [word] * random.choice((1, 1, 1, 2, 3, 4))
    word_ids += [None] * random.randint(1, 4)
    return word_ids, labels


@register("07.3", "align word labels to sub-word tokens")
def check_align_labels(answer: Any, seed: int = 0) -> str:
    """``answer(word_ids, word_labels)`` -> token labels: -100 for special tokens and for every piece but a word's first.

    Edge cases: a word of three pieces, a word of two pieces at the start, two trailing special tokens
    (padding), a sentence with no words at all, a label 0 (O) on a word of several pieces. Plus 20 random
    ``word_ids()`` lists (words of 1-4 pieces, padding at the end) with random labels.
    Wrong ideas told apart: labelling every piece, labelling the LAST piece instead of the first, 0 instead of
    -100 for special tokens, -1 instead of -100, one label per word instead of per token.
    Accepted: a list or tuple of ints, a 1-D integer tensor or array.
    """
    from ..token_classification import align_labels

    expect_callable(answer, "align_word_labels")
    random = rng(seed, "07.3")
    cases = [(list(w), list(l)) for w, l in _ALIGN_CASES] + [_random_word_ids(random) for _ in range(20)]
    for word_ids, labels in cases:
        where = f"for word_ids {word_ids} and labels {labels}"
        got = as_int_list(call_answer(answer, list(word_ids), list(labels)), f"{where}, your result")
        expected = align_labels(word_ids, labels)
        if len(got) != len(word_ids):
            raise ExerciseFailed(f"{where}: word_ids has {len(word_ids)} tokens but you returned {len(got)} labels: one "
                                 "per token, special tokens included.")
        if got == expected:
            continue
        i = next(i for i, (a, b) in enumerate(zip(got, expected)) if a != b)
        if got[i] < 0 and got[i] != -100:
            hint = (f" Token {i} got {got[i]}; the label the loss ignores is -100 (CrossEntropyLoss's ignore_index), "
                    "not any negative number.")
        elif word_ids[i] is None:
            hint = (f" Token {i} is a special token ([CLS], [SEP] or padding): give it -100 so the loss ignores it, "
                    f"not {got[i]} (a real label the model would be trained to predict).")
        elif expected[i] != -100:
            hint = (f" Token {i} is the FIRST piece of word {word_ids[i]}: it carries the word's label "
                    f"({labels[word_ids[i]]}); the later pieces get -100.")
        else:
            hint = (f" Token {i} is a later piece of word {word_ids[i]}: give it -100, so each word is counted once "
                    "and a continuation piece never claims B-.")
        raise ExerciseFailed(f"{where} you returned {got}; expected {expected}.{hint}")
    return (f"{len(cases)} alignments right: first piece of each word labelled, other pieces and special tokens "
            "-100, as the lesson's helper does.")


_F1_CASES = [
    ([["B-PER", "I-PER", "I-PER", "O", "B-LOC", "I-LOC", "O"], ["B-ORG", "I-ORG", "O"]],
     [["B-PER", "I-PER", "O", "O", "B-LOC", "I-LOC", "O"], ["B-LOC", "I-LOC", "O"]]),  # boundary and type errors
    ([["B-LOC", "I-LOC", "O", "B-PER", "I-PER"], ["O", "O", "O"]],
     [["B-LOC", "I-LOC", "O", "B-PER", "I-PER"], ["B-PER", "I-PER", "O"]]),  # a spurious entity
    ([["B-LOC", "I-LOC", "O", "O"]], [["O", "O", "O", "O"]]),  # nothing found
    ([["O", "I-PER", "I-PER", "O", "B-LOC"]], [["O", "I-PER", "I-PER", "O", "B-LOC"]]),  # malformed but identical
    ([["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "I-ORG", "I-ORG"]],
     [["I-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "I-ORG", "I-ORG"]]),  # a right entity predicted with I- only
    ([["B-PER", "I-PER", "O"], ["B-LOC", "O", "B-LOC"], ["O", "B-ORG"]],
     [["B-PER", "I-PER", "O"], ["B-LOC", "O", "O"], ["B-PER", "I-PER"]]),  # uneven sentences (micro vs averages)
]


def _random_f1_case(random: _random.Random) -> tuple[list[list[str]], list[list[str]]]:
    from ..ner import spans_to_bio

    gold, predicted = [], []
    for _ in range(random.randint(1, 5)):
        length = random.randint(1, 20)
        spans = _random_spans(random, length)
        guessed = []
        for kind, start, end in spans:
            roll = random.random()
            if roll < 0.55:
                guessed.append((kind, start, end))
            elif roll < 0.7:
                guessed.append((random.choice(_TYPES), start, end))
            elif roll < 0.85 and end - start > 1:
                guessed.append((kind, start, end - 1))
        tags = spans_to_bio(length, guessed)
        for position in range(length):  # spurious one-character entities where nothing was guessed
            if tags[position] == "O" and random.random() < 0.05:
                tags[position] = "B-" + random.choice(_TYPES)
            elif tags[position].startswith("B-") and random.random() < 0.1:
                tags[position] = "I-" + tags[position][2:]  # a malformed start
        gold.append(spans_to_bio(length, spans))
        predicted.append(tags)
    return gold, predicted


def _f1(counts: tuple[int, int, int]) -> float:
    correct, n_gold, n_predicted = counts
    precision = correct / n_predicted if n_predicted else 0.0
    recall = correct / n_gold if n_gold else 0.0
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def _counts(gold, predicted, reader) -> tuple[int, int, int]:
    correct = n_gold = n_predicted = 0
    for g, p in zip(gold, predicted):
        gold_spans, predicted_spans = set(reader(g)), set(reader(p))
        correct += len(gold_spans & predicted_spans)
        n_gold += len(gold_spans)
        n_predicted += len(predicted_spans)
    return correct, n_gold, n_predicted


@register("07.4", "entity-level F1 by hand")
def check_entity_f1(answer: Any, seed: int = 0) -> str:
    """``answer(true_tags, predicted_tags)`` -> micro-averaged entity F1, equal to ``seqeval.metrics.f1_score``.

    Edge cases: a right type with a wrong boundary and a right span with a wrong type (both errors), a spurious
    entity in a sentence without gold entities, nothing predicted (F1 0, with 0/0 taken as 0), malformed tags
    that agree, a right entity predicted with I- tags only (it counts: seqeval reads an I- start as an entity),
    sentences with different numbers of entities (so averaging per sentence or per type differs from pooling).
    Plus 20 random corpora of 1-5 sentences with boundary, type, missed, spurious and malformed predictions.
    Wrong ideas told apart: token accuracy, overlapping spans counted as matches, F1 averaged per sentence,
    F1 averaged per entity type (macro), precision or recall alone, I- starts ignored (strict reading).
    Accepted: any number type (float, NumPy, one-element tensor) within 1e-9 of seqeval.
    """
    from seqeval.metrics import f1_score

    from ..ner import bio_to_spans

    expect_callable(answer, "entity_f1")
    random = rng(seed, "07.4")
    cases = list(_F1_CASES) + [_random_f1_case(random) for _ in range(20)]
    for gold, predicted in cases:
        got = call_answer(answer, [list(s) for s in gold], [list(s) for s in predicted])
        value = as_number(got, "the F1 you returned")
        expected = float(f1_score(gold, predicted, zero_division=0))
        if abs(value - expected) <= 1e-9:
            continue
        flat_gold = [t for s in gold for t in s]
        flat_predicted = [t for s in predicted for t in s]
        token_accuracy = sum(a == b for a, b in zip(flat_gold, flat_predicted)) / max(1, len(flat_gold))
        correct, n_gold, n_predicted = _counts(gold, predicted, bio_to_spans)
        per_sentence = [_f1(_counts([g], [p], bio_to_spans)) for g, p in zip(gold, predicted)]
        macro = float(f1_score(gold, predicted, average="macro", zero_division=0))

        def near(x: float) -> bool:
            return abs(value - x) < 1e-9

        if near(token_accuracy):
            hint = " That is token accuracy; count whole entities (type, start, end) instead of tags."
        elif len(gold) > 1 and (near(sum(per_sentence) / len(per_sentence))
                                or near(sum(f1_score([g], [p], zero_division=1) for g, p in zip(gold, predicted))
                                        / len(gold))):
            hint = (" You averaged the F1 of each sentence; pool the counts (correct, predicted, gold entities) over "
                    "all sentences first, then compute one F1 (micro average).")
        elif near(macro) and not near(expected):
            hint = (" You averaged the F1 of each entity type (macro); pool the counts of all types together (micro "
                    "average), as seqeval's f1_score does by default.")
        elif n_predicted and near(correct / n_predicted):
            hint = " That is the precision alone; F1 combines it with the recall: 2PR/(P+R)."
        elif n_gold and near(correct / n_gold):
            hint = " That is the recall alone; F1 combines it with the precision: 2PR/(P+R)."
        elif near(_f1(_counts(gold, predicted, _strict_spans))):
            hint = (" An I-X that does not continue an entity (at the start or after O) starts one, as seqeval reads "
                    "it; read spans with your spans_from_bio.")
        elif value > expected:
            hint = (" An entity counts as correct only if its type AND both boundaries match exactly; partial "
                    "overlaps and right spans with the wrong type are errors.")
        elif expected == 0:
            hint = " With no correct entity the F1 is 0 (define 0/0 as 0)."
        else:
            hint = ""
        raise ExerciseFailed(f"for gold {gold} and predictions {predicted} you returned {value:.4f}; seqeval says "
                             f"{expected:.4f}. F1 = 2PR/(P+R), P = correct/predicted entities, R = correct/gold "
                             f"entities, over all sentences together.{hint}")
    return (f"matches seqeval's f1_score on {len(cases)} corpora, including boundary errors, type errors, malformed "
            "tags and spurious entities.")
