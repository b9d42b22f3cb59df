# %% [markdown]
# # 04 · Overfitting control (过拟合): see it, then measure every remedy
#
# A model overfits (过拟合) when it keeps getting better on its training data and worse on data it has not seen.
# Interview answers list remedies from memory; this lesson measures them. We make overfitting happen on
# purpose (a few hundred reviews, many epochs, no regularisation), watch the learning curves part, and then run
# each remedy alone, with the same seed, data and budget: early stopping, dropout, weight decay, data
# augmentation, adversarial training (FGM), label smoothing, and training fewer parameters (LoRA).

# %%
import copy
import random

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
# A base-sized Hub model (bert-base-chinese: 102M parameters, 20x the course BERT) makes the gpu profile fall back
# to the cpu profile's smaller workload, so the lesson still takes minutes on a Colab T4 (helpers/models.py).
from helpers.models import profile_for_model

profile = profile_for_model(profile, MODEL_NAME)

# %% [markdown]
# ## 1. A small training set, too many epochs (制造过拟合)

# %%
from helpers.classification import FineTuneSettings, balanced_subset, evaluate_classifier, tokenize_dataset, train_classifier
from helpers.data import head, load_reviews
from helpers.models import load_pretrained
from helpers.models import load_tokenizer

reviews = load_reviews()
tokenizer = load_tokenizer(MODEL_NAME)
small_raw = balanced_subset(reviews["train"], profile.overfit_examples, seed=0)
small = tokenize_dataset(small_raw, tokenizer, profile.max_length)
validation = tokenize_dataset(head(reviews["validation"], profile.heldout_examples), tokenizer, profile.max_length)
test_raw = head(reviews["test"], profile.eval_examples)
test = tokenize_dataset(test_raw, tokenizer, profile.max_length)
print(f"train {len(small)} reviews, {profile.overfit_epochs} epochs; validation {len(validation)}; test {len(test)}")


def fresh_model(seed=0, **config):
    set_seed(seed)
    return load_pretrained(BertForSequenceClassification, MODEL_NAME, num_labels=2, **config).to(device)


def train_run(model, train=small, **settings):
    """One run with the lesson's budget; validation picks the epoch (by validation loss)."""
    options = dict(epochs=profile.overfit_epochs, batch_size=profile.batch_size, eval_batch_size=profile.eval_batch_size,
                   learning_rate=1e-4, weight_decay=0.0, select_on="loss", group_by_length=True,
                   mixed_precision=profile.mixed_precision)
    options.update(settings)
    return train_classifier(model, train, validation, tokenizer, FineTuneSettings(**options), progress=False)


