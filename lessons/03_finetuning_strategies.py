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
import time

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
import torch
from transformers import BertForSequenceClassification

from helpers import set_seed
from helpers.env import start_lesson

profile, device = start_lesson()  # quiet library logs, seed 0, profile and device, print the environment

# The one switch to a Hub checkpoint: on Colab with internet, "bert-base-chinese" (its own tokenizer comes
# with it). Offline, a Hub name stops with a message that names the course checkpoint to use instead.
MODEL_NAME = "course-bert"

# %% [markdown]
# ## 1. Data and a common recipe (数据与统一设置)

# %%
from helpers.classification import FineTuneSettings, balanced_subset, evaluate_classifier, tokenize_dataset, train_classifier
from helpers.data import head, load_reviews
from helpers.models import load_pretrained
from helpers.models import load_tokenizer

reviews = load_reviews()
tokenizer = load_tokenizer(MODEL_NAME)
validation = tokenize_dataset(head(reviews["validation"], profile.heldout_examples), tokenizer, profile.max_length)
test = tokenize_dataset(head(reviews["test"], profile.eval_examples), tokenizer, profile.max_length)
print(f"validation {len(validation)} reviews (chooses the epoch), test {len(test)} reviews (reported once per run)")


def epochs_for(n_labels):
    """Few labels get more epochs, many labels fewer: roughly equal numbers of steps per run."""
    return max(profile.epochs, min(10, round(3000 / max(n_labels, 1)))) if profile.name != "smoke" else 1


def run(model, train, learning_rate, epochs, **kwargs):
    """Fine-tune on the profile's device; return the row of the results table."""
    model.to(device)
    settings = FineTuneSettings(epochs=epochs, batch_size=profile.batch_size, eval_batch_size=profile.eval_batch_size,
                                learning_rate=learning_rate)
    result = train_classifier(model, train, validation, tokenizer, settings, progress=False, **kwargs)
    return {"validation accuracy": result.best_validation_accuracy, "best epoch": result.best_epoch,
            "test accuracy": evaluate_classifier(model, test, tokenizer)["accuracy"], "seconds": result.seconds}


# %% [markdown]
# ## 2. Pretrained vs from scratch: a label-efficiency curve
#
# The scratch model has exactly the course BERT's configuration, with random weights. Each gets the learning rate
# that suits it (a pretrained model needs a smaller one, lesson 02). The TF-IDF + logistic-regression baseline
# sees the same labelled reviews.

# %%
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression


def tfidf_accuracy(train_raw):
    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True)
    classifier = LogisticRegression(C=10, max_iter=2000).fit(vectorizer.fit_transform(train_raw["text"]), train_raw["label"])
    return classifier.score(vectorizer.transform(reviews["test"].select(range(len(test)))["text"]), test["label"])


curve = []
for n_labels in profile.label_sizes:
    train_raw = balanced_subset(reviews["train"], n_labels) if n_labels else reviews["train"]
    train = tokenize_dataset(train_raw, tokenizer, profile.max_length)
    curve.append({"labels": len(train_raw), "model": "TF-IDF + logistic regression", "test accuracy": tfidf_accuracy(train_raw)})
    for name, learning_rate in (("course-bert (pretrained)", 1e-4), ("same BERT from scratch", 5e-4)):
        set_seed(0)
        model = load_pretrained(BertForSequenceClassification, MODEL_NAME, num_labels=2)
        if "scratch" in name:
            model = BertForSequenceClassification(model.config)
        curve.append({"labels": len(train_raw), "model": name, **run(model, train, learning_rate, epochs_for(len(train_raw)))})
curve = pd.DataFrame(curve)
curve.pivot(index="labels", columns="model", values="test accuracy").style.format("{:.1%}")

# %%
fig, ax = plt.subplots(figsize=(7, 4))
sns.lineplot(data=curve, x="labels", y="test accuracy", hue="model", marker="o", ax=ax)
ax.set(title="Label efficiency on the review test split", xlabel="training labels (log scale)",
       ylabel="test accuracy (share of reviews)", xscale="log")
plt.show()

