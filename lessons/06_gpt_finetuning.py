# %% [markdown]
# # 06 · GPT fine-tuning (生成模型微调): reviews on demand, positive or negative
#
# The course GPT was pretrained mostly on 1998 news. Here we continue training it on the review training split,
# with a **control token** (控制符) in front of each review: `[POS]` before positive ones, `[NEG]` before negative
# ones. Afterwards, starting a text with `[POS]` should produce a positive review. We measure whether it does,
# with a sentiment classifier as the judge, and also perplexity, diversity, and whether the model just copies
# training reviews.

# %%
import pandas as pd
import torch
from transformers import GPT2LMHeadModel

from helpers import set_seed
from helpers.env import start_lesson

profile, device = start_lesson()  # quiet library logs, seed 0, profile and device, print the environment

# %% [markdown]
# ## 1. Control tokens, and where the loss is masked (控制符与损失掩码)
#
# Two new special tokens enter the vocabulary, so the embedding matrix grows by two rows. A new row drawn at random
# says nothing, and the model would first have to learn what `[POS]` means before it can use it; so each starts as
# the **mean embedding of related characters** (好棒赞满意… for `[POS]`, 差糟烂失望… for `[NEG]`), which puts it
# near words of that sentiment from the first step (`helpers.control_codes.add_control_tokens`).
#
# Each training example then reads `start + control + review + [SEP]`, where `start` is how a text began in the
# model's pretraining (lesson 05, section 0: `[SEP]` for course-gpt, `[CLS]` for the Hub GPT-2). The **labels** copy
# the ids, except **-100 on the start and on the control token**: the control token is a condition we give, never
# something to predict. Where that mask sits matters: `GPT2LMHeadModel` shifts the labels by one inside its loss,
# so position 0's label is never used, and masking only position 0 (as this lesson's earlier version did) changes
# nothing. With the start in front, the control token sits at position 1, and without its -100 the model would be
# trained to *guess* the sentiment from the start alone.

# %%
from helpers.control_codes import CONTROL_TOKENS, RELATED_CHARACTERS, add_control_tokens, control_example
from helpers.data import head, load_pretraining_text, load_reviews
from helpers.gpt_text import text_start_ids
from helpers.models import load_pretrained, load_tokenizer

MODEL_NAME = "course-gpt"  # on Colab with internet: "uer/gpt2-chinese-cluecorpussmall"
MAX_LENGTH = min(64, profile.max_length)  # ids per example: most reviews fit (lesson 00's length figures)
tokenizer = load_tokenizer(MODEL_NAME)
model = load_pretrained(GPT2LMHeadModel, MODEL_NAME).to(device)
START = text_start_ids(tokenizer, MODEL_NAME)

new_ids = add_control_tokens(model, tokenizer, RELATED_CHARACTERS)
example = control_example("房间很干净", "[POS]", tokenizer, START, MAX_LENGTH)
pd.DataFrame({"token": tokenizer.convert_ids_to_tokens(example["input_ids"]), "input id": example["input_ids"],
              "label": example["labels"]}).T

# %% [markdown]
# ## 2. The data, and the model before fine-tuning (数据与微调前)
#
# All training reviews in the cpu and gpu profiles (a few in smoke), each with its label's control token. Three
# held-out figures are taken before training, so every change can be read against them: review perplexity with the
# control token, the same without it, and **news perplexity** on the held-out People's Daily slice: the model's
# pretraining ability, which fine-tuning on reviews may erode (灾难性遗忘, catastrophic forgetting).

# %%
from helpers.classification import balanced_subset
from helpers.control_codes import encode_reviews, perplexity
from helpers.pretraining import evaluate_causal_lm, pack_blocks

