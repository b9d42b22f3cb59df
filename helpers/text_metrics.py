"""Measuring generated text: diversity (distinct-n) and repetition, for Chinese at the character level."""

from __future__ import annotations


def _ngrams(text: str, n: int) -> list[str]:
    return [text[i : i + n] for i in range(len(text) - n + 1)]


def distinct_n(texts: list[str], n: int) -> float:
    """Distinct n-grams divided by all n-grams, pooled over ``texts`` (Li et al., 2016). 1.0 = no n-gram repeats."""
    if isinstance(texts, str) or not isinstance(n, int) or n < 1:
        raise ValueError("distinct_n needs a list of texts and an int n >= 1")
    grams = [gram for text in texts for gram in _ngrams(text, n)]
    return len(set(grams)) / len(grams) if grams else 0.0


def repetition_rate(texts: list[str], n: int = 4) -> float:
    """Share of n-grams that already occurred earlier in the same text: loops like 的的的 or 人民族人民族."""
    if isinstance(texts, str):
        raise ValueError("repetition_rate needs a list of texts")
    repeated = total = 0
    for text in texts:
        seen: set[str] = set()
        for gram in _ngrams(text, n):
            repeated += gram in seen
            total += 1
            seen.add(gram)
    return repeated / total if total else 0.0


def copies_stretch(text: str, corpus: str, window: int = 20) -> bool:
    """True if some ``window``-character stretch of ``text`` occurs verbatim in ``corpus`` (memorisation check)."""
    if not isinstance(text, str) or not isinstance(corpus, str):
        raise TypeError("copies_stretch needs two strings")
    if not isinstance(window, int) or window < 1:
        raise ValueError(f"window must be a positive int, got {window!r}")
    return any(text[i : i + window] in corpus for i in range(len(text) - window + 1))
