"""Which pretraining recipe makes the better course BERT? One table from candidate checkpoints and their downstream runs.

Each candidate is a checkpoint folder written by ``python -m helpers.checkpoints bert ... --out runs/<name>``, started
from the shipped course-bert (or from another candidate) and scored downstream by
``python bench/label_efficiency.py --labels 500 --arms course-bert --lrs 3e-4 --checkpoint runs/<name>
--name ablation-<name>`` (the shipped checkpoint and the scratch arm: ``--name ablation-shipped --arms course-bert
scratch``). This script reads the candidates' training records and those results files and writes
bench/results/pretraining_ablation.json, which RESULTS.md shows:

    python bench/pretraining_ablation.py shipped=helpers/assets/checkpoints/course-bert tapt-reviews=runs/tapt-reviews ...

The row of a candidate counts only the runs added after the shipped checkpoint (what the recipe itself cost).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path

from helpers.finetune_protocol import select_on_validation, summarise

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SHIPPED = ROOT / "helpers" / "assets" / "checkpoints" / "course-bert"


def recipe(run: dict) -> str:
    """A run's recipe in words, from its settings."""
    settings = run.get("settings", {})
    objective = "replaced-token detection (ELECTRA)" if settings.get("objective") == "rtd" else "masked LM"
    return f"{objective} on {run.get('text', 'news + review train text, packed together')}, peak lr {settings.get('learning_rate')}"


def candidate_row(name: str, folder: Path, base_runs: int) -> dict:
    record = json.loads((folder / "training_record.json").read_text(encoding="utf-8"))
    added = record["runs"][base_runs:]
    row = {"name": name, "recipe": "; then ".join(recipe(run) for run in added) or "the shipped checkpoint",
           "minutes": sum(run["seconds"] for run in added) / 60, "steps": sum(run["steps"] for run in added),
           "tokens": sum(run["tokens"] for run in added), "hardware": sorted({run["hardware"] for run in added}),
           "heldout": record["heldout"]}
    results = RESULTS / f"label_efficiency_ablation-{name}.json"
    if results.is_file():
        runs = [r for r in json.loads(results.read_text(encoding="utf-8"))["runs"] if r["arm"] == "pretrained"]
        if runs:
            summary = summarise(select_on_validation(runs)).iloc[0]
            row["downstream_500"] = {"mean": float(summary["mean"]), "sd": float(summary["sd"]), "seeds": int(summary["seeds"]),
                                     "per_seed": [r["test_accuracy"] for r in sorted(runs, key=lambda r: r["seed"])]}
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("candidates", nargs="+", help="name=folder pairs, in the order to show them")
    args = parser.parse_args(argv)
    base_runs = len(json.loads((SHIPPED / "training_record.json").read_text(encoding="utf-8"))["runs"])
    rows = []
    for pair in args.candidates:
        name, _, folder = pair.partition("=")
        row = candidate_row(name, Path(folder), 0 if name == "shipped" else base_runs)
        if name == "shipped":
            row.update(recipe="the shipped checkpoint (masked LM on news + review train text)", minutes=0.0, steps=0, tokens=0)
        rows.append(row)
    scratch_file = RESULTS / "label_efficiency_ablation-shipped.json"
    scratch = None
    if scratch_file.is_file():
        runs = [r for r in json.loads(scratch_file.read_text(encoding="utf-8"))["runs"] if r["arm"] != "pretrained"]
        scratch = summarise(select_on_validation(runs)).to_dict("records") if runs else None
    report = {
        "description": "Pretraining recipes compared: each candidate continues the shipped course-bert with the recipe "
                       "named, then is fine-tuned on 500 balanced training labels (lr 3e-4, >= 300 steps, step chosen on "
                       "the 1,736 validation reviews, seeds = label draw + head initialisation); test accuracy on the "
                       "1,736 test reviews. `python bench/pretraining_ablation.py ...` (see its docstring).",
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d"), "rows": rows, "same_labels_other_arms": scratch,
    }
    (RESULTS / "pretraining_ablation.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