reviews = load_reviews()
n_train = profile.control_train_examples  # None: all training reviews
train_raw = balanced_subset(reviews["train"], n_train) if n_train else reviews["train"]
heldout_raw = head(reviews["validation"], profile.heldout_examples)
train = encode_reviews(train_raw, tokenizer, START, MAX_LENGTH)
heldout = encode_reviews(heldout_raw, tokenizer, START, MAX_LENGTH)
heldout_plain = encode_reviews(heldout_raw, tokenizer, START, MAX_LENGTH, controls=None)
news_blocks = pack_blocks(head(load_pretraining_text()["heldout"], profile.heldout_examples)["text"], tokenizer, 256,
                          wrap_cls_sep=False)

before = {"reviews": perplexity(model, heldout, tokenizer, profile.eval_batch_size),
          "reviews, no control token": perplexity(model, heldout_plain, tokenizer, profile.eval_batch_size),
          "news": evaluate_causal_lm(model, news_blocks)["perplexity"]}
print(f"{len(train):,} training reviews, {len(heldout):,} held-out reviews, {len(news_blocks)} held-out news blocks")
pd.Series(before, name="perplexity before fine-tuning").round(1).to_frame()

# %% [markdown]
# ## 3. Fine-tune with `Trainer` (用 Trainer 微调)
#
# `helpers.control_codes.collator` pads `input_ids` with `[PAD]` and `labels` with -100 and keeps the labels each
# example already has (the -100 on the start and the control token). `DataCollatorForLanguageModeling(mlm=False)`
# would rebuild the labels from the ids and lose that mask. Batches are grouped by length, so little of each batch
# is padding.

# %%
from transformers import Trainer

from helpers.control_codes import collator
from helpers.training import training_arguments

start_state = {name: value.detach().clone() for name, value in model.state_dict().items()}  # for section 6
set_seed(0)
arguments = training_arguments(profile, learning_rate=5e-4, num_train_epochs=1, warmup_steps=0.05,
                               per_device_train_batch_size=32, save_strategy="no", logging_strategy="no",
                               train_sampling_strategy="group_by_length")
trainer = Trainer(model=model, args=arguments, train_dataset=train, data_collator=collator(tokenizer),
                  processing_class=tokenizer)
trainer.train()
after = {"reviews": perplexity(model, heldout, tokenizer, profile.eval_batch_size),
         "reviews, no control token": perplexity(model, heldout_plain, tokenizer, profile.eval_batch_size),
         "news": evaluate_causal_lm(model, news_blocks)["perplexity"]}
pd.DataFrame({"before": before, "after": after}).round(1)

# %% [markdown]
# Review perplexity falls: the model has learned how reviews read. News perplexity rises: that is forgetting,
# measured. Section 6 tries one remedy.
#
# ## 4. Generate on demand (按需生成)
#
# Three conditions with the same prompt start, the same sampling settings (top-p 0.9, repetition penalty 1.2) and
# the same random stream: `[POS]`, `[NEG]`, and **no control token**, the model's default, which the other two are
# read against.

# %%
from helpers.control_codes import generate_texts

SAMPLING = dict(top_p=0.9, top_k=0, repetition_penalty=1.2)
PROMPTS = {"[POS]": START + [new_ids["[POS]"]], "[NEG]": START + [new_ids["[NEG]"]], "no control token": START}
n_generated = profile.judged_generations


def generate_all(model):
    return {name: generate_texts(model, tokenizer, prompt, n_generated, MAX_LENGTH - len(prompt), seed=0, **SAMPLING)
            for name, prompt in PROMPTS.items()}


generated = generate_all(model)
with pd.option_context("display.max_colwidth", 100):
    display(pd.DataFrame({name: texts[:3] for name, texts in generated.items()}))

# %% [markdown]
# ## 5. Did it obey? A judge, and its ceiling (可控性)
#
# A sentiment classifier labels every generated review. The judge here is lesson 02's TF-IDF + logistic-regression
# baseline, trained on the training reviews: quick to train and the more accurate of the two judges the bench uses
# (section 6b). A judge has its own errors, so its accuracy on **real** test reviews of each class is its ceiling:
# a generator cannot be shown to obey better than the judge can tell.

