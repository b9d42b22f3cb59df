# %% [markdown]
# # 03 · Fine-tuning strategies (微调策略): what pretraining buys, and what to train
#
# Lesson 02 fine-tuned every weight of the course BERT. Here we ask three practical questions, and answer each
# with a measurement on the same reviews:
#
# 1. **Does pretraining pay?** The same architecture from random initialisation (从零训练) against the course
#    checkpoint, at several numbers of training labels, next to a classical TF-IDF baseline: a label-efficiency
#    curve (标注效率曲线).
# 2. **How much of the model should train?** Full fine-tuning, the head only (a probe of the frozen encoder),
#    freezing the bottom layers, and layer-wise learning-rate decay (LLRD, 逐层学习率衰减).
# 3. **Can a few parameters do it?** Parameter-efficient fine-tuning (参数高效微调, PEFT) with the `peft` library:
#    LoRA, prefix tuning, AdaLoRA and IA3.
#
# Every run uses the same seed and the same budget; the epoch is chosen on validation; test is measured once.

# %%
import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
import torch
from transformers import BertForSequenceClassification

from helpers.env import start_lesson

profile, device = start_lesson()  # quiet library logs, seed 0, profile and device, print the environment

# The one switch to a Hub checkpoint: on Colab with internet, "bert-base-chinese" (its own tokenizer comes
# with it). Offline, a Hub name stops with a message that names the course checkpoint to use instead.
MODEL_NAME = "course-bert"
# A base-sized Hub model (bert-base-chinese: 102M parameters, 20x the course BERT) makes the gpu profile fall back
# to the cpu profile's smaller workload, so the lesson still takes minutes on a Colab T4 (helpers/models.py).
from helpers.models import profile_for_model

profile = profile_for_model(profile, MODEL_NAME)

# %% [markdown]
# ## 1. Data and one protocol for every run (数据与统一的比较协议)
#
# A comparison is only as fair as its weakest arm's tuning. Every run in this lesson, and in the full benchmark
# behind it (`bench/label_efficiency.py`), follows one protocol (`helpers/finetune_protocol.py`):
#
# * the same learning-rate **grid** for every arm, warmup over 10% of the steps, then linear decay;
# * at least `min_steps` optimizer steps, however few the labels: with 100 labels and batch 32 one epoch is only 4
#   steps, and a model stopped after a few of them has not been fine-tuned at all;
# * validation is scored a few times per run; the step **and** the learning rate are chosen on validation, and the
#   test split is scored once, at the chosen step;
# * seeds: each seed draws its own balanced labels and initialises its own head, so the spread shows the noise.

# %%
from helpers.classification import tokenize_dataset
from helpers.data import load_reviews
from helpers.finetune_protocol import Arm, Protocol, finetune_run, prepare_data, run_grid
from helpers.finetune_protocol import select_on_validation, standard_error, summarise
from helpers.models import load_pretrained, load_tokenizer

reviews = load_reviews()
tokenizer = load_tokenizer(MODEL_NAME)
protocol = Protocol(seeds=(0,), min_steps=profile.min_finetune_steps, evaluations=4, batch_size=profile.batch_size,
                    eval_batch_size=profile.eval_batch_size, max_length=profile.max_length,
                    mixed_precision=profile.mixed_precision)
data = prepare_data(reviews, tokenizer, protocol, validation_examples=profile.heldout_examples,
                    test_examples=profile.eval_examples)
print(protocol)
print(f"validation {len(data.validation)} reviews (choose step and learning rate), test {len(data.test)} reviews "
      f"(scored once per run); one test accuracy has a standard error of about "
      f"{standard_error(0.75, len(data.test)):.1%} at 75%")