# %% [markdown]
# Read the curve from the left: with few labels, everything the model knows about Chinese must come from
# pretraining, so that is where the gap between the pretrained and the scratch model should be widest. How wide
# it is here depends on how much pretraining the course checkpoint has had (its training record, lesson 01).
#
# ## 3. What to train (训练哪些参数)
#
# All on the same subset of labelled reviews:
#
# * **full fine-tuning**: every weight trains;
# * **head only**: the encoder is frozen, only the pooler and classifier train, a probe of what the pretrained
#   features already separate;
# * **freeze the bottom 2 layers**: the embeddings and the lowest layers (most general features) stay fixed;
# * **LLRD**: every layer trains, the top at the full learning rate, each layer below at 0.8 times the one above.

# %%
from helpers.finetune_strategies import freeze_bottom_layers, freeze_encoder, layerwise_lr_groups, saved_size
from helpers.training import count_parameters as trainable_parameters

strategy_raw = balanced_subset(reviews["train"], profile.strategy_examples) if profile.strategy_examples else reviews["train"]
strategy_train = tokenize_dataset(strategy_raw, tokenizer, profile.max_length)
strategy_epochs = epochs_for(len(strategy_raw))
rows = {}


def fresh_model():
    set_seed(0)
    return load_pretrained(BertForSequenceClassification, MODEL_NAME, num_labels=2)


def record(name, model, learning_rate, **kwargs):
    trainable, total = trainable_parameters(model)
    rows[name] = {"trainable parameters": trainable, "trainable %": 100 * trainable / total,
                  **run(model, strategy_train, learning_rate, strategy_epochs, **kwargs), "saved MB": saved_size(model) / 2**20}


record("full fine-tuning", fresh_model(), 1e-4)
record("head only (frozen encoder)", freeze_encoder(fresh_model()), 1e-3)
record("freeze bottom 2 layers", freeze_bottom_layers(fresh_model(), 2), 1e-4)
llrd_model = fresh_model()
record("layer-wise LR decay 0.8", llrd_model, 1e-4, parameter_groups=layerwise_lr_groups(llrd_model, 1e-4, 0.8))

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
# The seeds' "Adapter" is the original PEFT idea (Houlsby et al.): small bottleneck layers inserted after each
# sub-layer. LoRA sits in parallel instead, which is why it can be merged away and adds no inference latency.
#
# Because the course BERT was pretrained without a pooler, the pooler is trained with the classifier in every
# PEFT run (`modules_to_save`).

# %%
from helpers.finetune_strategies import PEFT_METHODS, peft_model

steps = strategy_epochs * -(-len(strategy_train) // profile.batch_size)
for method in PEFT_METHODS:
    wrapped = peft_model(fresh_model(), method, total_steps=steps)
    hook = (lambda step, m=wrapped: m.base_model.update_and_allocate(step)) if method == "adalora" else None
    record(f"PEFT: {method}", wrapped, 1e-3 if method != "prefix" else 1e-2, on_step=hook)

# %% [markdown]
# ## 5. One table, one plot (结果汇总)

# %%
results = pd.DataFrame(rows).T
print(f"{len(strategy_train)} training reviews, {strategy_epochs} epochs, hardware: {device}")
results.style.format({"trainable parameters": "{:,.0f}", "trainable %": "{:.2f}", "validation accuracy": "{:.1%}",
                      "test accuracy": "{:.1%}", "best epoch": "{:.0f}", "seconds": "{:.0f}", "saved MB": "{:.2f}"})

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
#
# The lesson's measured figures are saved for the interview bank when `scripts/run_lessons.py` runs the lesson
# (`helpers.results`; a learner's run writes nothing).

# %%
import re

from helpers.results import record_lesson_figures

_names = {"TF-IDF + logistic regression": "tfidf", "course-bert (pretrained)": "pretrained", "same BERT from scratch": "scratch"}
record_lesson_figures("03", {
    "label_efficiency": [{"labels": int(n), **{_names[m]: float(a) for m, a in group.set_index("model")["test accuracy"].items()}}
                         for n, group in curve.groupby("labels")],
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
# * Pretraining matters most when labels are few: the label-efficiency curve shows where.
# * Freezing trades accuracy for speed and memory; LLRD keeps the lower layers close to their pretrained values.
# * PEFT methods train a small fraction of the parameters and save tiny checkpoints; compare their accuracy with
#   full fine-tuning in the table above before choosing one.
#
# ## 8. Interview questions (面试题)

# %%
from helpers.interview.quiz import show_lesson_questions

questions = show_lesson_questions("03", lang="both")
