"""Facts about the course's data, tokenizer and models that lessons and the interview bank quote.

Every figure here is deterministic (no training, no timing): split sizes and label shares, review lengths, the
tokenizer's vocabulary and [UNK] rate, the course BERT's parameter counts, and what each PEFT method of lesson 03
trains and saves. ``tests/test_interview_figures.py`` recomputes them and compares with the file, so the file
cannot drift from the code.

    python bench/course_facts.py        # writes bench/results/course_facts.json
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
import statistics
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def data_facts() -> dict:
    from helpers.data import load_reviews

    reviews = load_reviews()
    train_lengths = [len(text) for text in reviews["train"]["text"]]
    window = [label for text, label in zip(reviews["train"]["text"], reviews["train"]["label"]) if 175 <= len(text) <= 191]
    return {
        "train": len(reviews["train"]), "validation": len(reviews["validation"]), "test": len(reviews["test"]),
        "positive_share": {split: sum(reviews[split]["label"]) / len(reviews[split]) for split in reviews},
        "validation_negative_share": 1 - sum(reviews["validation"]["label"]) / len(reviews["validation"]),
        "train_median_characters": statistics.median(train_lengths),
        # the shortest length that at least 90% of training reviews do not exceed
        "train_p90_characters": sorted(train_lengths)[math.ceil(0.9 * len(train_lengths)) - 1],
        "train_reviews_175_to_191_characters": len(window),
        "positive_share_175_to_191_characters": sum(window) / len(window),
    }


def tokenizer_facts() -> dict:
    from helpers.data import load_reviews
    from helpers.tokenization import load_course_tokenizer, unk_rate

    tokenizer = load_course_tokenizer()
    reviews = load_reviews()
    median_text = sorted(reviews["train"]["text"], key=len)[len(reviews["train"]) // 2]
    median_tokens = len(tokenizer(median_text)["input_ids"])  # with [CLS] and [SEP]
    return {
        "vocab_size": len(tokenizer),
        "unk_rate_test": unk_rate(tokenizer, list(reviews["test"]["text"])),
        "median_review_tokens": median_tokens,
        "padding_share_512_linear": 1 - median_tokens / 512,  # share of projection/FFN work spent on padding
        "padding_share_512_attention": 1 - (median_tokens / 512) ** 2,  # share of the n x n attention scores
    }


def model_facts(with_sizes: bool = True) -> dict:
    """Parameter counts of the course BERT classifier and of each PEFT method; saved sizes with ``with_sizes``."""
    import torch
    from transformers import BertForSequenceClassification

    from helpers.finetune_strategies import PEFT_METHODS, freeze_encoder, peft_model, saved_size
    from helpers.models import load_pretrained
    from helpers.training import count_parameters

    torch.manual_seed(0)
    loaded = load_pretrained(BertForSequenceClassification, "course-bert", num_labels=2)

    def fresh():
        return copy.deepcopy(loaded)

    model = fresh()
    _, total = count_parameters(model)
    embedding = model.bert.embeddings.word_embeddings.weight.numel()
    head, _ = count_parameters(freeze_encoder(fresh()))
    peft = {}
    for method in PEFT_METHODS:
        wrapped = peft_model(fresh(), method)
        trainable, wrapped_total = count_parameters(wrapped)
        peft[method] = {
            "trainable": trainable,
            "trainable_percent": 100 * trainable / wrapped_total,  # as lesson 03 counts it (adapters included)
            "adapter_only": trainable - head,  # without the pooler and classifier that train alongside
        }
        if with_sizes:  # before training (AdaLoRA's shrinks as it prunes ranks)
            peft[method]["saved_mb"] = saved_size(wrapped) / 2**20
    facts = {
        "bert_classifier_parameters": total,
        "word_embedding_parameters": embedding,
        "word_embedding_share": embedding / total,
        "head_parameters": head,  # pooler + classifier
        "peft": peft,
    }
    if with_sizes:
        facts["full_model_saved_mb"] = saved_size(model) / 2**20
    return facts


def measure() -> dict:
    """Every fact, as the dict written to ``course_facts.json`` (without the date and hardware)."""
    return {"data": data_facts(), "tokenizer": tokenizer_facts(), "models": model_facts()}


def main() -> None:
    from helpers.env import hardware

    report = {"about": __doc__.splitlines()[0], "command": "python bench/course_facts.py", "hardware": hardware(),
              "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d"), **measure()}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "course_facts.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