# %% [markdown]
# ## 2. Does pretraining pay? A label-efficiency curve (标注效率曲线)
#
# Three arms, on the same balanced draws of labelled reviews: the course BERT fine-tuned, **the same
# architecture from random initialisation** (从零训练), and the classical TF-IDF + logistic-regression baseline.
#
# ### 2.1 The full comparison, measured by the benchmark
#
# `python bench/label_efficiency.py` runs the whole protocol: 100, 500, 2,000 and all 13,891 labels, learning rates
# {1e-4, 3e-4, 1e-3} for both BERT arms, 3 seeds, all 1,736 validation and test reviews. It takes hours on two CPU
# cores, so the lesson reads its results file (the command, hardware and date are in it). Where the file is not
# there yet (the full grid has not been run on this copy, or an installed package), the cell says so, and the
# measured comparison is the 500-label ablation of section 2.2 and this notebook's own runs in section 3.

# %%
import json
from pathlib import Path

import helpers

results_file = Path(helpers.__file__).resolve().parents[1] / "bench" / "results" / "label_efficiency.json"
bench = json.loads(results_file.read_text(encoding="utf-8")) if results_file.is_file() else None
if bench is None:
    print("bench/results/label_efficiency.json is not here (e.g. an installed package): run bench/label_efficiency.py")
else:
    chosen = select_on_validation(bench["runs"])
    summary = summarise(chosen)
    print(f"{bench['command']}\n{bench['hardware']}, {bench.get('date', '')}; checkpoint {bench['checkpoint']}")
    display(summary.pivot(index="labels", columns="arm", values="mean").style.format("{:.1%}"))

# %%
if bench is not None:
    fig, ax = plt.subplots(figsize=(7, 4))
    for arm, group in summary.groupby("arm"):
        ax.errorbar(group["labels"], group["mean"], yerr=group["sd"].fillna(0), marker="o", capsize=4, label=arm)
    ax.set(title="Label efficiency on the review test split (mean ± sd over seeds)",
           xlabel="training labels (log scale)", ylabel="test accuracy (share of reviews)", xscale="log")
    ax.legend()
    plt.show()

# %% [markdown]
# A smaller benchmark with the same protocol is already measured: 500 labels, 3 seeds, the shipped checkpoint and two
# task-adaptive variants of it (more masked-LM passes over the review training text, 60 CPU minutes each), next to
# scratch and TF-IDF on the same three label draws (`bench/pretraining_ablation.py`; RESULTS.md has the command):

# %%
ablation_file = results_file.parent / "pretraining_ablation.json"
ablation = json.loads(ablation_file.read_text(encoding="utf-8")) if ablation_file.is_file() else None
if ablation is None:
    print("bench/results/pretraining_ablation.json is not here: run bench/pretraining_ablation.py (see its docstring)")
else:
    ablation_rows = [{"arm": f"pretrained: {row['name']}", "recipe": row["recipe"], "mean": row["downstream_500"]["mean"],
             "sd": row["downstream_500"]["sd"], "seeds": row["downstream_500"]["seeds"]} for row in ablation["rows"]]
    ablation_rows += [{"arm": row["arm"], "recipe": "", "mean": row["mean"], "sd": row["sd"], "seeds": row["seeds"]}
                      for row in ablation["same_labels_other_arms"]]
    ablation_table = pd.DataFrame(ablation_rows).set_index("arm")
    display(ablation_table.style.format({"mean": "{:.1%}", "sd": "{:.1%}"}))
    shipped = ablation_table.loc["pretrained: shipped"]
    for other in ("from scratch", "TF-IDF + logistic regression"):
        gap = shipped["mean"] - ablation_table.loc[other, "mean"]
        print(f"shipped course-bert - {other}: {100 * gap:+.1f} points (sd over seeds {100 * shipped['sd']:.1f})")

# %% [markdown]
# Read every gap against the spread over seeds: a difference smaller than the seed-to-seed sd (and the ~1-point
# standard error of one test split) is not a result, in either direction.

# %% [markdown]
# How to read it: the gap between the pretrained and the scratch curve is what pretraining bought at each number
# of labels, and the TF-IDF curve is the bar any neural model has to clear. The gaps, computed from the file (the
# cell prints nothing where the file is missing):