# %%
from helpers.baselines import tfidf_classifier
from helpers.control_codes import per_class_accuracy, share_positive

judge = tfidf_classifier(train_raw["text"], train_raw["label"])
test_raw = head(reviews["test"], profile.eval_examples)
judge_ceiling = per_class_accuracy(test_raw["label"], judge.predict(list(test_raw["text"])))
judge_accuracy = judge.score(list(test_raw["text"]), list(test_raw["label"]))
print(f"judge on real test reviews: {judge_accuracy:.1%} right; {judge_ceiling['negative']:.1%} of negative and "
      f"{judge_ceiling['positive']:.1%} of positive reviews")

# %%
from helpers.text_metrics import copies_stretch, distinct_n

training_text = "\n".join(train_raw["text"])


def judged(generated):
    """Share judged positive per condition, with diversity and the verbatim-copy rate."""
    rows = {}
    for name, texts in generated.items():
        long_enough = [t for t in texts if len(t) >= 20]
        rows[name] = {"judged positive": share_positive(judge.predict([t or "。" for t in texts])),
                      "distinct-2": distinct_n(texts, 2), "mean length (chars)": sum(map(len, texts)) / len(texts),
                      "copied 20-char stretch": (sum(copies_stretch(t, training_text, 20) for t in long_enough)
                                                 / len(long_enough)) if long_enough else float("nan")}
    return pd.DataFrame(rows).T


rows = judged(generated)
rows.style.format({"judged positive": "{:.1%}", "distinct-2": "{:.1%}", "mean length (chars)": "{:.0f}",
                   "copied 20-char stretch": "{:.1%}"})

# %% [markdown]
# Read `[POS]` and `[NEG]` against the unconditioned row: the control token obeys to the extent it moves the share
# away from the model's default, in the requested direction. A verbatim-copy rate near 0 says the samples are new
# text, not recalled reviews (the window is 20 characters).

# %%
controllability = {"POS": rows.loc["[POS]", "judged positive"], "NEG": 1 - rows.loc["[NEG]", "judged positive"],
                   "none_positive": rows.loc["no control token", "judged positive"]}
print(f"[POS] judged positive in {controllability['POS']:.0%} of {n_generated} samples, [NEG] judged negative in "
      f"{controllability['NEG']:.0%}; with no control token {controllability['none_positive']:.0%} are judged "
      "positive (a coin flip would give 50%)")

# %% [markdown]
# ## 6. Forgetting, and one remedy: interpolate the weights (遗忘与权重插值)
#
# Fine-tuning moved every weight from where pretraining left it. **Weight interpolation** (WiSE-FT, Wortsman et al.
# 2022) keeps only part of the move: `start + alpha * (fine-tuned - start)`. `alpha` = 1 is the fine-tuned model,
# 0 the starting one. It costs no training, so we can read the trade-off directly: news perplexity (what we keep)
# against review perplexity and controllability (what we wanted).

# %%
from helpers.control_codes import interpolate_weights

fine_tuned_state = {name: value.detach().clone() for name, value in model.state_dict().items()}
ALPHA = 0.5
interpolate_weights(model, start_state, ALPHA)
halfway = {"reviews": perplexity(model, heldout, tokenizer, profile.eval_batch_size),
           "reviews, no control token": perplexity(model, heldout_plain, tokenizer, profile.eval_batch_size),
           "news": evaluate_causal_lm(model, news_blocks)["perplexity"]}
halfway_rows = judged(generate_all(model))
model.load_state_dict(fine_tuned_state)  # back to the fine-tuned model
forgetting = pd.DataFrame({"before": before, "fine-tuned (alpha 1)": after, f"interpolated (alpha {ALPHA})": halfway})
forgetting.loc["[POS] judged positive"] = [float("nan"), rows.loc["[POS]", "judged positive"],
                                           halfway_rows.loc["[POS]", "judged positive"]]
