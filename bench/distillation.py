"""How lesson 08's 2-layer student is set up, chosen on validation: initialisation, learning rate, labels vs
distillation, over seeds.

Every arm trains the same 2-layer BERT student on the profile's training reviews (the teacher's own training set),
same epochs, batches (length-grouped) and seed, through :func:`helpers.compression.train_student`; arms differ only
in how the student starts, the learning rate, and the loss (labels only, or the distillation loss with T=2, alpha=0.5
against the cached teacher's logits). Validation accuracy (best epoch) chooses; test accuracy is reported for
the record. With ``--transfer``, two more arms: a distilled student trained on the
labelled reviews plus other training reviews whose labels it never sees (the teacher's soft targets are all it
gets for them: the transfer set of Hinton et al.), and, so that more optimizer steps alone cannot explain a gain,
a labels-only student trained for about as many steps (more epochs over the labelled reviews).

    python bench/distillation.py                       # cpu profile, seeds 0
    python bench/distillation.py --seeds 1 2 --inits teacher-0-2 --lrs 3e-4 --append   # more seeds, kept with the rest
    python bench/distillation.py --inits teacher-0-2 --lrs 3e-4 --seeds 0 1 2 --transfer -1 --append \\
        --arms "distilled + transfer set" "labels only, same steps"
        # + a distilled student that also sees the other training reviews unlabelled (teacher's soft targets only),
        #   and a labels-only student given the same number of optimizer steps
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load_test import RESULTS, save_section  # noqa: E402

from helpers import set_seed  # noqa: E402
from helpers.classification import FineTuneSettings, balanced_subset, tokenize_dataset  # noqa: E402
from helpers.compression import (logits_by_length, student_from_checkpoint, student_from_teacher, torch_runner,  # noqa: E402
                                 train_student, with_transfer_set)
from helpers.data import head, load_reviews  # noqa: E402
from helpers.deployment import load_or_train_classifier  # noqa: E402
from helpers.env import hardware, quiet_libraries  # noqa: E402
from helpers.loadtest import machine_load  # noqa: E402
from helpers.profiles import get_profile  # noqa: E402

ARMS = ("labels only", "distilled", "distilled + transfer set", "labels only, same steps")
INITS = {
    "course-bert-0-1": lambda teacher: student_from_checkpoint("course-bert", 2),
    "teacher-0-1": lambda teacher: student_from_teacher(teacher, (0, 1)),
    "teacher-0-2": lambda teacher: student_from_teacher(teacher, (0, 2)),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu", choices=("smoke", "cpu", "gpu"))
    parser.add_argument("--inits", nargs="+", default=list(INITS), choices=list(INITS))
    parser.add_argument("--lrs", nargs="+", type=float, default=[1e-4, 3e-4])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--append", action="store_true", help="add these runs to the saved ones (more seeds)")
    parser.add_argument("--transfer", type=int, default=0,
                        help="also train a distilled student on the labelled reviews plus this many other training "
                             "reviews without their labels (the teacher's soft targets only; -1 = all the rest), "
                             "and a labels-only student for the same number of optimizer steps")
    parser.add_argument("--arms", nargs="+", default=None, choices=ARMS,
                        help="train only these arms (default: all, the transfer ones only with --transfer)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    quiet_libraries()
    profile = get_profile(args.profile)
    classifier = load_or_train_classifier(profile)
    teacher, tokenizer = classifier.model, classifier.tokenizer
    max_length = classifier.record["recipe"]["max_length"]
    reviews = load_reviews()
    train_raw = balanced_subset(reviews["train"], profile.train_examples) if profile.train_examples else reviews["train"]
    train = tokenize_dataset(train_raw, tokenizer, max_length)
    validation = tokenize_dataset(head(reviews["validation"], profile.eval_examples), tokenizer, max_length)
    test_raw = head(reviews["test"], profile.eval_examples)
    teacher_logits = logits_by_length(torch_runner(teacher), tokenizer, list(train_raw["text"]), max_length)
    arms = [("labels only", None, train, 1), ("distilled", teacher_logits, train, 1)]
    if args.arms and not args.transfer and set(args.arms) & set(ARMS[2:]):
        parser.error("the transfer-set arms need --transfer N (other training reviews to add, -1 = all)")
    if args.transfer:
        transfer_raw = with_transfer_set(train_raw, reviews["train"], None if args.transfer < 0 else args.transfer)
        transfer = tokenize_dataset(transfer_raw, tokenizer, max_length)
        extra_logits = logits_by_length(torch_runner(teacher), tokenizer, list(transfer_raw["text"][len(train_raw):]),
                                        max_length)  # the labelled rows come first and are scored already
        transfer_logits = np.concatenate([teacher_logits, extra_logits])
        # labels only for as many optimizer steps as the transfer arm takes (epochs on the smaller set)
        same_steps = max(1, round(len(transfer) / len(train)))
        arms += [("distilled + transfer set", transfer_logits, transfer, 1),
                 ("labels only, same steps", None, train, same_steps)]
    test_logits = logits_by_length(torch_runner(teacher), tokenizer, list(test_raw["text"]), max_length)
    test_labels = np.array(test_raw["label"])
    result = {"hardware": hardware("cpu"), "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d"),
              "command": "python bench/distillation.py " + " ".join(sys.argv[1:] if argv is None else argv),
              "load_before": machine_load(), "teacher_test_accuracy": float((test_logits.argmax(-1) == test_labels).mean()),
              "train_examples": len(train), "epochs": profile.epochs, "temperature": 2.0, "alpha": 0.5, "runs": []}
    print(f"teacher test accuracy {result['teacher_test_accuracy']:.4f}", flush=True)
    for init in args.inits:
        for lr in args.lrs:
            for seed in args.seeds:
                for arm, soft, rows, epoch_factor in [a for a in arms if args.arms is None or a[0] in args.arms]:
                    set_seed(seed)
                    student = INITS[init](teacher)
                    settings = FineTuneSettings(epochs=profile.epochs * epoch_factor, batch_size=profile.batch_size,
                                                learning_rate=lr, eval_batch_size=profile.eval_batch_size, seed=seed)
                    start = time.perf_counter()
                    run = train_student(student, rows, validation, tokenizer, settings, soft, temperature=2.0,
                                        alpha=0.5, progress=False)
                    logits = logits_by_length(torch_runner(student), tokenizer, list(test_raw["text"]), max_length)
                    row = {"init": init, "lr": lr, "seed": seed, "arm": arm, "train_rows": len(rows),
                           "labelled_rows": len(train), "epochs": settings.epochs, "best_epoch": run.best_epoch,
                           "validation_accuracy": run.best_validation_accuracy,
                           "test_accuracy": float((logits.argmax(-1) == test_labels).mean()),
                           "seconds": round(time.perf_counter() - start, 1)}
                    result["runs"].append(row)
                    print(row, flush=True)
    result["load_after"] = machine_load()
    section = f"distillation_{args.profile}"
    if args.append and RESULTS.is_file():
        previous = json.loads(RESULTS.read_text(encoding="utf-8")).get(section)
        if previous:
            result["runs"] = previous["runs"] + result["runs"]
            result["command"] = previous["command"] + " && " + result["command"]
            result["load_before"] = previous["load_before"]
    save_section(section, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
