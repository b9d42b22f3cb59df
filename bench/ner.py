"""NER on People's Daily: course-bert vs the same architecture from scratch, at 200 / 1,000 / all training sentences.

One recipe for both arms (``helpers.token_classification.NerSettings``: AdamW, 10% warmup then linear decay,
batch 32 grouped by length, a fixed step budget); the learning rate of each arm is chosen on the validation
split at 1,000 sentences (seed 0) from a small grid, then used at every size. Test entity F1 (seqeval) is
reported once per run, with argmax decoding and with the constrained Viterbi decode (no I-X after O or after
another type). Subsets are drawn with the run's seed, the same subset for both arms.

Phases (each writes ``bench/results/ner.json`` after every run, so a stopped run keeps what it measured):

    python bench/ner.py                        # grid, small (200 / 1,000 x 3 seeds), all (1 seed, 1 epoch)
    python bench/ner.py --phases all --arms course-bert   # one phase, one arm (the recorded figures were
    python bench/ner.py --phases small --sizes 1000        # made phase by phase: see "commands" in the JSON)
    python bench/ner.py --phases all --arms course-bert --all-epochs 3   # a longer run on all sentences

Runs on all sentences with different epoch counts are kept side by side; "<arm> @ all" in the summary is the one
with the best validation F1 (the epoch count is chosen on validation, like the learning rate).

Run it with one torch thread (the default here), on an otherwise idle machine if you want clean timings.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402
from transformers import BertForTokenClassification  # noqa: E402

from helpers.env import hardware  # noqa: E402
from helpers.models import load_pretrained, load_tokenizer  # noqa: E402
from helpers.ner import ID2LABEL, LABEL_NAMES, entity_counts, load_ner  # noqa: E402
from helpers.profiles import get_profile, set_seed  # noqa: E402
from helpers.token_classification import (  # noqa: E402
    NerSettings, error_breakdown, evaluate_ner_both, fine_tune_ner, tokenize_and_align,
)

RESULTS = Path(__file__).resolve().parent / "results" / "ner.json"
ARMS = ("course-bert", "scratch")
GRID_SIZE = 1000
SUBSET_SETTINGS = dict(batch_size=32, epochs=8.0, min_steps=150)
ALL_SETTINGS = dict(batch_size=32, epochs=1.0, min_steps=150)


def build_model(arm: str, seed: int):
    set_seed(seed)
    model = load_pretrained(BertForTokenClassification, "course-bert", num_labels=len(LABEL_NAMES),
                            id2label=ID2LABEL, label2id={v: k for k, v in ID2LABEL.items()})
    if arm == "scratch":
        set_seed(seed)
        model = BertForTokenClassification(model.config)
    return model


def subset(dataset, size: int | None, seed: int):
    if size is None or size >= len(dataset):
        return dataset
    indices = list(range(len(dataset)))
    random.Random(seed).shuffle(indices)
    return dataset.select(sorted(indices[:size]))


def load_results() -> dict:
    return json.loads(RESULTS.read_text(encoding="utf-8")) if RESULTS.is_file() else {"runs": []}


def save_results(results: dict) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def run_epochs(run: dict) -> float:
    """Epochs over all sentences of an ``all`` run (records made before the epoch count was stored ran 1)."""
    return float(run.get("epochs", ALL_SETTINGS["epochs"]))


def find(results: dict, **key) -> dict | None:
    epochs = key.pop("epochs", None)
    return next((run for run in results["runs"] if all(run.get(k) == v for k, v in key.items())
                 and (epochs is None or run_epochs(run) == epochs)), None)


def run_one(results, data, aligned, tokenizer, profile, arm, size, seed, lr, phase, epochs: float | None = None) -> dict:
    key = dict(arm=arm, size=size if size is not None else "all", seed=seed, learning_rate=lr)
    if size is None:
        key["epochs"] = float(epochs or ALL_SETTINGS["epochs"])
    existing = find(results, **dict(key))
    if existing:
        print("have", json.dumps(key), f"validation F1 {existing['validation']['micro']['f1']:.4f}", flush=True)
        return existing
    recipe = {**ALL_SETTINGS, "epochs": key["epochs"]} if size is None else SUBSET_SETTINGS
    settings = NerSettings(learning_rate=lr, seed=seed, **recipe)
    train = subset(aligned, size, seed)
    model = build_model(arm, seed)
    start = time.perf_counter()
    fine_tune_ner(model, train, tokenizer, settings, profile, progress=False)
    seconds = time.perf_counter() - start
    validation = evaluate_ner_both(model, tokenizer, data["validation"])
    test = evaluate_ner_both(model, tokenizer, data["test"])
    run = {**key, "phase": phase, "train_sentences": len(train), "steps": settings.steps(len(train)),
           "batch_size": settings.batch_size, "train_seconds": round(seconds, 1),
           "validation": validation["argmax"], "validation_constrained": validation["constrained"],
           "test": test["argmax"], "test_constrained": test["constrained"],
           "test_errors": dict(Counter(row["kind"] for row in error_breakdown(test["gold"], test["predicted"]["argmax"])))}
    results["runs"].append(run)
    results["summary"] = summarise(results)  # kept current, so a stopped invocation leaves a consistent record
    save_results(results)
    print(json.dumps({k: run[k] for k in ("arm", "size", "seed", "learning_rate", "steps", "train_seconds")}),
          f"validation F1 {run['validation']['micro']['f1']:.4f} test F1 {run['test']['micro']['f1']:.4f}"
          f" (constrained {run['test_constrained']['micro']['f1']:.4f})", flush=True)
    return run


def summarise(results: dict) -> dict:
    """Mean and standard deviation of test F1 per arm and size (chosen learning rates only).

    Runs on all sentences are summarised per epoch count (``"<arm> @ all, 3 epochs"``), and ``"<arm> @ all"`` is
    the epoch count with the best validation F1.
    """
    summary = {}

    def entry(arm: str, size: str, runs: list[dict]) -> dict:
        f1 = torch.tensor([r["test"]["micro"]["f1"] for r in runs], dtype=torch.float64)
        constrained = torch.tensor([r["test_constrained"]["micro"]["f1"] for r in runs], dtype=torch.float64)
        return {
            "arm": arm, "size": size, "seeds": [r["seed"] for r in runs],
            "test_f1_mean": round(float(f1.mean()), 4),
            "test_f1_std": round(float(f1.std()), 4) if len(runs) > 1 else None,
            "test_f1_constrained_mean": round(float(constrained.mean()), 4),
            "validation_f1_mean": round(sum(r["validation"]["micro"]["f1"] for r in runs) / len(runs), 4),
            "train_seconds_mean": round(sum(r["train_seconds"] for r in runs) / len(runs), 1),
        }

    for arm, lr in results.get("chosen_learning_rate", {}).items():
        for size in ("200", "1000", "all"):
            runs = [r for r in results["runs"] if r["arm"] == arm and str(r["size"]) == size and r["learning_rate"] == lr]
            if not runs:
                continue
            if size != "all":
                summary[f"{arm} @ {size}"] = entry(arm, size, runs)
                continue
            by_epochs = {}
            for run in runs:
                by_epochs.setdefault(run_epochs(run), []).append(run)
            for epochs, group in sorted(by_epochs.items()):
                summary[f"{arm} @ all, {epochs:g} epoch{'s' if epochs != 1 else ''}"] = {
                    **entry(arm, size, group), "epochs": epochs}
            best = max(by_epochs, key=lambda e: entry(arm, size, by_epochs[e])["validation_f1_mean"])
            summary[f"{arm} @ all"] = {**entry(arm, size, by_epochs[best]), "epochs": best,
                                       "chosen": "epoch count with the best validation F1"}
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phases", nargs="+", default=["grid", "small", "all"], choices=["grid", "small", "all"])
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    parser.add_argument("--grid", nargs="+", type=float, default=[3e-4, 1e-3])
    parser.add_argument("--sizes", nargs="+", type=int, default=[200, 1000])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--all-epochs", type=float, default=ALL_SETTINGS["epochs"],
                        help="epochs of the run on all training sentences")
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    profile = get_profile("cpu")
    tokenizer = load_tokenizer("course-bert")
    data = load_ner()
    aligned = tokenize_and_align(data["train"], tokenizer, max_length=128)
    results = load_results()
    results.update(
        hardware=hardware(), date=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d"),
        torch_threads=torch.get_num_threads(),
        data={name: {"sentences": len(split), "characters": sum(len(t) for t in split["tokens"]),
                     "entities": dict(entity_counts(split))} for name, split in data.items()},
        recipe={"subsets": SUBSET_SETTINGS, "all": ALL_SETTINGS, "warmup_ratio": NerSettings().warmup_ratio,
                "optimizer": "AdamW, weight decay 0.01, linear decay", "max_length": 128,
                "learning_rate_grid": args.grid, "grid_size": GRID_SIZE, "selection": "validation micro F1, seed 0"},
        published={"BERT-base (Chinese), People's Daily 1998 NER": "about 95 F1",
                   "BiLSTM-CRF, People's Daily 1998 NER": "about 90 F1",
                   "note": "literature figures on the MSRA-style People's Daily data set, whose splits and "
                           "compound-organisation labels differ from this one; orientation only"},
    )
    results.setdefault("chosen_learning_rate", {})
    results.setdefault("commands", []).append("python bench/ner.py " + " ".join(sys.argv[1:]))
    save_results(results)
    started = time.perf_counter()
    if "grid" in args.phases:
        for arm in args.arms:
            runs = [run_one(results, data, aligned, tokenizer, profile, arm, GRID_SIZE, 0, lr, "grid") for lr in args.grid]
            best = max(runs, key=lambda r: r["validation"]["micro"]["f1"])
            results["chosen_learning_rate"][arm] = best["learning_rate"]
            save_results(results)
            print(f"{arm}: chosen learning rate {best['learning_rate']}", flush=True)
    for arm in args.arms:
        lr = results["chosen_learning_rate"].get(arm)
        if lr is None:
            raise SystemExit(f"no learning rate chosen for {arm}: run the grid phase first")
        if "small" in args.phases:
            for size in args.sizes:
                for seed in args.seeds:
                    run_one(results, data, aligned, tokenizer, profile, arm, size, seed, lr, "small")
    if "all" in args.phases:
        for arm in args.arms:
            run_one(results, data, aligned, tokenizer, profile, arm, None, 0,
                    results["chosen_learning_rate"][arm], "all", epochs=args.all_epochs)
    results["summary"] = summarise(results)
    results["bench_seconds_this_invocation"] = round(time.perf_counter() - started, 1)
    save_results(results)
    print(json.dumps(results["summary"], indent=2), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