forgetting.loc["[NEG] judged negative"] = [float("nan"), 1 - rows.loc["[NEG]", "judged positive"],
                                           1 - halfway_rows.loc["[NEG]", "judged positive"]]
forgetting.round(3)

# %%
news_rise = {name: column["news"] / before["news"] - 1 for name, column in forgetting.items() if name != "before"}
print("news perplexity above its starting value: " + ", ".join(f"{name} {rise:+.0%}" for name, rise in news_rise.items()))

# %% [markdown]
# ### 6b. The same at full scale, with a second judge (`bench/gpt_control.py`)
#
# `bench/gpt_control.py` runs sections 1-6 on all 13,891 training reviews (lr 5e-4, the same masks, initialisation,
# prompts and sampling, 200 samples per condition) and adds a second judge: a course-bert classifier fine-tuned on
# all training reviews. Its stored runs (cpu, 2 cores), one row per run, interpolation `alpha` and judge
# (`runs/gpt-lr5e-4-e2`: the same recipe for 2 epochs, sampled again with `bench/gpt_control.py sample`):

# %%
import json

from helpers.results import RESULTS_DIR

bench_path = RESULTS_DIR / "gpt_control.json"  # in the repository; absent where only the package is installed
bench = json.loads(bench_path.read_text(encoding="utf-8")) if bench_path.is_file() else {}
full_runs = {name: run for name, run in bench.items()
             if run.get("kind") == "finetune" and run["settings"].get("limit") is None}
if not full_runs:
    print("no full-data run stored yet: python bench/gpt_control.py judge && python bench/gpt_control.py finetune")
else:
    first = next(iter(full_runs.values()))["figures"]
    ceiling = pd.DataFrame(first["judges_on_test"]).T.rename(columns=lambda c: f"right on real {c} reviews")
    display(ceiling.style.format("{:.1%}").set_caption("Each judge on the real test reviews (its ceiling)"))
    table = []
    for name, run in full_runs.items():
        settings = run["settings"]
        for alpha, result in run["figures"]["alphas"].items():
            for judge_name, _ in result.get("control", {}).get("POS", {}).get("judged_positive", {}).items():
                control = result["control"]
                table.append({"run": f"{settings['epochs']} epoch(s), news replay {settings['replay_share']:.0%}",
                              "alpha": alpha, "judge": judge_name,
                              "[POS] judged positive": control["POS"]["judged_positive"][judge_name],
                              "no control token: judged positive": control["none"]["judged_positive"][judge_name],
                              "[NEG] judged negative": 1 - control["NEG"]["judged_positive"][judge_name],
                              "news perplexity": result["news"], "review perplexity": result["reviews"]})
    for name, run in bench.items():  # saved models sampled again (more epochs), same prompts and sampling
        if run.get("kind") == "sampling":
            for setting, control in run["results"].items():
                if setting.startswith("{") and json.loads(setting) == {"top_p": 0.9, "top_k": 0, "repetition_penalty": 1.2}:
                    for judge_name in control["POS"]["judged_positive"]:
                        table.append({"run": run["model"], "alpha": "1.0", "judge": judge_name,
                                      "[POS] judged positive": control["POS"]["judged_positive"][judge_name],
                                      "no control token: judged positive": control["none"]["judged_positive"][judge_name],
                                      "[NEG] judged negative": 1 - control["NEG"]["judged_positive"][judge_name],
                                      "news perplexity": float("nan"), "review perplexity": float("nan")})
    print(f"news perplexity before fine-tuning: {first['news_before']:.1f}; rerun: "
          + "; ".join(f"`{run['command']}`" for run in full_runs.values()))
    display(pd.DataFrame(table).style.format({c: "{:.1%}" for c in ("[POS] judged positive",
                                              "no control token: judged positive", "[NEG] judged negative")}
                                             | {"news perplexity": "{:.1f}", "review perplexity": "{:.1f}"}))
    bench_table = pd.DataFrame(table)
    worst = (bench_table.assign(worst=bench_table[["[POS] judged positive", "[NEG] judged negative"]].min(axis=1))
             .groupby(["run", "alpha"])["worst"].min())
    best_run, best_alpha = worst.idxmax()
    print(f"best worst case (the weaker token, by the stricter judge): {best_run}, alpha {best_alpha}: "
          f"{worst.max():.1%} (target 85%)")
    # a raw share says little if the model already leans that way without a token: measure the move away from it
    default_positive = bench_table["no control token: judged positive"]
    lift = pd.DataFrame({"run": bench_table["run"], "alpha": bench_table["alpha"],
                         "[POS] lift": bench_table["[POS] judged positive"] - default_positive,
                         "[NEG] lift": bench_table["[NEG] judged negative"] - (1 - default_positive)})
    weaker_lift = lift.assign(weaker=lift[["[POS] lift", "[NEG] lift"]].min(axis=1)).groupby(["run", "alpha"])["weaker"].min()
    print(f"largest move away from the unconditioned share (the weaker token, by the stricter judge): "
          f"{weaker_lift.idxmax()[0]}, alpha {weaker_lift.idxmax()[1]}: {weaker_lift.max():+.1%}")
    for (run_name, alpha), value in weaker_lift.items():
        if value <= 0:
            print(f"  {run_name}, alpha {alpha}: one token moves the share the wrong way or not at all ({value:+.1%})")
    for name, run in full_runs.items():
        fine_tuned = run["figures"]["alphas"]["1.0"]
        print(f"{name}: news perplexity {first['news_before']:.1f} -> {fine_tuned['news']:.1f} at alpha 1 "
              f"(target: at most {1.1 * first['news_before']:.1f})")

