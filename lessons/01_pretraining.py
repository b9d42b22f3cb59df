# %% [markdown]
# # 01 · Pretraining (预训练): masked LM for BERT, next-token LM for GPT
#
# Pretraining teaches a model the statistics of a language from raw, unlabelled text, by a task whose
# answers come from the text itself (self-supervised learning, 自监督学习). Two such tasks built the two
# families of models this course uses:
#
# * **masked language modelling** (掩码语言模型, MLM): hide some characters, predict them from both sides.
#   This is BERT, an encoder that reads the whole sentence at once;
# * **causal / next-token language modelling** (自回归语言模型): predict each character from the ones before
#   it. This is GPT, a decoder that can generate text.
#
# In this lesson you turn a news corpus into training blocks, write BERT's masking rule yourself, train a
# small BERT and a small GPT-2 for the profile's budget, measure them on held-out text, and compare them with
# the **course checkpoints**: the same models pretrained for far longer by `python -m helpers.checkpoints`,
# which every later lesson starts from.

# %%
import math

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
import torch
import transformers
from transformers import BertForMaskedLM, DataCollatorForLanguageModeling, GPT2LMHeadModel

from helpers import set_seed
from helpers.env import start_lesson

profile, device = start_lesson()  # quiet library logs, seed 0, profile and device, print the environment

# %% [markdown]
# ## 1. From raw corpus to training examples (从语料到训练样本)
#
# ### 1.1 Cleaning (清洗)
#
# The People's Daily file is segmented and tagged (`中共中央/nt  总书记/n`). For pretraining we remove exactly
# two things: the part-of-speech tags, which the model should not see, and the spaces between words, which
# written Chinese does not have. We keep punctuation, digits and Latin letters (the model must learn them),
# and we keep the duplicated paragraphs, which are short boilerplate such as photo captions:

# %%
from collections import Counter

from helpers.data import load_peoples_daily_tagged, load_pretraining_text

tagged = load_peoples_daily_tagged()
print("raw   :", "  ".join(f"{w}/{t}" for w, t in tagged[1]))
corpus = load_pretraining_text()
print("clean :", corpus["train"][1]["text"])
paragraph_counts = Counter(corpus["train"]["text"])
duplicates = sum(n - 1 for n in paragraph_counts.values() if n > 1)
print(f"duplicate paragraphs kept: {duplicates} of {len(corpus['train'])}; most common:",
      paragraph_counts.most_common(3))

# %% [markdown]
# The course checkpoints were also pretrained on the *text* of the review training split (never its labels,
# never validation or test reviews): reading the domain before fine-tuning on it, known as domain-adaptive
# pretraining (领域自适应预训练), is cheap and usually helps. This lesson keeps to the news text.
#
# ### 1.2 Tokens and blocks (分词与打包)
#
# The course tokenizer gives one token per Chinese character. Instead of padding every paragraph to a fixed
# length (wasting compute on `[PAD]`), pretraining **packs** the token stream: documents are joined, each
# ended by `[SEP]`, and the stream is cut into blocks of equal length. A BERT block also starts with `[CLS]`.
# Exercise 01.3 asks you to write the packing yourself; here is the helper's version:

# %%
from helpers.pretraining import pack_blocks
from helpers.tokenization import load_course_tokenizer

tokenizer = load_course_tokenizer()
block_size = profile.pretrain_block_size
train_texts = corpus["train"]["text"][: profile.pretrain_texts]  # None: the whole corpus (smoke: a slice)
heldout_texts = corpus["heldout"]["text"][: profile.pretrain_heldout_texts]
bert_train = pack_blocks(train_texts, tokenizer, block_size, wrap_cls_sep=True)
bert_heldout = pack_blocks(heldout_texts, tokenizer, block_size, wrap_cls_sep=True)
print(f"BERT blocks: train {tuple(bert_train.shape)}, held-out {tuple(bert_heldout.shape)}")
print(tokenizer.decode(bert_train[0][:40]))

# %% [markdown]
# The held-out slice is the last 5% of the paragraphs: the end of January, text the model never trains on.
# Held-out loss tells us whether the model learned the language or memorised its training blocks.
#
# ## 2. BERT: masked language modelling (掩码语言模型)
#
# ### 2.1 The masking rule: 15%, then 80/10/10
#
# BERT selects 15% of the (non-special) tokens as prediction targets. Of the selected tokens, 80% are replaced
# by `[MASK]`, 10% by a random token and 10% are left unchanged. Why not always `[MASK]`? Because `[MASK]` never
# appears when the model is fine-tuned or used: if the model only ever had to predict at `[MASK]`, it could
# ignore every real token. The random and unchanged cases force it to build a good representation of every
# position. The label is the original token at selected positions and `-100` (ignored by the loss) elsewhere.
#
# **Exercise 01.1.** Write `mask_tokens`. Use `torch.bernoulli(..., generator=generator)` for every random draw
# so that a seed makes it repeatable, give special tokens probability 0, and do not modify `input_ids`.

