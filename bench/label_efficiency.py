"""Does pretraining pay off downstream? The label-efficiency comparison under one protocol (helpers/finetune_protocol.py).

Arms: a pretrained checkpoint (``course-bert`` by default) and the same architecture from random initialisation
(``scratch``), optionally LoRA on the checkpoint; each fine-tuned on balanced draws of 100 / 500 / 2,000 / all
training labels, with a learning-rate grid, at least 300 optimizer steps, step and learning rate chosen on the
1,736 validation reviews, test scored once per run, 3 seeds (seed = label draw + initialisation). TF-IDF +
logistic regression is trained on the same draws. Every run is saved as it ends, so an interrupted grid resumes.

    python bench/label_efficiency.py                                   # the full grid (hours on 2 CPU cores)
    python bench/label_efficiency.py --labels 500 --arms course-bert scratch
    python bench/label_efficiency.py --labels 500 --checkpoint runs/candidate --name candidate --arms course-bert
    python bench/label_efficiency.py --summary                         # print the table of what has run

Results: bench/results/label_efficiency.json (``--name`` writes label_efficiency_<name>.json instead).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

import torch
from transformers import BertForSequenceClassification

from helpers.classification import MeanPoolingBertForSequenceClassification
from helpers.data import load_reviews
from helpers.env import hardware
from helpers.finetune_protocol import (FULL_GRID, PEFT_GRID, Arm, Protocol, prepare_data, protocol_record, run_grid,
                                       select_on_validation, summarise)
from helpers.finetune_strategies import peft_model
from helpers.models import load_pretrained, load_tokenizer
from helpers.profiles import gpu_mixed_precision

RESULTS = Path(__file__).resolve().parent / "results"
ALL_LABELS = 0  # command-line stand-in for "every training label"


def make_arms(checkpoint: str, names: list[str], learning_rates: tuple[float, ...] | None,
              pooling: str = "cls") -> list[Arm]:
    """The arms named on the command line, built from ``checkpoint``; ``pooling`` "mean" classifies the mean token."""
    model_class = MeanPoolingBertForSequenceClassification if pooling == "mean" else BertForSequenceClassification

    def pretrained(seed: int):
        return load_pretrained(model_class, checkpoint, num_labels=2)

    def scratch(seed: int):
        return model_class(pretrained(seed).config)

    def lora(seed: int):
        return peft_model(pretrained(seed), "lora")

    builders = {"course-bert": (pretrained, FULL_GRID), "scratch": (scratch, FULL_GRID), "lora": (lora, PEFT_GRID)}
    labels = {"course-bert": "pretrained", "scratch": "from scratch", "lora": "LoRA r=8 on the pretrained model"}
    return [Arm(labels[name], builders[name][0], learning_rates or builders[name][1]) for name in names]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, nargs="+", default=[100, 500, 2000, ALL_LABELS],
                        help="training label counts; 0 = all 13,891")
    parser.add_argument("--arms", nargs="+", default=["course-bert", "scratch"], choices=["course-bert", "scratch", "lora"])
    parser.add_argument("--checkpoint", default="course-bert", help="pretrained checkpoint (alias or folder)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--lrs", type=float, nargs="+", default=None, help="override every arm's learning-rate grid")
    parser.add_argument("--min-steps", type=int, default=300)
    parser.add_argument("--min-epochs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default=None,
                        help="cpu or cuda (default: cuda where available, with bf16/fp16 autocast by GPU generation)")
    parser.add_argument("--pooling", choices=("cls", "mean"), default="cls",
                        help="sentence vector: the pooled [CLS] token, or the mean of the token vectors")
    parser.add_argument("--name", default=None, help="results file suffix (e.g. an ablation candidate)")
    parser.add_argument("--summary", action="store_true", help="only print the table of the saved runs")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    path = RESULTS / (f"label_efficiency_{args.name}.json" if args.name else "label_efficiency.json")
    saved = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    precision = gpu_mixed_precision(device.index or 0) if device.type == "cuda" else None
    protocol = Protocol(seeds=tuple(args.seeds), min_steps=args.min_steps, min_epochs=args.min_epochs,
                        mixed_precision=precision)
    if not args.summary:
        if saved and saved.get("checkpoint") not in (None, args.checkpoint):
            parser.error(f"{path} holds runs of {saved['checkpoint']!r}; use --name for another checkpoint")
        if saved and saved.get("pooling", "cls") != args.pooling:
            parser.error(f"{path} holds runs with {saved.get('pooling', 'cls')} pooling; use --name for {args.pooling}")
        tokenizer = load_tokenizer(args.checkpoint if args.checkpoint.startswith("course-") else "course-bert")
        data = prepare_data(load_reviews(), tokenizer, protocol)
        arms = make_arms(args.checkpoint, args.arms, tuple(args.lrs) if args.lrs else None, args.pooling)
        report = {"description": __doc__.splitlines()[0], "checkpoint": args.checkpoint,
                  "protocol": protocol_record(protocol), "pooling": args.pooling, "hardware": hardware(device),
                  "command": "python bench/label_efficiency.py " + " ".join(argv if argv is not None else sys.argv[1:]),
                  "runs": saved.get("runs", [])}

        def save(row: dict) -> None:
            report["runs"].append(row)
            report["date"] = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d")
            RESULTS.mkdir(exist_ok=True)
            path.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
            print(json.dumps(row), flush=True)

        label_sizes = [None if n == ALL_LABELS else n for n in args.labels]
        run_grid(arms, label_sizes, data, protocol, device=device, done=report["runs"], on_row=save,
                 progress=sys.stderr.isatty())
        saved = report
    if not saved.get("runs"):
        print("no runs saved yet")
        return 1
    table = summarise(select_on_validation(saved["runs"]))
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
