"""Does pretraining pay off downstream? Course BERT vs the same architecture from scratch, few labels.

Fine-tunes ``course-bert`` and a randomly initialised copy on a balanced subset of the review training split
(500 labels by default), selects the epoch on validation, and reports test accuracy once, next to the TF-IDF
+ logistic-regression baseline trained on the same labels.

    python bench/label_efficiency.py --labels 500 --epochs 8
    python bench/label_efficiency.py --labels 13891 --epochs 2 --models course-bert     # all labels
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from transformers import BertForSequenceClassification

from helpers.classification import FineTuneSettings, balanced_subset, evaluate_classifier, tokenize_dataset, train_classifier
from helpers.data import load_reviews
from helpers.models import load_pretrained
from helpers.env import hardware
from helpers.tokenization import load_course_tokenizer

RESULTS = Path(__file__).resolve().parent / "results"


def tfidf_accuracy(train, test) -> float:
    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True)
    classifier = LogisticRegression(C=10, max_iter=2000).fit(vectorizer.fit_transform(train["text"]), train["label"])
    return float(classifier.score(vectorizer.transform(test["text"]), test["label"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, default=500)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--lr-pretrained", type=float, default=1e-4)
    parser.add_argument("--lr-scratch", type=float, default=5e-4)
    parser.add_argument("--models", nargs="+", default=["course-bert", "scratch"], choices=["course-bert", "scratch"])
    args = parser.parse_args()
    tokenizer = load_course_tokenizer()
    reviews = load_reviews()
    subset = (balanced_subset(reviews["train"], args.labels, seed=0) if args.labels < len(reviews["train"])
              else reviews["train"])
    train, validation, test = (tokenize_dataset(d, tokenizer, args.max_length)
                               for d in (subset, reviews["validation"], reviews["test"]))
    rows = {"tf-idf + logistic regression": {"test_accuracy": tfidf_accuracy(subset, reviews["test"])}}
    for name, lr in (("course-bert", args.lr_pretrained), ("scratch", args.lr_scratch)):
        if name not in args.models:
            continue
        torch.manual_seed(0)
        model = load_pretrained(BertForSequenceClassification, "course-bert", num_labels=2)
        if name == "scratch":
            model = BertForSequenceClassification(model.config)
        result = train_classifier(model, train, validation, tokenizer,
                                  FineTuneSettings(epochs=args.epochs, learning_rate=lr), progress=False)
        rows[name] = {"best_epoch": result.best_epoch, "validation_accuracy": result.best_validation_accuracy,
                      "test_accuracy": evaluate_classifier(model, test, tokenizer)["accuracy"],
                      "seconds": round(result.seconds, 1), "learning_rate": lr}
        print(name, json.dumps(rows[name]), flush=True)
    report = {"hardware": hardware(), "labels": args.labels, "epochs": args.epochs, "results": rows}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"label_efficiency_{args.labels}.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
