"""Padding benchmark: the seeds' pad-every-review-to-512 recipe vs dynamic padding vs dynamic padding + length grouping.

Same model (course-bert + a new classification head, same seed), same training reviews, same epochs, same
``Trainer`` settings; only the padding changes:

* ``pad to 512``: ``tokenizer(..., padding="max_length", max_length=512)``, as in the seeds;
* ``dynamic``: no padding at tokenization, ``DataCollatorWithPadding`` pads each batch to its longest review;
* ``dynamic + group_by_length``: the same, and ``train_sampling_strategy="group_by_length"`` puts reviews of
  similar length in the same batch, so there is little left to pad.

Reports training time per epoch, the share of padding tokens the model processed, and validation / test
accuracy (evaluation always uses dynamic padding: the attention mask makes the padded and unpadded inputs
give the same predictions, so only training cost differs).

    python bench/padding.py                  # 2,000 reviews, 2 epochs (about 15 minutes on 2 CPU cores)
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import transformers
from transformers import (BertForSequenceClassification, DataCollatorWithPadding, Trainer, TrainingArguments,
                          default_data_collator)

from helpers.classification import balanced_subset
from helpers.data import load_reviews
from helpers.models import load_pretrained, load_tokenizer
from helpers.env import hardware

RESULTS = Path(__file__).resolve().parent / "results"
VARIANTS = ("pad to 512", "dynamic", "dynamic + group_by_length")


def accuracy(eval_prediction) -> dict[str, float]:
    logits, labels = eval_prediction
    return {"accuracy": float((np.argmax(logits, axis=-1) == labels).mean())}


def run_variant(name: str, train_texts, validation, test, tokenizer, args) -> dict:
    padded = name == "pad to 512"
    train = train_texts.map(
        lambda batch: tokenizer(batch["text"], truncation=True, max_length=512,
                                padding="max_length" if padded else False),
        batched=True, remove_columns=["text"])
    transformers.set_seed(args.seed)
    model = load_pretrained(BertForSequenceClassification, "course-bert", num_labels=2)
    with tempfile.TemporaryDirectory() as output_dir:
        training_args = TrainingArguments(
            output_dir=output_dir, num_train_epochs=args.epochs, per_device_train_batch_size=args.batch_size,
            per_device_eval_batch_size=128, learning_rate=args.learning_rate, warmup_steps=0.1,
            weight_decay=0.01, seed=args.seed, report_to="none", save_strategy="no", eval_strategy="no",
            logging_strategy="no", disable_tqdm=True, use_cpu=not torch.cuda.is_available(),
            train_sampling_strategy="group_by_length" if name.endswith("group_by_length") else "random",
        )
        trainer = Trainer(model=model, args=training_args, train_dataset=train,
                          data_collator=default_data_collator if padded else DataCollatorWithPadding(tokenizer),
                          processing_class=tokenizer, compute_metrics=accuracy)
        pad_share = _padding_share(trainer)
        start = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - start
        trainer.data_collator = DataCollatorWithPadding(tokenizer)
        figures = {split: trainer.evaluate(dataset, metric_key_prefix=split)[f"{split}_accuracy"]
                   for split, dataset in (("validation", validation), ("test", test))}
    return {"seconds_per_epoch": round(seconds / args.epochs, 1), "padding_share": round(pad_share, 3),
            "validation_accuracy": figures["validation"], "test_accuracy": figures["test"]}


def _padding_share(trainer: Trainer) -> float:
    """Share of the token positions in one epoch of training batches that are padding."""
    pads = total = 0
    for batch in trainer.get_train_dataloader():
        pads += int((batch["attention_mask"] == 0).sum())
        total += batch["attention_mask"].numel()
    return pads / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-examples", type=int, default=None, help="limit validation/test (quick checks)")
    args = parser.parse_args()
    transformers.logging.set_verbosity_error()
    tokenizer = load_tokenizer("course-bert")
    reviews = load_reviews()
    train_texts = balanced_subset(reviews["train"], args.examples, seed=args.seed)

    def prepare(split):
        data = reviews[split] if args.eval_examples is None else reviews[split].select(range(args.eval_examples))
        return data.map(lambda b: tokenizer(b["text"], truncation=True, max_length=512), batched=True,
                        remove_columns=["text"])

    validation, test = prepare("validation"), prepare("test")
    rows = {}
    for name in VARIANTS:
        rows[name] = run_variant(name, train_texts, validation, test, tokenizer, args)
        print(name, json.dumps(rows[name]), flush=True)
    baseline = rows["pad to 512"]["seconds_per_epoch"]
    for row in rows.values():
        row["speedup_vs_512"] = round(baseline / row["seconds_per_epoch"], 2)
    report = {"hardware": hardware(), "torch": torch.__version__, "transformers": transformers.__version__,
              "threads": torch.get_num_threads(), "examples": args.examples, "epochs": args.epochs,
              "batch_size": args.batch_size, "results": rows}
    if args.eval_examples is None:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "padding.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