# %% [markdown]
# Read it against the targets a useful controller would meet: each control token obeyed in 85% or more of samples
# by both judges, and news perplexity within 10% of where it started. The fine-tuned model (`alpha` 1) moves the
# judged sentiment in the requested direction on both sides of the unconditioned share, but short of 85%, and its
# news perplexity roughly doubles; halfway interpolation gives much of the news ability back at almost no cost in
# review perplexity, while weakening the control. A second epoch strengthens `[NEG]` more than `[POS]`. Replaying
# People's Daily text in a share of every batch (经验回放, replay) while training longer keeps more of the news
# ability than one epoch without it, and its raw shares are the highest (the "best worst case" line). But read the
# next line too: replay also pulls the samples without a control token towards news-like text, which both judges
# mostly call positive, so its `[POS]` share sits *below* that default and `[POS]` no longer moves the share upward.
# A raw share is only control to the extent it differs from the unconditioned one. Neither target is met by any run;
# a 4-layer, 4.7M-parameter GPT fine-tuned this way does not reach them, and a larger model (the Hub GPT-2 on Colab)
# is the next thing to try.

# %% [markdown]
# The lesson's measured figures are saved for the interview bank when `scripts/run_lessons.py` runs the lesson
# (`helpers.results`; a learner's run writes nothing).

# %%
from helpers.results import record_lesson_figures

record_lesson_figures("06", {
    "perplexity_before": before["reviews"], "perplexity_after": after["reviews"],
    "news_perplexity_before": before["news"], "news_perplexity_after": after["news"],
    "news_perplexity_interpolated": halfway["news"], "interpolation_alpha": ALPHA,
    "controllability": controllability, "judge_test_accuracy": judge_accuracy, "judge_per_class": judge_ceiling,
    "train_reviews": len(train), "samples_per_condition": n_generated,
}, profile)

# %% [markdown]
# ## 7. Exercises (练习)
#
# **Exercise 06.1.** Write `control_example(text, label, tokenizer, start_ids, max_length)`, the example section 1
# built with the helper: a dict with `input_ids` = `start_ids`, the control token (`[POS]` for label 1, `[NEG]` for 0),
# the review's ids without special tokens (truncated so the whole example fits in `max_length`), `[SEP]`; and
# `labels` = the same ids with -100 on the start and on the control token.

