"""Classical baselines on the frozen review split: what a fine-tuned BERT has to beat.

* TF-IDF over character 1-3-grams + logistic regression (C=10), trained on 100 / 500 / 2,000 / all training labels
  (balanced subsets drawn exactly as lesson 03 draws them), test accuracy once each;
* snownlp's naive Bayes sentiment classifier (words from snownlp's segmenter, stop words removed), **retrained on
  the training split only**. snownlp's shipped model was trained on these very review files, test split included,
  so using it as-is would report a leaked, meaningless figure; it is measured here too, only to show how much.

    python bench/baselines.py            # a few minutes on 2 CPU cores (snownlp's segmenter is pure Python)
    python bench/baselines.py --draws-only   # only the spread of TF-IDF over 10 subset draws (seconds)

One balanced subset (seed 0) is what the lessons use, so every model is compared on the same reviews; the spread
of TF-IDF over ten draws (seeds 0-9) shows how much a single draw of 100 or 500 labels can move a figure.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score

from helpers.baselines import tfidf_accuracy
from helpers.classification import balanced_subset
from helpers.data import load_reviews
from helpers.env import hardware

RESULTS = Path(__file__).resolve().parent / "results"


def naive_bayes_accuracy(train_words: list[list[str]], train_labels: list[int], test_words, test_labels) -> float:
    """snownlp's Bayes classifier trained on already-segmented ``train_words``; accuracy at threshold 0.5."""
    from snownlp.classification.bayes import Bayes

    classifier = Bayes()
    classifier.train([[words, "pos" if label == 1 else "neg"] for words, label in zip(train_words, train_labels)])
    predictions = [1 if classifier.classify(words)[0] == "pos" else 0 for words in test_words]
    return float(accuracy_score(test_labels, predictions))


def segment(texts: list[str]) -> list[list[str]]:
    """snownlp's own pre-processing for sentiment: its word segmenter, then its stop-word filter."""
    from snownlp import normal, seg

    return [normal.filter_stop(seg.seg(text)) for text in texts]


def tfidf_draws(train, test, sizes, draws: int = 10) -> list[dict]:
    """TF-IDF test accuracy on ``draws`` different balanced subsets per size: mean, spread, extremes."""
    rows = []
    for size in sizes:
        scores = [tfidf_accuracy(balanced_subset(train, size, seed=seed), test) for seed in range(draws)]
        rows.append({"labels": size, "draws": draws, "mean": float(np.mean(scores)), "std": float(np.std(scores)),
                     "min": min(scores), "max": max(scores), "seed_0": scores[0]})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 500, 2000, 0], help="0 = all labels")
    parser.add_argument("--draws-only", action="store_true", help="only add the TF-IDF spread to baselines.json")
    args = parser.parse_args()
    reviews = load_reviews()
    train, test = reviews["train"], reviews["test"]
    draws = tfidf_draws(train, test, [size for size in args.sizes if size])
    if args.draws_only:
        report = json.loads((RESULTS / "baselines.json").read_text())
        report["tfidf_draws"] = draws
        (RESULTS / "baselines.json").write_text(json.dumps(report, indent=2) + "\n")
        print(json.dumps(draws, indent=2))
        return
    rows = []
    train_words, test_words = segment(list(train["text"])), segment(list(test["text"]))
    position = {text: index for index, text in enumerate(train["text"])}
    for size in args.sizes:
        subset = balanced_subset(train, size, seed=0) if size else train
        indices = [position[text] for text in subset["text"]]
        rows.append({
            "labels": len(subset),
            "tfidf_logistic_regression": tfidf_accuracy(subset, test),
            "snownlp_naive_bayes_retrained": naive_bayes_accuracy(
                [train_words[i] for i in indices], list(subset["label"]), test_words, list(test["label"])),
        })
        print(json.dumps(rows[-1]), flush=True)
    from snownlp import sentiment  # the shipped model, trained on all of these reviews: leaked

    leaked = accuracy_score(test["label"], [int(sentiment.classify(text) > 0.5) for text in test["text"]])
    report = {"hardware": hardware(), "test_examples": len(test), "results": rows, "snownlp_shipped_model_leaked_test_accuracy": float(leaked)}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "baselines.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