# %% tags=["exercise"]
import torch


def mask_tokens(input_ids, special_ids, mask_id, vocab_size, mlm_probability=0.15, generator=None):
    """Return (masked_inputs, labels) following BERT's 15% / 80-10-10 rule."""
    ### BEGIN SOLUTION
    inputs = input_ids.clone()
    special = torch.isin(inputs, torch.as_tensor(list(special_ids)))
    probabilities = torch.full(inputs.shape, mlm_probability).masked_fill(special, 0.0)
    selected = torch.bernoulli(probabilities, generator=generator).bool()
    labels = torch.where(selected, inputs, torch.full_like(inputs, -100))
    to_mask = torch.bernoulli(torch.full(inputs.shape, 0.8), generator=generator).bool() & selected
    to_random = torch.bernoulli(torch.full(inputs.shape, 0.5), generator=generator).bool() & selected & ~to_mask
    inputs[to_mask] = mask_id
    random_ids = torch.randint(vocab_size, inputs.shape, generator=generator)
    inputs[to_random] = random_ids[to_random]
    return inputs, labels
    ### END SOLUTION
    ### BEGIN STUB
    raise NotImplementedError("Exercise 01.1: replace this line with your code")
    ### END STUB


# %%
from helpers.exercises import check

check("01.1", mask_tokens)

# %% [markdown]
# Now compare the helper's implementation (the same rule; the rest of the lesson uses it, so your stub never
# blocks a later cell) with the library's `DataCollatorForLanguageModeling`, over the same blocks:

# %%
from helpers.pretraining import mask_tokens as course_mask_tokens, special_token_ids


def masking_shares(original, inputs, labels):
    """Share of tokens selected, and how the selected ones were replaced."""
    selected = labels != -100
    n = selected.sum().item()
    masked = (inputs[selected] == tokenizer.mask_token_id).sum().item() / n
    kept = (inputs[selected] == original[selected]).sum().item() / n
    eligible = (~torch.isin(original, torch.tensor(special_token_ids(tokenizer)))).sum().item()
    return {"selected": n / eligible, "[MASK]": masked, "random": 1 - masked - kept, "unchanged": kept}


sample = bert_train[:256]
ours = course_mask_tokens(sample, special_token_ids(tokenizer), tokenizer.mask_token_id, len(tokenizer),
                          generator=torch.Generator().manual_seed(0))
library = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15, seed=0).torch_mask_tokens(sample.clone())
pd.DataFrame({"course helper": masking_shares(sample, *ours), "transformers": masking_shares(sample, *library)}).style.format("{:.1%}")

# %%
inputs, labels = ours
print("input :", tokenizer.decode(inputs[0][1:41]))
print("target:", "".join(tokenizer.convert_ids_to_tokens(t) if t != -100 else "·" for t in labels[0][1:41].tolist()))

# %% [markdown]
# ### 2.2 The loss only where it counts: sparse prediction
#
# `BertForMaskedLM` computes vocabulary logits at *every* position, then the loss ignores 85% of them. The
# output layer is a `hidden × vocabulary` matrix product, the largest single one in a small model, so computing
# it only at the selected positions saves real time. The loss is the same number:

# %%
from helpers.models import bert_config
from helpers.pretraining import mlm_loss
from helpers.timing import median_seconds

set_seed(0)
# dropout off, so the two calls see the same network and their losses can be compared
bert = BertForMaskedLM(bert_config(profile, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)).to(device)
batch_inputs, batch_labels = inputs[:32].to(device), labels[:32].to(device)
timings = {}
for sparse in (False, True):
    name = "sparse" if sparse else "dense"
    loss = mlm_loss(bert, batch_inputs, batch_labels, sparse=sparse)[0]
    # one warm-up call, then the median of 3 (CUDA synchronised around each): helpers/timing.py
    timings[name] = median_seconds(lambda: mlm_loss(bert, batch_inputs, batch_labels, sparse=sparse)[0].backward(),
                                   device, warmup=1, repeat=3)
    print(f"{name:6s} loss {loss.item():.4f}, {timings[name] * 1000:.0f} ms per forward + backward")