baseline_model = fresh_model(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
baseline = train_run(baseline_model, track_train=True)  # training-set scores every epoch, for the curves
curves = pd.DataFrame(baseline.history)
curves[["epoch", "train_loss", "validation_loss", "train_accuracy", "validation_accuracy"]].round(3)

# %%
long = curves.melt(id_vars="epoch", value_vars=["train_loss", "validation_loss", "train_accuracy", "validation_accuracy"])
long["split"] = long["variable"].str.split("_").str[0]
long["metric"] = long["variable"].str.split("_").str[1]
grid = sns.relplot(data=long, x="epoch", y="value", hue="split", col="metric", kind="line", marker="o",
                   facet_kws={"sharey": False}, height=3.2, aspect=1.2)
grid.axes[0][0].axvline(baseline.best_epoch, ls="--", c="grey")
grid.axes[0][1].axvline(baseline.best_epoch, ls="--", c="grey")
grid.set_axis_labels("epoch", "value")
grid.axes[0][0].set(title="Cross-entropy (nats per review)")
grid.axes[0][1].set(title="Accuracy (share of reviews)")
grid.figure.suptitle("No regularisation: train vs validation; dashed line = lowest validation loss", y=1.05)
plt.show()

# %%
lowest = int(curves.loc[curves["validation_loss"].idxmin(), "epoch"])
last = int(curves["epoch"].iloc[-1])
gap = curves["train_accuracy"].iloc[-1] - curves["validation_accuracy"].iloc[-1]
if lowest < last:
    print(f"validation loss lowest at epoch {lowest}, then up {curves['validation_loss'].iloc[-1] - curves['validation_loss'].min():.3f} "
          f"by epoch {last}: the curves have parted")
else:
    print(f"validation loss still falling at the last epoch ({last}): within this budget the curves have not parted yet")
print(f"train - validation accuracy at epoch {last}: {gap:+.1%}")

# %% [markdown]
# The moment the curves part is where the validation loss stops falling (dashed line) while the training loss
# keeps going down: from there on the model memorises the training reviews. The first sign comes earlier: the
# training scores run ahead of the validation scores, and the gap widens epoch by epoch. The cell above says how
# far this run got; with the cpu profile's budget the validation loss may still creep down at the last epoch, and
# then only the gap shows. Validation accuracy often holds up longer than validation loss, because the model
# becomes over-confident on the reviews it gets wrong before it gets more of them wrong.
#
# ## 2. Validation discipline (验证集纪律)
#
# Train on train, choose on validation, report test **once**. Every run below picks its epoch on validation. At
# the end we show what happens if you instead pick the best *run* by its test score.
#
# ## 3. The remedies, one at a time (逐一测量)

# %%
runs = {"no regularisation": (baseline_model, baseline)}


def remedy(name, model, **settings):
    runs[name] = (model, train_run(model, **settings))


remedy("early stopping (patience 2)", fresh_model(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0), patience=2)
for rate in (0.1, 0.3):
    remedy(f"dropout {rate}", fresh_model(hidden_dropout_prob=rate, attention_probs_dropout_prob=rate))
remedy("weight decay 0.1", fresh_model(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0), weight_decay=0.1)
remedy("label smoothing 0.1", fresh_model(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0), label_smoothing=0.1)
remedy("FGM adversarial training (epsilon 1.0)", fresh_model(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0),
       adversarial_epsilon=1.0)

# %% [markdown]
# **Weight decay (权重衰减) and L1.** AdamW's weight decay shrinks every weight a little each step, the decoupled
# form of an L2 penalty. An L1 penalty (which drives weights to exactly zero) is rare for transformers: sparsity in
# scattered single weights saves nothing on dense hardware, and its gradient does not vanish near zero, so it keeps
# pushing useful pretrained weights around.
#
# **Early stopping (早停) with `Trainer`.** The library version of the patience rule above: evaluate every epoch,
# stop after 2 epochs without a lower validation loss, and restore the best epoch's weights at the end
# (`EarlyStoppingCallback` + `load_best_model_at_end`, which needs a checkpoint saved every epoch). Where the
# validation loss keeps falling to the last epoch, patience never runs out: early stopping then only restores the
# best epoch, and the cell prints how many epochs ran.

# %%
from transformers import DataCollatorWithPadding, EarlyStoppingCallback, Trainer

from helpers.training import training_arguments

stopping_args = training_arguments(
    profile, num_train_epochs=profile.overfit_epochs, learning_rate=1e-4, weight_decay=0.0,
    eval_strategy="epoch", save_strategy="epoch", save_total_limit=2, load_best_model_at_end=True,
    metric_for_best_model="eval_loss", greater_is_better=False, logging_strategy="epoch", disable_tqdm=True,
)
stopping_trainer = Trainer(model=fresh_model(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0),
                           args=stopping_args, train_dataset=small, eval_dataset=validation,
                           data_collator=DataCollatorWithPadding(tokenizer), processing_class=tokenizer,
                           callbacks=[EarlyStoppingCallback(early_stopping_patience=2)])
stopping_trainer.train()
evaluations = [row for row in stopping_trainer.state.log_history if "eval_loss" in row]
best = min(evaluations, key=lambda row: row["eval_loss"])
print(f"Trainer: ran {len(evaluations)} of {profile.overfit_epochs} epochs, restored epoch {best['epoch']:.0f} "
      f"(validation loss {best['eval_loss']:.3f}); final model's validation loss "
      f"{stopping_trainer.evaluate()['eval_loss']:.3f}")
hand = runs["early stopping (patience 2)"][1]
print(f"hand-written loop: ran {len(hand.history)} epochs, restored epoch {hand.best_epoch}")

# %% [markdown]
# **Data augmentation (数据增强).** EDA-style edits at the character level make new, slightly damaged copies of
# each training review: delete, swap or insert characters taken from the review itself. Synonym replacement and
# back-translation are the classic stronger options, but they need a Chinese thesaurus or a translation model,
# which this offline course does not ship. Two extra copies per review, 10% of characters edited:

# %%
from datasets import concatenate_datasets

from helpers.regularization import augment_text

rng = random.Random(0)
augmented_raw = concatenate_datasets([small_raw] + [
    small_raw.map(lambda row: {"text": augment_text(row["text"], 0.1, rng)}) for _ in range(2)])
print(small_raw[0]["text"][:50], "->", augmented_raw[len(small_raw)]["text"][:50])
augmented = tokenize_dataset(augmented_raw, tokenizer, profile.max_length)
remedy("augmentation (2 copies, 10% edits)", fresh_model(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0),
       train=augmented)

# %% [markdown]
# **Fewer trainable parameters.** LoRA (lesson 03) trains a small fraction of the weights; with less freedom the
# model has less room to memorise.

# %%
from helpers.finetune_strategies import peft_model

steps = profile.overfit_epochs * -(-len(small) // profile.batch_size)
remedy("LoRA r=8 (fewer trainable parameters)",
       peft_model(fresh_model(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0), "lora", steps), learning_rate=1e-3)

# %% [markdown]
# ## 4. One table, one plot (结果汇总)
#
# For each run: the best validation accuracy, the test accuracy of the chosen epoch, the train-validation
# accuracy gap of the chosen model (how much better it does on the reviews it trained on), and the epoch
# validation chose.

# %%
def summary_row(model, result):
    gap = evaluate_classifier(model, small, tokenizer)["accuracy"] - result.best_validation_accuracy
    return {"best validation accuracy": result.best_validation_accuracy,
            "test accuracy": evaluate_classifier(model, test, tokenizer)["accuracy"],
            "train-validation gap": gap, "epoch chosen": result.best_epoch, "epochs run": len(result.history)}


table = pd.DataFrame({name: summary_row(model, result) for name, (model, result) in runs.items()}).T
table.style.format({"best validation accuracy": "{:.1%}", "test accuracy": "{:.1%}",
                    "train-validation gap": "{:+.1%}", "epoch chosen": "{:.0f}", "epochs run": "{:.0f}"})

# %%
fig, ax = plt.subplots(figsize=(7, 4))
plot = table.reset_index(names="remedy").sort_values("test accuracy")
sns.barplot(data=plot, y="remedy", x="test accuracy", color="steelblue", ax=ax)
ax.axvline(table.loc["no regularisation", "test accuracy"], ls="--", c="grey", label="no regularisation")
ax.set(title=f"Test accuracy by remedy ({len(small)} training reviews)", xlabel="test accuracy (share of reviews)",
       ylabel="", xlim=(max(0.0, plot["test accuracy"].min() - 0.05), min(1.0, plot["test accuracy"].max() + 0.03)))
ax.legend()
plt.show()

# %% [markdown]
# Conclude from the table, not from folklore: a remedy that does not beat the baseline here (same data, same
# budget, same seed) did not help on this data, however often it is recommended. But one seed is one draw: how
# large is the noise? Repeat two of the runs with other seeds (the same training reviews; only the head's
# initialisation, the batch order and the dropout masks change):

# %%
from helpers.finetune_protocol import standard_error

noise = []
for seed in profile.noise_seeds:
    for name, rate in (("no regularisation", 0.0), ("dropout 0.1", 0.1)):
        if seed == 0:
            accuracy = table.loc[name, "test accuracy"]
        else:
            model = fresh_model(seed, hidden_dropout_prob=rate, attention_probs_dropout_prob=rate)
            train_run(model, seed=seed)
            accuracy = evaluate_classifier(model, test, tokenizer)["accuracy"]
        noise.append({"run": name, "seed": seed, "test accuracy": accuracy})
noise = pd.DataFrame(noise)
spread = noise.groupby("run")["test accuracy"].agg(["mean", "std", "min", "max"])
display(spread.style.format("{:.1%}"))
difference = spread.loc["no regularisation", "mean"] - spread.loc["dropout 0.1", "mean"]
print(f"difference of the means: {difference:+.1%}; seed-to-seed sd: {spread['std'].mean():.1%}; "
      f"standard error of one test accuracy on {len(test):,} reviews: "
      f"{standard_error(spread.loc['no regularisation', 'mean'], len(test)):.1%}")

# %% [markdown]
# Two sources of noise add up: the test split is a sample (its standard error, printed above), and training itself
# varies from seed to seed. A difference smaller than both is not a finding; repeat over seeds before you
# believe a one-point win, and report mean ± sd.
#
# One case to check by arithmetic rather than by experiment: AdamW's decoupled weight decay multiplies each weight
# by `1 - lr × wd` per step, so the total shrinkage over the run is about `steps × lr × wd`:

# %%
decay_steps = profile.overfit_epochs * -(-len(small) // profile.batch_size)
print(f"weight decay 0.1 at lr 1e-4 over {decay_steps} steps shrinks every weight by about "
      f"{decay_steps * 1e-4 * 0.1:.2%}: too little to regularise anything in a run this short")

# %% [markdown]
# ## 5. What selecting on test would report (在测试集上挑选的代价)
#
# Suppose you had reported whichever of these runs scored best **on test**. How much better would it look than
# the run chosen honestly on validation? It can never look worse: the maximum over test scores is at least the
# test score of any one run. How much it inflates depends on how many runs there are and how close they are; when
# both rules pick the same run, as can happen, the inflation is zero in that draw.

# %%
by_validation = table["best validation accuracy"].idxmax()
by_test = table["test accuracy"].idxmax()
print(f"chosen on validation: {by_validation!r}, test {table.loc[by_validation, 'test accuracy']:.1%}")
print(f"chosen on test:       {by_test!r}, test {table.loc[by_test, 'test accuracy']:.1%}")
print(f"inflation from selecting on test: {table.loc[by_test, 'test accuracy'] - table.loc[by_validation, 'test accuracy']:+.1%} "
      f"over {len(table)} runs")

# %% [markdown]
# ## 6. Robustness (鲁棒性): a damaged copy of the test split
#
# Delete or swap 10% of the characters of every test review. Do augmentation or FGM make the model more robust to
# typos than the baseline?

# %%
from helpers.regularization import perturb_text

damage = random.Random(1)
damaged = tokenize_dataset(test_raw.map(lambda row: {"text": perturb_text(row["text"], 0.1, damage)}), tokenizer,
                           profile.max_length)
robust = {name: {"clean test": evaluate_classifier(runs[name][0], test, tokenizer)["accuracy"],
                 "damaged test (10% edits)": evaluate_classifier(runs[name][0], damaged, tokenizer)["accuracy"]}
          for name in ("no regularisation", "augmentation (2 copies, 10% edits)", "FGM adversarial training (epsilon 1.0)")}
robust = pd.DataFrame(robust).T
robust["drop"] = robust["damaged test (10% edits)"] - robust["clean test"]
robust.style.format("{:.1%}")

# %%
from helpers.results import record_lesson_figures

record_lesson_figures("04", {
    "train_examples": len(small), "epochs": profile.overfit_epochs, "test_examples": len(test),
    "remedies": table.reset_index(names="remedy").to_dict("records"),
    "noise": {"runs": noise.to_dict("records"), "difference_of_means": difference,
              "standard_error": standard_error(spread.loc["no regularisation", "mean"], len(test))},
    "selection_inflation": table.loc[by_test, "test accuracy"] - table.loc[by_validation, "test accuracy"],
    "robustness": robust.reset_index(names="run").to_dict("records"),
    "weight_decay_shrinkage": decay_steps * 1e-4 * 0.1,
}, profile)

# %% [markdown]
# ## 7. Exercises (练习)
#
# **Exercise 04.1.** Write a class `EarlyStopping(patience)` whose `update(validation_loss)` returns `True` when
# training should stop: after `patience` epochs in a row without a new lowest loss (an equal loss is not an
# improvement). It keeps `best_epoch` (counting from 1), the epoch whose weights to restore.

# %% tags=["exercise"]
class EarlyStopping:
    """Stop after `patience` epochs without a new best validation loss."""

    def __init__(self, patience):
        ### BEGIN SOLUTION
        self.patience = patience
        self.best_loss = float("inf")
        self.best_epoch = None
        self.epoch = 0
        ### END SOLUTION
        ### BEGIN STUB
        raise NotImplementedError("Exercise 04.1: replace this line with your code")
        ### END STUB

    def update(self, validation_loss):
        ### BEGIN SOLUTION
        self.epoch += 1
        if validation_loss < self.best_loss:
            self.best_loss, self.best_epoch = validation_loss, self.epoch
        return self.epoch - self.best_epoch >= self.patience
        ### END SOLUTION
        ### BEGIN STUB
        raise NotImplementedError("Exercise 04.1: replace this line with your code")
        ### END STUB


# %%
from helpers.exercises import check

check("04.1", EarlyStopping)

# %% [markdown]
# **Exercise 04.2.** Write `augment(text, rate, seed)`: an EDA-style variant of a Chinese text with about
# `rate * len(text)` edits (at least one for a text of two or more characters), each one a deletion, a swap of
# two characters, or an insertion of a character taken from the text. Make every random choice with
# `random.Random(seed)` (never the global `random` module); with `rate=0` return the text unchanged.
#
# The check measures how much you edited with the edit distance (编辑距离, Levenshtein) between text and
# variant, averaged over 20 seeds: it must be close to the number of edits asked for, not 1 whatever the rate,
# and not the whole text. A variant may now and then equal the text (two equal characters swapped): that is fine.

# %% tags=["exercise"]
import random


def augment(text, rate, seed):
    """A character-level augmented copy of text."""
    ### BEGIN SOLUTION
    rng = random.Random(seed)
    chars = list(text)
    if rate == 0 or len(chars) < 2:
        return text
    for _ in range(max(1, round(rate * len(chars)))):
        i = rng.randrange(len(chars))
        operation = rng.choice(("delete", "swap", "insert"))
        if operation == "delete" and len(chars) > 1:
            del chars[i]
        elif operation == "swap":
            j = rng.randrange(len(chars))
            chars[i], chars[j] = chars[j], chars[i]
        else:
            chars.insert(i, rng.choice(chars))
    return "".join(chars)
    ### END SOLUTION
    ### BEGIN STUB
    raise NotImplementedError("Exercise 04.2: replace this line with your code")
    ### END STUB


# %%
check("04.2", augment)

# %% [markdown]
# **Exercise 04.3.** Write the two halves of an FGM step. `fgm_attack(model, epsilon)` adds
# `epsilon * g / ||g||` to `model.bert.embeddings.word_embeddings.weight` (its gradient `g` is already computed)
# and returns a backup; `fgm_restore(model, backup)` puts the original weights back. Touch nothing else: no other
# weight and no gradient (the adversarial backward pass adds to them). If the gradient is all zeros there is no
# direction to move in: change nothing (dividing by a zero norm would fill the embeddings with NaN).

# %% tags=["exercise"]
import torch


def fgm_attack(model, epsilon):
    """Perturb the word embeddings along their gradient to norm epsilon; return a backup."""
    ### BEGIN SOLUTION
    weight = model.bert.embeddings.word_embeddings.weight
    backup = weight.detach().clone()
    norm = torch.linalg.vector_norm(weight.grad)
    if norm > 0:
        with torch.no_grad():
            weight.add_(epsilon * weight.grad / norm)
    return backup
    ### END SOLUTION
    ### BEGIN STUB
    raise NotImplementedError("Exercise 04.3: replace this line with your code")
    ### END STUB


def fgm_restore(model, backup):
    """Undo fgm_attack."""
    ### BEGIN SOLUTION
    with torch.no_grad():
        model.bert.embeddings.word_embeddings.weight.copy_(backup)
    ### END SOLUTION
    ### BEGIN STUB
    raise NotImplementedError("Exercise 04.3: replace this line with your code")
    ### END STUB


# %%
check("04.3", (fgm_attack, fgm_restore))

# %% [markdown]
# ## 8. Summary (小结)
#
# * Overfitting shows as training loss falling while validation loss rises, and before that as a widening gap
#   between training and validation scores; pick the epoch on validation loss.
# * Measure each remedy alone, on the same data, seed and budget; keep what beats the baseline on validation.
# * Selecting anything (epochs, runs, remedies) on test can only inflate the number you report (section 5
#   measures by how much in this run).
# * L1 regularisation is rare for transformers: it pushes weights to exactly zero, which neither AdamW's decoupled
#   weight decay nor the dense matrices of attention benefit from; weight decay (L2-style) is the standard.
#
# ## 9. Interview questions (面试题)

# %%
from helpers.interview.quiz import show_lesson_questions

questions = show_lesson_questions("04", lang="both")
