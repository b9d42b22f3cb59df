"""Print the README's measured tables from the files that hold the measurements.

    python scripts/report_figures.py

Reads the course checkpoints' training records and bench/results/*.json, so the README can be refreshed
from what was measured rather than retyped.
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINTS = ROOT / "helpers" / "assets" / "checkpoints"
RESULTS = ROOT / "bench" / "results"


def checkpoint_table() -> str:
    lines = ["| checkpoint | pretraining | hardware | held-out news (People's Daily) | held-out reviews (validation split) |",
             "|---|---|---|---|---|"]
    for name in ("course-bert", "course-gpt"):
        path = CHECKPOINTS / name / "training_record.json"
        if not path.is_file():
            continue
        record = json.loads(path.read_text(encoding="utf-8"))
        totals, heldout = record["totals"], record["heldout"]
        hardware = "; ".join(sorted({run["hardware"] for run in record["runs"]}))
        if record["kind"] == "bert":
            figure = lambda f: f"masked-char accuracy {f['masked_accuracy']:.1%}, loss {f['loss']:.3f}"
        else:
            figure = lambda f: f"perplexity {f['perplexity']:.1f} (loss {f['loss']:.3f} nats/char)"
        lines.append(
            f"| `{name}` | {totals['steps']:,} steps, {totals['tokens'] / 1e6:.1f}M tokens "
            f"({totals['epochs']:.1f} passes), {totals['seconds'] / 60:.0f} min | {hardware} | "
            f"{figure(heldout['news'])} | {figure(heldout['reviews'])} |"
        )
    return "\n".join(lines)


def speed_table() -> str:
    path = RESULTS / "pretraining_speed.json"
    if not path.is_file():
        return "(bench/results/pretraining_speed.json missing: run bench/pretraining_speed.py)"
    r = json.loads(path.read_text(encoding="utf-8"))
    return "\n".join([
        f"{r['hardware']}, torch {r['torch']}; {r['model']}; batch {r['batch']}.",
        "",
        "| MLM loss computed | step time | tokens/s | 6·N·tokens/s ÷ fp32 matmul FLOP/s |",
        "|---|---|---|---|",
        f"| at every position (dense head) | {r['dense_step_seconds'] * 1000:.0f} ms | {r['dense_tokens_per_second']:,.0f} | {r['dense_flops_fraction']:.0%} |",
        f"| at masked positions only (sparse) | {r['sparse_step_seconds'] * 1000:.0f} ms | {r['sparse_tokens_per_second']:,.0f} | {r['sparse_flops_fraction']:.0%} |",
        "",
        f"Sparse speed-up {r['sparse_speedup']:.2f}x; the 1024×1024 fp32 matmul runs at {r['matmul_gflops']:.0f} GFLOP/s.",
    ])


def label_efficiency_table() -> str:
    rows = []
    for path in sorted(RESULTS.glob("label_efficiency_*.json")):
        r = json.loads(path.read_text(encoding="utf-8"))
        for name, figures in r["results"].items():
            rows.append(f"| {r['labels']:,} | {name} | {figures['test_accuracy']:.1%} | "
                        f"{figures.get('validation_accuracy', float('nan')):.1%} | {figures.get('best_epoch', '')} |")
    if not rows:
        return "(no bench/results/label_efficiency_*.json yet)"
    return "\n".join(["| labels | model | test accuracy | validation accuracy (selects the epoch) | best epoch |",
                      "|---|---|---|---|---|", *rows])


if __name__ == "__main__":
    print(checkpoint_table(), speed_table(), label_efficiency_table(), sep="\n\n")