print(f"speed-up: {timings['dense'] / timings['sparse']:.2f}x (benchmarked with more repeats in bench/pretraining_speed.py)")

# %% [markdown]
# ### 2.3 Train BERT for the profile's budget
#
# AdamW with a short linear warmup (预热) and a cosine decay: early on, Adam's variance estimates are poor and a
# full learning rate can blow the model up; warmup avoids that. Each step draws a fresh batch of blocks and a
# fresh mask.

# %%
from helpers.pretraining import PretrainSettings, evaluate_mlm, pretrain

bert_settings = PretrainSettings(steps=profile.pretrain_steps, batch_size=profile.batch_size, learning_rate=1e-3,
                                 log_every=max(1, profile.pretrain_steps // 30))
set_seed(0)
bert = BertForMaskedLM(bert_config(profile, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)).to(device)
bert_run = pretrain(bert, bert_train, tokenizer, bert_settings)
print(f"{bert_run.steps} steps, {bert_run.tokens:,} tokens in {bert_run.seconds:.0f} s "
      f"({bert_run.tokens / bert_run.seconds:,.0f} tokens/s)")

# %%
bert_history = pd.DataFrame(bert_run.history)
fig, ax = plt.subplots(figsize=(7, 3.5))
sns.lineplot(data=bert_history, x="tokens", y="loss", ax=ax)
ax.axhline(math.log(len(tokenizer)), ls="--", c="grey", label="uniform guess, ln(vocabulary)")
ax.set(title="BERT masked-LM training loss (this lesson's run)", xlabel="training tokens seen",
       ylabel="cross-entropy (nats per masked token)")
ax.legend()
plt.show()

# %% [markdown]
# ### 2.4 Held-out masked-character accuracy (遮盖字符准确率), against the course checkpoint
#
# On held-out news text, with a fixed mask: what share of the selected characters does the model get exactly
# right? The course checkpoint (`course-bert`) is the same architecture pretrained for far longer; its training
# record says how long, on what hardware.

# %%
from helpers.checkpoints import read_record
from helpers.models import load_pretrained

course_bert = load_pretrained(BertForMaskedLM, "course-bert").to(device)
course_record = read_record("course-bert")
rows = {
    "this lesson": evaluate_mlm(bert, bert_heldout, tokenizer),
    "course-bert": evaluate_mlm(course_bert, bert_heldout, tokenizer),
}
table = pd.DataFrame(rows).T[["loss", "masked_accuracy"]]
table["pretraining tokens"] = [bert_run.tokens, course_record["totals"]["tokens"]]
table["hardware"] = ["this machine", course_record["runs"][-1]["hardware"]]
table.style.format({"loss": "{:.3f}", "masked_accuracy": "{:.1%}", "pretraining tokens": "{:,}"})

# %% [markdown]
# ### 2.5 Fill in the blank (完形填空)
#
# `pipeline("fill-mask")` runs the masked-LM head on a `[MASK]` and lists the most likely characters. Compare
# this lesson's short run with the course checkpoint:

# %%
from transformers import pipeline

sentences = ["中国的首都是北[MASK]。", "今天的天气很[MASK]。", "人民日报记者报[MASK]。", "这本书写得很好，值得推[MASK]。"]
fill_ours = pipeline("fill-mask", model=bert, tokenizer=tokenizer, top_k=3, device=device)
fill_course = pipeline("fill-mask", model=course_bert, tokenizer=tokenizer, top_k=3, device=device)
show = lambda predictions: " ".join(f"{p['token_str']}({p['score']:.2f})" for p in predictions)
pd.DataFrame({"sentence": sentences,
              "this lesson": [show(fill_ours(s)) for s in sentences],
              "course-bert": [show(fill_course(s)) for s in sentences]})

# %% [markdown]
# ### 2.6 What about NSP? (下一句预测)
#
# The original BERT had a second pretraining task, next-sentence prediction (NSP): given two segments, was the
# second the real continuation of the first, or a random sentence? RoBERTa showed that dropping NSP (and
# training on longer contiguous text) does as well or better: a random sentence usually changes topic, so NSP
# is mostly topic detection, which MLM already teaches. ALBERT replaced it with sentence-order prediction
# (SOP), which is harder. We do not train NSP.
#
# ## 3. GPT: next-token language modelling (自回归语言模型)
#
# GPT reads left to right. A **causal mask** (因果掩码) stops position *t* from attending to positions after
# *t*, so the model cannot peek at the answer. Each position predicts the next token: the labels are the
# inputs shifted by one. In `transformers` you pass `labels=input_ids` and the model does the shift inside.

# %%
length = 8
causal_mask = torch.tril(torch.ones(length, length))
fig, ax = plt.subplots(figsize=(3.6, 3.2))
sns.heatmap(causal_mask, cbar=False, annot=True, fmt=".0f", cmap="Blues", ax=ax)
ax.set(title="Causal attention mask", xlabel="key position (attended to)", ylabel="query position")
plt.show()

# %% [markdown]
# `DataCollatorForLanguageModeling(mlm=False)` prepares GPT batches: labels are a copy of the inputs with
# padding set to `-100`; the shift happens in the model's loss.

# %%
lm_collator = DataCollatorForLanguageModeling(tokenizer, mlm=False)
examples = [tokenizer(text, add_special_tokens=False) for text in ["新年好", "迈向新世纪"]]
lm_batch = lm_collator(examples)
print("input_ids:", lm_batch["input_ids"].tolist())
print("labels   :", lm_batch["labels"].tolist())

# %% [markdown]
# **Exercise 01.2.** Write the next-token loss by hand from the logits: the prediction at position *t* is scored
# against the token at *t + 1*, averaged over all predictions. It must equal the model's own loss, in any float
# dtype, and stay a tensor connected to the logits (so that `loss.backward()` can train the model).

# %% tags=["exercise"]
import torch.nn.functional as F


def next_token_loss(logits, input_ids):
    """Mean cross-entropy of logits[:, t] against input_ids[:, t + 1]."""
    ### BEGIN SOLUTION
    vocab = logits.shape[-1]
    return F.cross_entropy(logits[:, :-1].reshape(-1, vocab), input_ids[:, 1:].reshape(-1))
    ### END SOLUTION
    ### BEGIN STUB
    raise NotImplementedError("Exercise 01.2: replace this line with your code")
    ### END STUB


# %%
check("01.2", next_token_loss)

# %% [markdown]
# ### 3.1 Train a GPT-2 and watch it learn
#
# Same recipe, same blocks of news text (without `[CLS]`). A greedy continuation of one prompt is printed at a
# few points: watch how quickly frequent news words appear, and whether the text still loops at the end of this
# short run (greedy decoding of a small model often does; lesson 05 shows why and what helps).

# %%
from helpers.models import gpt_config
from helpers.pretraining import evaluate_causal_lm

gpt_train = pack_blocks(train_texts, tokenizer, block_size, wrap_cls_sep=False)
gpt_heldout = pack_blocks(heldout_texts, tokenizer, block_size, wrap_cls_sep=False)
# Packed blocks have no padding, so the collator's labels are the inputs themselves: the training loop
# can pass labels=input_ids directly.
assert torch.equal(lm_collator([{"input_ids": block} for block in gpt_train[:4]])["labels"], gpt_train[:4])
prompt = tokenizer("中国人民", add_special_tokens=False, return_tensors="pt")["input_ids"]


def continue_prompt(model, new_tokens=20):
    """Greedy continuation of the prompt, as text."""
    model.eval()
    with torch.no_grad():
        output = model.generate(prompt.to(model.device), max_new_tokens=new_tokens, do_sample=False,
                                pad_token_id=tokenizer.pad_token_id)
    model.train()
    return tokenizer.decode(output[0], skip_special_tokens=True)


# %%
set_seed(0)
gpt = GPT2LMHeadModel(gpt_config(profile, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)).to(device)
sample_every = max(1, profile.pretrain_steps // 3)


def print_sample(row):
    if row["step"] % sample_every == 0 or row["step"] == profile.pretrain_steps:
        print(f"step {row['step']:>4}  loss {row['loss']:.2f}  | {continue_prompt(gpt)}")


gpt_settings = PretrainSettings(steps=profile.pretrain_steps, batch_size=profile.batch_size, learning_rate=1e-3,
                                log_every=max(1, profile.pretrain_steps // 30))
gpt_run = pretrain(gpt, gpt_train, tokenizer, gpt_settings, on_log=print_sample)
print(f"{gpt_run.tokens:,} tokens in {gpt_run.seconds:.0f} s ({gpt_run.tokens / gpt_run.seconds:,.0f} tokens/s)")

# %% [markdown]
# ### 3.2 Held-out perplexity (困惑度)
#
# Perplexity is `exp(mean negative log-likelihood per token)`: the model is as uncertain as if it chose
# uniformly among that many characters. A uniform guess over the vocabulary scores the vocabulary size. It
# depends on the tokenizer: a character-level perplexity cannot be compared with a word-level one.

# %%
course_gpt = load_pretrained(GPT2LMHeadModel, "course-gpt").to(device)
gpt_record = read_record("course-gpt")
perplexities = pd.DataFrame({"this lesson": evaluate_causal_lm(gpt, gpt_heldout),
                             "course-gpt": evaluate_causal_lm(course_gpt, gpt_heldout)}).T[["loss", "perplexity"]]
perplexities["pretraining tokens"] = [gpt_run.tokens, gpt_record["totals"]["tokens"]]
perplexities.loc["uniform guess"] = [math.log(len(tokenizer)), len(tokenizer), 0]
perplexities.style.format({"loss": "{:.3f}", "perplexity": "{:,.1f}", "pretraining tokens": "{:,.0f}"})

# %%
print("this lesson :", continue_prompt(gpt, 40))
print("course-gpt  :", continue_prompt(course_gpt, 40))

# %% [markdown]
# ### 3.3 Reference curves: what "working" looks like
#
# Each course checkpoint's training record keeps its loss curve. If your own longer runs sit far above these
# curves at the same number of tokens, something is wrong (learning rate, masking, data).

# %%
curves = []
for name, record in (("course-bert (MLM)", course_record), ("course-gpt (next token)", gpt_record)):
    offset = 0
    for run in record["runs"]:
        for row in run["loss_curve"]:
            curves.append({"model": name, "tokens": offset + row["tokens"], "loss": row["loss"]})
        offset += run["tokens"]
fig, ax = plt.subplots(figsize=(7, 3.5))
sns.lineplot(data=pd.DataFrame(curves), x="tokens", y="loss", hue="model", ax=ax)
ax.set(title="Course checkpoints: pretraining loss", xlabel="training tokens seen", ylabel="cross-entropy (nats per predicted token)",
       xscale="log")
plt.show()

# %% [markdown]
# ## 4. Save and reload (保存与加载)
#
# `save_pretrained` writes the config and the weights as safetensors (a format that holds only tensors, so
# loading it cannot run code, unlike pickle). `from_pretrained` rebuilds the same model: the outputs must be
# identical, bit for bit.

# %%
import tempfile
from pathlib import Path

with tempfile.TemporaryDirectory() as folder:
    gpt.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    print(sorted(p.name for p in Path(folder).iterdir()))
    reloaded = load_pretrained(GPT2LMHeadModel, folder).to(device)
gpt.eval()
with torch.no_grad():
    check_blocks = gpt_heldout[:4].to(device)
    same = torch.equal(gpt(check_blocks).logits, reloaded(check_blocks).logits)
print("identical outputs after reload:", same)
assert same

# %% [markdown]
# ## 5. Exercise: packing (打包)
#
# **Exercise 01.3.** Write `pack(token_lists, block_size, sep_id)`: follow every document with `sep_id`, join
# them into one stream, cut it into consecutive blocks of exactly `block_size` tokens, and drop the incomplete
# tail. Return a list of lists.

# %% tags=["exercise"]
def pack(token_lists, block_size, sep_id):
    """Blocks of exactly block_size ids from documents joined by sep_id."""
    ### BEGIN SOLUTION
    stream = []
    for ids in token_lists:
        if ids:
            stream.extend(ids)
            stream.append(sep_id)
    n_blocks = len(stream) // block_size
    return [stream[i * block_size : (i + 1) * block_size] for i in range(n_blocks)]
    ### END SOLUTION
    ### BEGIN STUB
    raise NotImplementedError("Exercise 01.3: replace this line with your code")
    ### END STUB


# %%
check("01.3", pack)

# %% [markdown]
# ## 6. Summary (小结)
#
# * Pretraining data needs little cleaning here (tags and spaces out), then packing into equal blocks.
# * BERT: select 15% of tokens, replace 80/10/10, predict the originals; compute the head only where needed.
# * GPT: causal mask, labels = inputs shifted by one; perplexity = exp(loss per token).
# * A few minutes of CPU training moves the loss far below a uniform guess but is far from useful: compare the
#   lesson's run with the course checkpoints in the tables above. That gap is why later lessons load
#   `course-bert` and `course-gpt`.
# * To pretrain longer yourself: `python -m helpers.checkpoints bert --minutes 60` (see its `--help`).
#
# ## 7. Interview questions (面试题)

# %%
from helpers.interview.quiz import show_lesson_questions

questions = show_lesson_questions("01", lang="both")