# %%
if bench is not None:
    means = summary.pivot(index="labels", columns="arm", values="mean")
    for labels, row in means.iterrows():
        gaps = [f"pretrained - {name} = {100 * (row['pretrained'] - row[arm]):+.1f} points"
                for arm, name in (("from scratch", "scratch"), ("TF-IDF + logistic regression", "TF-IDF"))
                if arm in row and "pretrained" in row and row[[arm, "pretrained"]].notna().all()]
        print(f"{labels:>6,} labels: " + (", ".join(gaps) or "not every arm measured yet (the benchmark resumes)"))

# %% [markdown]
# What decides the size of these gaps is mostly **how much text the model was pretrained on**. The course BERT
# has read a few tens of millions of characters, repeated (its training record is in lesson 01); BERT-base read
# about 3,000 times as many tokens, and studies of small BERTs (Micheli et al. 2020) put the point where
# pretraining reliably pays at roughly 10-100 million words. Below that, a task-specific bag of character n-grams
# is a strong competitor, especially with many labels, where it can learn the task's vocabulary directly.
#
# ### 2.2 The same code, live, at this profile's size
#
# One seed and one learning rate per arm (the middle of the grid) at the profile's label counts: the same
# functions as the benchmark, small enough to run here.

# %%
from transformers import BertForSequenceClassification


def pretrained_model(seed):
    return load_pretrained(BertForSequenceClassification, MODEL_NAME, num_labels=2)


def scratch_model(seed):
    return BertForSequenceClassification(pretrained_model(seed).config)


arms = [Arm("pretrained", pretrained_model, (3e-4,)), Arm("from scratch", scratch_model, (3e-4,))]
label_sizes = [n if n is None or n < len(reviews["train"]) else None for n in profile.label_sizes]
live = select_on_validation(run_grid(arms, label_sizes, data, protocol, device=device))
live.pivot(index="labels", columns="arm", values="test_accuracy").style.format("{:.1%}")

# %% [markdown]
# ## 3. What to train (训练哪些参数)
#
# All on the same subset of labelled reviews, under the same protocol (steps, schedule, choice on validation):
#
# * **full fine-tuning**: every weight trains;
# * **head only**: the encoder is frozen, only the pooler and classifier train, a probe of what the pretrained
#   features already separate;
# * **freeze the bottom 2 layers**: the embeddings and the lowest layers (most general features) stay fixed;
# * **LLRD**: every layer trains, the top at the full learning rate, each layer below at 0.8 times the one above.
#
# Each family gets one learning rate from the middle of its grid (full model 3e-4; head only and PEFT adapters,
# which train few weights from zero, 3e-3; prefix tuning 1e-2); the benchmark tries LoRA over its whole grid.

# %%
from dataclasses import replace

from helpers.classification import balanced_subset
from helpers.finetune_strategies import freeze_bottom_layers, freeze_encoder, layerwise_lr_groups, saved_size
from helpers.training import count_parameters