# %% tags=["exercise"]
def control_example(text, label, tokenizer, start_ids, max_length):
    """start + control token + review ids (truncated) + [SEP]; labels masked (-100) on the start and the control."""
    ### BEGIN SOLUTION
    control = tokenizer.convert_tokens_to_ids("[POS]" if label == 1 else "[NEG]")
    prefix = list(start_ids) + [control]
    body = tokenizer(text, add_special_tokens=False)["input_ids"][: max_length - len(prefix) - 1]
    body = body + [tokenizer.sep_token_id]
    return {"input_ids": prefix + body, "labels": [-100] * len(prefix) + body}
    ### END SOLUTION
    ### BEGIN STUB
    raise NotImplementedError("Exercise 06.1: replace this line with your code")
    ### END STUB


# %%
from helpers.exercises import check

check("06.1", control_example)

# %% [markdown]
# **Exercise 06.2.** Write `distinct_2(texts)`: the number of distinct character bigrams divided by the number of
# all bigrams, pooled over all texts (a bigram repeated across two texts counts as a repeat; a bigram never spans
# two texts). With no bigram at all, return 0.0.

# %% tags=["exercise"]
def distinct_2(texts):
    """Pooled distinct-2 over a list of texts."""
    ### BEGIN SOLUTION
    bigrams = [text[i : i + 2] for text in texts for i in range(len(text) - 1)]
    return len(set(bigrams)) / len(bigrams) if bigrams else 0.0
    ### END SOLUTION
    ### BEGIN STUB
    raise NotImplementedError("Exercise 06.2: replace this line with your code")
    ### END STUB


# %%
check("06.2", distinct_2)

# %% [markdown]
# **Exercise 06.3.** Write `copies_training(text, training_text, window)`: `True` if any stretch of `window`
# consecutive characters of `text` occurs in `training_text`.

# %% tags=["exercise"]
def copies_training(text, training_text, window):
    """Does some window-long stretch of text occur verbatim in training_text?"""
    ### BEGIN SOLUTION
    return any(text[i : i + window] in training_text for i in range(len(text) - window + 1))
    ### END SOLUTION
    ### BEGIN STUB
    raise NotImplementedError("Exercise 06.3: replace this line with your code")
    ### END STUB


# %%
check("06.3", copies_training)

# %% [markdown]
# ## 8. What a model this size can and cannot do (能力边界)
#
# A 4-layer, 4.7M-parameter GPT trained for minutes learns the surface of reviews: typical words, punctuation,
# product and hotel vocabulary. The control token shifts the sentiment of what it writes, measurably but far from
# reliably (sections 5 and 6b: compare each share with the judge's ceiling and the unconditioned share). It
# does not keep a topic for long, mixes products within one review, and repeats itself without the repetition
# penalty. A Chinese GPT-2 from the Hub (`uer/gpt2-chinese-cluecorpussmall`, 102M parameters, the same
# BertTokenizer + GPT2LMHeadModel pairing) fine-tuned with this same notebook should write far more fluent reviews
# (not measured here: it needs the Hub): set `MODEL_NAME` to it on Colab with a GPU.
#
# ## 9. Summary (小结)
#
# * Conditional generation needs no new architecture: a control token in front of each training text is enough.
#   Start it from related characters' embeddings, and mask its label (-100) where the loss would otherwise see it.
# * Judge the judge: its accuracy on real text of each class is the ceiling, and the unconditioned share is the
#   baseline the control tokens are read against.
# * Fine-tuning forgets: measure the pretraining ability (news perplexity) before and after; weight interpolation
#   trades some of the new skill for much of the old one at no training cost.
# * Measure what you want (the judge's controllability), what you must not lose (perplexity, diversity), and what
#   you must not do (copy the training data).
#
# ## 10. Interview questions (面试题)

# %%
from helpers.interview.quiz import show_lesson_questions

questions = show_lesson_questions("06", lang="both")