strategy_raw = balanced_subset(reviews["train"], profile.strategy_examples) if profile.strategy_examples else reviews["train"]
strategy_train = tokenize_dataset(strategy_raw, tokenizer, profile.max_length)
strategy_protocol = replace(protocol, min_steps=profile.strategy_min_steps)  # a shorter budget, the same for all 8
strategy_steps = strategy_protocol.epochs_for(len(strategy_train)) * -(-len(strategy_train) // protocol.batch_size)
rows = {}


def measure(name, make_model, learning_rate, prepare=None):
    """One run under the protocol (seed 0); parameter counts and saved size of the same set-up."""
    probe = make_model(0)
    trainable, total = count_parameters(probe)
    run = finetune_run(Arm(name, make_model, (learning_rate,), prepare), strategy_train, data, strategy_protocol,
                       learning_rate, seed=0, device=device)
    rows[name] = {"trainable parameters": trainable, "trainable %": 100 * trainable / total,
                  "learning rate": learning_rate, "validation accuracy": run["validation_accuracy"],
                  "test accuracy": run["test_accuracy"], "seconds": run["seconds"], "saved MB": saved_size(probe) / 2**20}


measure("full fine-tuning", pretrained_model, 3e-4)
measure("head only (frozen encoder)", lambda seed: freeze_encoder(pretrained_model(seed)), 3e-3)
measure("freeze bottom 2 layers", lambda seed: freeze_bottom_layers(pretrained_model(seed), 2), 3e-4)
measure("layer-wise LR decay 0.8", pretrained_model, 3e-4,
        prepare=lambda model, seed: {"parameter_groups": layerwise_lr_groups(model, 3e-4, 0.8)})

# %% [markdown]
# ## 4. Parameter-efficient fine-tuning with `peft` (参数高效微调)
#
# * **LoRA**: next to a frozen weight `W`, train a low-rank update `B·A` (rank 8 here) on the attention's query
#   and value projections; at inference `W + B·A` can be merged, so it costs nothing extra.
# * **Prefix tuning**: train 20 key/value vectors prepended to every attention layer; the model is untouched.
# * **AdaLoRA**: LoRA whose rank budget is reallocated during training to the matrices that need it most (it
#   needs a call after every step, passed here as `on_step`).
# * **IA3**: learn a scaling vector for keys, values and the feed-forward output: the fewest parameters.
#
# The source articles' "Adapter" is the original PEFT idea (Houlsby et al.): small bottleneck layers inserted after each
# sub-layer. LoRA sits in parallel instead, which is why it can be merged away and adds no inference latency.
#
# Because the course BERT was pretrained without a pooler, the pooler is trained with the classifier in every
# PEFT run (`modules_to_save`).

# %%
from helpers.finetune_strategies import PEFT_METHODS, peft_model


def adalora_hook(model, seed):
    """AdaLoRA reallocates its rank budget after every optimizer step."""
    return {"on_step": lambda step: model.base_model.update_and_allocate(step)}


for method in PEFT_METHODS:
    measure(f"PEFT: {method}", lambda seed, m=method: peft_model(pretrained_model(seed), m, total_steps=strategy_steps),
            1e-2 if method == "prefix" else 3e-3, prepare=adalora_hook if method == "adalora" else None)

# %% [markdown]
# ## 5. One table, one plot (结果汇总)

# %%
results = pd.DataFrame(rows).T
print(f"{len(strategy_train)} training reviews, {strategy_steps} optimizer steps per run, one seed, hardware: {device}")
results.style.format({"trainable parameters": "{:,.0f}", "trainable %": "{:.2f}", "learning rate": "{:.0e}",
                      "validation accuracy": "{:.1%}", "test accuracy": "{:.1%}", "seconds": "{:.0f}", "saved MB": "{:.2f}"})

# %%
fig, ax = plt.subplots(figsize=(7, 4))
plot = results.reset_index(names="strategy")
sns.scatterplot(data=plot, x="trainable %", y="validation accuracy", hue="strategy", s=80, ax=ax)
ax.set(title="Accuracy vs share of parameters trained", xlabel="trainable parameters (% of the model, log scale)",
       ylabel="validation accuracy (share of reviews)", xscale="log")
ax.legend(fontsize=7, loc="lower right")
plt.show()

# %% [markdown]
# What to look for: whether the PEFT methods come close to full fine-tuning while training a few percent of the
# parameters and saving a checkpoint of a few hundred kilobytes; whether the frozen encoder alone is enough; and
# whether the learning rates chosen here suit each method (prefix tuning in particular is sensitive to them).
# These are single runs: differences of a point or two are within the seed-to-seed noise (section 1); the
# benchmark's LoRA arm (`python bench/label_efficiency.py --arms lora`) repeats LoRA over its grid and seeds.
#
# The lesson's measured figures are saved for the interview bank when `scripts/run_lessons.py` runs the lesson
# (`helpers.results`; a learner's run writes nothing).

# %%
import re

from helpers.results import record_lesson_figures

_names = {"TF-IDF + logistic regression": "tfidf", "pretrained": "pretrained", "from scratch": "scratch"}
record_lesson_figures("03", {
    "label_efficiency": [{"labels": int(n), **{_names[m]: float(a) for m, a in group.set_index("arm")["test_accuracy"].items()}}
                         for n, group in live.groupby("labels")],
    "strategy_examples": len(strategy_train), "strategy_steps": int(strategy_steps),
    "strategies": {re.sub(r"[^a-z0-9]+", "_", name.removeprefix("PEFT: ").lower()).strip("_"):
                   {re.sub(r"[^a-z0-9]+", "_", key).strip("_"): float(value) for key, value in row.items()}
                   for name, row in results.iterrows()},
}, profile)

# %% [markdown]
# ## 6. Exercises (练习)
#
# **Exercise 03.1.** Write `count_parameters(model)` returning `(trainable, total)`: numbers of *elements*,
# the trainable ones being those with `requires_grad=True`.

# %% tags=["exercise"]
def count_parameters(model):
    """(trainable, total) parameter element counts."""
    ### BEGIN SOLUTION
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, total
    ### END SOLUTION
    ### BEGIN STUB
    raise NotImplementedError("Exercise 03.1: replace this line with your code")
    ### END STUB


# %%
from helpers.exercises import check

check("03.1", count_parameters)

# %% [markdown]
# **Exercise 03.2.** Write `freeze_bottom(model, k)`: freeze the embeddings and encoder layers `0 .. k-1` of a
# `BertForSequenceClassification` (in place); with `k=0` freeze nothing.

# %% tags=["exercise"]
def freeze_bottom(model, k):
    """Freeze embeddings and the lowest k encoder layers."""
    ### BEGIN SOLUTION
    if k > 0:
        for parameter in model.bert.embeddings.parameters():
            parameter.requires_grad = False
    for layer in model.bert.encoder.layer[:k]:
        for parameter in layer.parameters():
            parameter.requires_grad = False
    return model
    ### END SOLUTION
    ### BEGIN STUB
    raise NotImplementedError("Exercise 03.2: replace this line with your code")
    ### END STUB


# %%
check("03.2", freeze_bottom)

# %% [markdown]
# **Exercise 03.3.** Write `make_lora_config()` returning a `peft.LoraConfig` for sequence classification that
# adapts the self-attention projections with a low rank.

# %% tags=["exercise"]
from peft import LoraConfig, TaskType


def make_lora_config():
    """A LoRA config for BERT sequence classification on the attention projections."""
    ### BEGIN SOLUTION
    return LoraConfig(task_type=TaskType.SEQ_CLS, r=8, lora_alpha=16, lora_dropout=0.1, target_modules=["query", "value"])
    ### END SOLUTION
    ### BEGIN STUB
    raise NotImplementedError("Exercise 03.3: replace this line with your code")
    ### END STUB


# %%
check("03.3", make_lora_config)

# %% [markdown]
# ## 7. Summary (小结)
#
# * Whether pretraining pays, and by how much, is a measurement, not a given: section 2 measures it for this
#   checkpoint under a protocol that tunes every arm the same way and repeats seeds (the full curve where its
#   results file exists, the 500-label ablation otherwise). How much text a model was pretrained on decides most
#   of it, and this checkpoint saw only a few million characters.
# * Freezing the whole encoder (head only) costs accuracy; freezing only the bottom layers can cost little and
#   saves time: read the table above. LLRD keeps the lower layers close to their pretrained values.
# * PEFT methods train a small fraction of the parameters and save tiny checkpoints; compare their accuracy with
#   full fine-tuning in the table above before choosing one.
#
# ## 8. Interview questions (面试题)

# %%
from helpers.interview.quiz import show_lesson_questions

questions = show_lesson_questions("03", lang="both")
