# %% [markdown]
# # 11 · Build it yourself (动手实现): the mechanisms interviewers ask about
#
# Interviews go one level below the APIs the earlier lessons used: "write attention", "what goes into BERT's input",
# "why is word2vec not enough", "what exactly does LoRA add", "why do Chinese BERTs use characters", "can BERT
# classify with no labels", "how do you track experiments". Here you build each one in a few lines and check it
# against the library that implements it, on the course's own models and data:
#
# 1. scaled dot-product attention and the causal mask (缩放点积注意力, 因果掩码);
# 2. BERT's input representation (输入表示): token + position + segment embeddings;
# 3. static vs contextual embeddings (静态词向量 vs 上下文表示): a skip-gram next to BERT;
# 4. LoRA by hand (低秩适配), checked against `peft`;
# 5. a sub-word tokenizer (子词分词) trained with `tokenizers`, next to the course's character tokenizer;
# 6. prompt-based zero-shot classification (提示学习) with the MLM head, next to fine-tuning on the profile's
#    smallest label count;
# 7. experiment tracking (实验跟踪) with TensorBoard.

# %%
import math
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from helpers import set_seed
from helpers.env import hardware, start_lesson
from helpers.exercises import check

profile, device = start_lesson()  # quiet library logs, seed 0, profile and device, print the environment

# %% [markdown]
# ## 1. Scaled dot-product attention (缩放点积注意力)
#
# $\mathrm{Attention}(Q, K, V) = \mathrm{softmax}(QK^\top / \sqrt{d_k})\,V$: each query scores every key, the
# scores become weights that sum to 1, and the output is the weighted mean of the values. A GPT adds a **causal
# mask** (因果掩码): query $i$ may look at keys $0..i$ only, so training on a whole sentence at once never lets a
# position see the characters it must predict.
#
# **Exercise 11.1.** Write `attention(q, k, v, causal)` returning `(output, weights)` for tensors shaped
# `(batch, heads, length, d_k)`. With `causal=True`, set the scores of future keys to `-inf` before the softmax.

# %% tags=["exercise"]
import math

import torch


def attention(q, k, v, causal=False):
    """softmax(q k^T / sqrt(d_k)) v, with future keys masked when causal; returns (output, weights)."""
    ### BEGIN SOLUTION
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if causal:
        n_q, n_k = scores.shape[-2:]
        allowed = torch.ones(n_q, n_k, dtype=torch.bool, device=q.device).tril()
        scores = scores.masked_fill(~allowed, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights
    ### END SOLUTION
    ### BEGIN STUB
    raise NotImplementedError("Exercise 11.1: replace this line with your code")
    ### END STUB


# %%
check("11.1", attention)

# %% [markdown]
# The checker compared your function with `torch.nn.functional.scaled_dot_product_attention` on random tensors.
# Now the real thing: the attention weights inside the course BERT and GPT. With `attn_implementation="eager"`
# transformers computes attention exactly like the formula and can return the weights (`output_attentions=True`;
# the fused SDPA kernel does not produce them). We recompute layer 0's weights from its input and projections.

# %%
from transformers import BertForMaskedLM, GPT2LMHeadModel

from helpers.mechanisms import attention  # the course's version (= the solution): the cells below run either way
from helpers.models import load_pretrained, load_tokenizer

bert = load_pretrained(BertForMaskedLM, "course-bert", attn_implementation="eager").eval()
bert_tokenizer = load_tokenizer("course-bert")
gpt = load_pretrained(GPT2LMHeadModel, "course-gpt", attn_implementation="eager").eval()
gpt_tokenizer = load_tokenizer("course-gpt")


def split_heads(x, heads):
    """(batch, length, hidden) -> (batch, heads, length, hidden / heads)"""
    batch, length, hidden = x.shape
    return x.view(batch, length, heads, hidden // heads).transpose(1, 2)


sentence = "本报北京一月五日电，今天天气很好。"
with torch.no_grad():
    encoded = bert_tokenizer(sentence, return_tensors="pt")
    out = bert(**encoded, output_attentions=True, output_hidden_states=True)
    layer = bert.bert.encoder.layer[0].attention.self
    heads = bert.config.num_attention_heads
    q = split_heads(layer.query(out.hidden_states[0]), heads)
    k = split_heads(layer.key(out.hidden_states[0]), heads)
    v = split_heads(layer.value(out.hidden_states[0]), heads)
    _, bert_weights = attention(q, k, v, causal=False)

    gpt_encoded = gpt_tokenizer(sentence, return_tensors="pt")
    gpt_out = gpt(**gpt_encoded, output_attentions=True, output_hidden_states=True)
    block = gpt.transformer.h[0]
    qkv = block.attn.c_attn(block.ln_1(gpt_out.hidden_states[0]))
    gq, gk, gv = (split_heads(t, gpt.config.n_head) for t in qkv.split(gpt.config.n_embd, dim=-1))
    _, gpt_weights = attention(gq, gk, gv, causal=True)

comparison = pd.DataFrame({
    "largest difference from the model's own weights": [(bert_weights - out.attentions[0]).abs().max().item(),
                                                         (gpt_weights - gpt_out.attentions[0]).abs().max().item()],
    "weight given to future positions": [bert_weights.triu(1).sum(-1).mean().item(), gpt_weights.triu(1).sum(-1).mean().item()],
}, index=["course-bert, layer 0 (bidirectional)", "course-gpt, layer 0 (causal)"])
assert comparison.iloc[:, 0].max() < 1e-4
comparison

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 4))
for ax, weights, title in ((axes[0], bert_weights, "course-bert layer 0, head 0 (bidirectional)"),
                           (axes[1], gpt_weights, "course-gpt layer 0, head 0 (causal)")):
    image = ax.imshow(weights[0, 0].numpy(), cmap="Blues", vmin=0, vmax=1)
    ax.set(title=title, xlabel="key position (attended to)", ylabel="query position")
fig.colorbar(image, ax=axes, label="attention weight (each row sums to 1)")
plt.show()
print("positions:", " ".join(f"{i}:{t}" for i, t in enumerate(bert_tokenizer.convert_ids_to_tokens(encoded["input_ids"][0]))))

# %% [markdown]
# ### Why divide by $\sqrt{d_k}$? Softmax saturation (softmax 饱和)
#
# If the entries of q and k have variance 1, the dot product of two $d_k$-dimensional vectors has variance $d_k$.
# For large $d_k$ the scores spread so far apart that the softmax puts almost all weight on one key: a near
# one-hot distribution whose gradient is almost zero, so the query and key projections barely learn. Dividing by
# $\sqrt{d_k}$ brings the variance back to 1 whatever the width. Measured on random vectors:

# %%
generator = torch.Generator().manual_seed(0)
rows = []
for d_k in (4, 16, 64, 256, 1024):
    q_rand = torch.randn(2000, 1, d_k, generator=generator)
    k_rand = torch.randn(2000, 32, d_k, generator=generator)
    raw = (q_rand @ k_rand.transpose(-2, -1)).squeeze(1)
    for name, scores in (("unscaled q·k", raw), ("scaled q·k / sqrt(d_k)", raw / math.sqrt(d_k))):
        p = torch.softmax(scores.requires_grad_(), dim=-1)
        # how much the softmax still responds: norm of d p_max / d scores, averaged over the queries
        grad, = torch.autograd.grad(p.max(-1).values.sum(), scores)
        rows.append({"d_k": d_k, "scores": name, "largest weight (mean)": p.max(-1).values.mean().item(),
                     "score std": scores.std().item(), "gradient norm (mean)": grad.norm(dim=-1).mean().item()})
saturation = pd.DataFrame(rows)
fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
for name, part in saturation.groupby("scores"):
    axes[0].plot(part["d_k"], part["largest weight (mean)"], marker="o", label=name)
    axes[1].plot(part["d_k"], part["gradient norm (mean)"], marker="o", label=name)
axes[0].set(title="Softmax over 32 keys: weight of the top key", xlabel="d_k (log scale)", xscale="log",
            ylabel="largest attention weight (0 to 1)")
axes[1].set(title="How much the softmax can still learn", xlabel="d_k (log scale)", xscale="log", yscale="log",
            ylabel="gradient norm of the top weight")
axes[0].legend()
plt.tight_layout()
plt.show()
saturation.pivot(index="d_k", columns="scores", values="largest weight (mean)").round(3)

# %% [markdown]
# ## 2. BERT's input representation (输入表示)
#
# BERT's first layer does not see characters, it sees the sum of three learned vectors per position: the
# **token** embedding (which character), the **position** embedding (where: BERT learns one vector per position
# up to 512), and the **segment** embedding (sentence A or B, `token_type_ids`), followed by LayerNorm and dropout.
#
# **Exercise 11.2.** Write `embed_by_hand(embeddings, input_ids, token_type_ids)` using the sub-modules of a
# `BertEmbeddings` (`word_embeddings`, `position_embeddings`, `token_type_embeddings`, `LayerNorm`); leave dropout
# out (the module is in eval mode, where dropout does nothing).

# %% tags=["exercise"]
import torch


def embed_by_hand(embeddings, input_ids, token_type_ids):
    """LayerNorm(token + position + segment embeddings) for a batch of ids."""
    ### BEGIN SOLUTION
    positions = torch.arange(input_ids.shape[1], device=input_ids.device)
    summed = (embeddings.word_embeddings(input_ids) + embeddings.position_embeddings(positions)[None]
              + embeddings.token_type_embeddings(token_type_ids))
    return embeddings.LayerNorm(summed)
    ### END SOLUTION
    ### BEGIN STUB
    raise NotImplementedError("Exercise 11.2: replace this line with your code")
    ### END STUB


# %%
check("11.2", embed_by_hand)

# %% [markdown]
# The same on the course BERT, for a sentence pair (`[CLS] A [SEP] B [SEP]`):

# %%
from helpers.mechanisms import embed_by_hand  # the course's version, as above

pair = bert_tokenizer("物流很快", "包装完好", return_tensors="pt", return_token_type_ids=True)
with torch.no_grad():
    by_hand = embed_by_hand(bert.bert.embeddings, pair["input_ids"], pair["token_type_ids"])
    by_module = bert.bert.embeddings(input_ids=pair["input_ids"], token_type_ids=pair["token_type_ids"])
print("token_type_ids:", pair["token_type_ids"][0].tolist())
print(f"largest difference from model.bert.embeddings: {(by_hand - by_module).abs().max().item():.2e}")
segment_rows = bert.bert.embeddings.token_type_embeddings.weight
print(f"norm of segment A's vector {segment_rows[0].norm():.2f}, of segment B's {segment_rows[1].norm():.2f}")
assert torch.allclose(by_hand, by_module, atol=1e-5)

# %% [markdown]
# The course BERT was pretrained with MLM on single texts, never on pairs (no next-sentence prediction), so the
# segment-B row never received a gradient: it is its random initial value, only shrunk by weight decay. A model fine-tuned on pairs with this
# checkpoint would have to learn it. Position embeddings are learned, not sinusoidal, which is why BERT cannot
# read past its 512th position.
#
# ## 3. Static vs contextual embeddings (静态词向量 vs 上下文表示)
#
# A **static** embedding (word2vec, GloVe) gives each character or word one vector, whatever the sentence.
# A **contextual** one (BERT's hidden states) is computed from the whole sentence. First a static one: a
# skip-gram (跳字模型) trained on the People's Daily characters with `gensim` (a real, fast C implementation; the
# lesson's point is the contrast with BERT, not the sampling loop, and gensim's `Word2Vec` is the reference
# implementation interviewers mean by "word2vec").

# %%
import hashlib

from gensim.models import Word2Vec

from helpers.data import head, load_pretraining_text


def stable_hash(text):
    """gensim seeds each vector from a hash of the word; Python's str hash changes between runs, this one does not."""
    return int(hashlib.md5(text.encode("utf-8")).hexdigest()[:8], 16)


news = head(load_pretraining_text()["train"], profile.pretrain_texts)["text"]
start = time.perf_counter()
skipgram = Word2Vec([list(paragraph) for paragraph in news], vector_size=64, window=3, min_count=3, sg=1,
                    negative=5, epochs=profile.skipgram_epochs, workers=1, seed=0, hashfxn=stable_hash)
print(f"skip-gram on {sum(map(len, news)):,} characters: {len(skipgram.wv):,} character vectors, "
      f"{time.perf_counter() - start:.1f} s")
probes = [c for c in ("京", "涨", "省", "月", "好") if c in skipgram.wv]
pd.DataFrame({c: [f"{w} {s:.2f}" for w, s in skipgram.wv.most_similar(c, topn=5)] for c in probes},
             index=[f"neighbour {i}" for i in range(1, 6)])

# %% [markdown]
# One vector per character, whatever the sentence. BERT, in contrast, computes the vector of 行 from its context:
# 银行 (háng, a bank) and 步行 (xíng, to walk) share the character but not the meaning.
#
# **Exercise 11.3.** Write `static_and_contextual(model, tokenizer, sentence, char)` for a `BertModel`: return the
# character's **static** vector (its row of `model.embeddings.word_embeddings.weight`) and its **contextual**
# vector (`last_hidden_state` at the character's first position in `input_ids`).

# %% tags=["exercise"]
import torch


def static_and_contextual(model, tokenizer, sentence, char):
    """(static, contextual) vectors of the first occurrence of ``char`` in ``sentence``."""
    ### BEGIN SOLUTION
    encoded = tokenizer(sentence, return_tensors="pt")
    char_id = tokenizer.convert_tokens_to_ids(char)
    position = encoded["input_ids"][0].tolist().index(char_id)
    with torch.no_grad():
        hidden = model(**encoded).last_hidden_state[0]
    return model.embeddings.word_embeddings.weight[char_id].detach(), hidden[position]
    ### END SOLUTION
    ### BEGIN STUB
    raise NotImplementedError("Exercise 11.3: replace this line with your code")
    ### END STUB


# %%
check("11.3", static_and_contextual)

# %%
from helpers.mechanisms import static_and_contextual

senses = {"银行 (bank)": ["他在银行工作。", "这家银行的利率很高。"], "步行 (walk)": ["我们步行回家。", "他一个人步行去学校。"]}
vectors = {(sense, s): static_and_contextual(bert.bert, bert_tokenizer, s, "行") for sense, group in senses.items() for s in group}
keys = list(vectors)
cosine = lambda a, b: torch.cosine_similarity(a, b, dim=0).item()
table = pd.DataFrame([[cosine(vectors[a][1], vectors[b][1]) for b in keys] for a in keys],
                     index=[s for _, s in keys], columns=[s for _, s in keys])
same = np.mean([table.iloc[0, 1], table.iloc[2, 3]])
cross = np.mean([table.iloc[i, j] for i in (0, 1) for j in (2, 3)])
print(f"static vectors identical in all four sentences: {all(torch.equal(vectors[keys[0]][0], vectors[k][0]) for k in keys)}")
print(f"course-bert, last layer, cosine of 行: same sense {same:.3f}, different sense {cross:.3f}")
table.round(3)

# %% [markdown]
# The static vector is the same in every sentence by construction; the contextual ones differ, and the table
# shows whether this small BERT already separates the two senses (same-sense pairs more similar than
# different-sense pairs). A static model can only average the senses; that is the interview answer to "why did
# BERT replace word2vec".
#
# ## 4. LoRA by hand (低秩适配)
#
# LoRA keeps a pretrained `nn.Linear` frozen and learns a low-rank update next to it:
# $h = W x + b + \frac{\alpha}{r} B A x$ with $A \in \mathbb{R}^{r \times d_{in}}$ (random) and
# $B \in \mathbb{R}^{d_{out} \times r}$ (**zeros**, so training starts from exactly the pretrained model). After
# training, $W + \frac{\alpha}{r} BA$ is one matrix again: merged, it costs nothing at inference.
#
# **Exercise 11.4.** Write the class `LoRALinear(base, r, alpha)`: freeze `base`, create `lora_A` (r × in,
# `nn.init.kaiming_uniform_(..., a=math.sqrt(5))` as peft does) and `lora_B` (out × r, zeros) as `nn.Parameter`s,
# `forward(x)`, and `merge()` returning a new `nn.Linear` with the merged weight.

# %% tags=["exercise"]
import math

import torch
from torch import nn


class LoRALinear(nn.Module):
    """A frozen nn.Linear plus a trainable low-rank update (alpha / r) * B @ A."""

    def __init__(self, base, r, alpha):
        super().__init__()
        ### BEGIN SOLUTION
        self.base, self.scaling = base, alpha / r
        for parameter in base.parameters():
            parameter.requires_grad = False
        self.lora_A = nn.Parameter(torch.empty(r, base.in_features))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r))
        ### END SOLUTION
        ### BEGIN STUB
        raise NotImplementedError("Exercise 11.4: replace this line with your code")
        ### END STUB

    def forward(self, x):
        ### BEGIN SOLUTION
        return self.base(x) + (x @ self.lora_A.T @ self.lora_B.T) * self.scaling
        ### END SOLUTION
        ### BEGIN STUB
        raise NotImplementedError("Exercise 11.4: replace this line with your code")
        ### END STUB

    def merge(self):
        ### BEGIN SOLUTION
        merged = nn.Linear(self.base.in_features, self.base.out_features, bias=self.base.bias is not None)
        with torch.no_grad():
            merged.weight.copy_(self.base.weight + self.scaling * self.lora_B @ self.lora_A)
            if self.base.bias is not None:
                merged.bias.copy_(self.base.bias)
        return merged
        ### END SOLUTION
        ### BEGIN STUB
        raise NotImplementedError("Exercise 11.4: replace this line with your code")
        ### END STUB


# %%
check("11.4", LoRALinear)

# %% [markdown]
# On the course BERT: wrap the query and value projections of every layer (rank 8, alpha 16, as lesson 03 does
# with `peft`), count what trains, train the adapters for a few steps, then merge and compare with `peft`'s own
# LoRA holding the same A and B.

# %%
import copy

from peft import LoraConfig, get_peft_model
from transformers import BertModel

from helpers.mechanisms import LoRALinear
from helpers.training import count_parameters

set_seed(0)
encoder = load_pretrained(BertModel, "course-bert", add_pooling_layer=False).eval()
ours = copy.deepcopy(encoder)
for parameter in ours.parameters():
    parameter.requires_grad = False
for block in ours.encoder.layer:
    block.attention.self.query = LoRALinear(block.attention.self.query, r=8, alpha=16)
    block.attention.self.value = LoRALinear(block.attention.self.value, r=8, alpha=16)
theirs = get_peft_model(copy.deepcopy(encoder), LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0,
                                                            target_modules=["query", "value"]))
print("trainable parameters, ours:", f"{count_parameters(ours)[0]:,}", "| peft's:", f"{count_parameters(theirs)[0]:,}")

# a few steps of training so that B is no longer zero (the loss is arbitrary: pull the outputs towards zero)
batch = bert_tokenizer(["物流很快，包装完好。", "客服态度恶劣。"], padding=True, return_tensors="pt")
optimizer = torch.optim.AdamW([p for p in ours.parameters() if p.requires_grad], lr=1e-2)
for _ in range(3):
    loss = ours(**batch).last_hidden_state.pow(2).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
ours.eval()
with torch.no_grad():  # copy our A and B into peft's layers
    for mine, block in zip(ours.encoder.layer, theirs.base_model.model.encoder.layer):
        for name in ("query", "value"):
            getattr(block.attention.self, name).lora_A["default"].weight.copy_(getattr(mine.attention.self, name).lora_A)
            getattr(block.attention.self, name).lora_B["default"].weight.copy_(getattr(mine.attention.self, name).lora_B)
    ours_out = ours(**batch).last_hidden_state
    peft_out = theirs(**batch).last_hidden_state
    for block in ours.encoder.layer:  # merge: plain nn.Linear layers again
        block.attention.self.query = block.attention.self.query.merge()
        block.attention.self.value = block.attention.self.value.merge()
    merged_out = ours(**batch).last_hidden_state
    peft_merged_out = theirs.merge_and_unload()(**batch).last_hidden_state
pd.DataFrame({"largest difference": [(ours_out - peft_out).abs().max().item(), (merged_out - ours_out).abs().max().item(),
                                     (merged_out - peft_merged_out).abs().max().item()]},
             index=["ours vs peft (same A, B)", "ours merged vs unmerged", "ours merged vs peft merge_and_unload()"])

# %% [markdown]
# ## 5. A sub-word tokenizer (子词分词) vs the course's characters
#
# English BERT splits words into WordPiece sub-words; GPT-2 uses byte-level BPE. Chinese BERTs (bert-base-chinese,
# the course's own) split into single characters. Why? Train a BPE tokenizer with the `tokenizers` library on the
# same text the course tokenizer learned from (news + training reviews) and compare on the review test split.
#
# **Exercise 11.5.** Write `token_stats(tokenizer, texts)` returning `{"tokens_per_text": ..., "unk_rate": ...}`:
# the mean number of tokens per text without special tokens, and the share of all those tokens that are `[UNK]`.

# %% tags=["exercise"]
def token_stats(tokenizer, texts):
    """Mean tokens per text (no special tokens) and the share of tokens that are [UNK]."""
    ### BEGIN SOLUTION
    ids = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in texts]
    n_tokens = sum(len(row) for row in ids)
    unknown = sum(token == tokenizer.unk_token_id for row in ids for token in row)
    return {"tokens_per_text": n_tokens / len(texts), "unk_rate": unknown / n_tokens}
    ### END SOLUTION
    ### BEGIN STUB
    raise NotImplementedError("Exercise 11.5: replace this line with your code")
    ### END STUB


# %%
check("11.5", token_stats)

# %%
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from helpers.data import load_reviews
from helpers.mechanisms import token_stats

reviews = load_reviews()
corpus = list(head(reviews["train"], profile.pretrain_texts)["text"]) + list(news)  # what the course tokenizer read
bpe = Tokenizer(models.BPE(unk_token="[UNK]"))
bpe.normalizer = normalizers.NFKC()
bpe.pre_tokenizer = pre_tokenizers.Whitespace()  # splits at spaces and punctuation; a Chinese run stays one piece
start = time.perf_counter()
bpe.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=profile.subword_vocab_size, min_frequency=2,
                                                   special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"],
                                                   show_progress=False))
bpe_tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, unk_token="[UNK]", pad_token="[PAD]",
                                        cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
print(f"BPE trained on {len(corpus):,} texts in {time.perf_counter() - start:.1f} s")
test_texts = head(reviews["test"], profile.eval_examples)["text"]
tokenizer_table = pd.DataFrame({
    name: {"vocabulary": len(tok), **token_stats(tok, test_texts)}
    for name, tok in (("course characters", bert_tokenizer), (f"BPE ({profile.subword_vocab_size:,})", bpe_tokenizer))
}).T
tokenizer_table["characters per token"] = np.mean([len(t) for t in test_texts]) / tokenizer_table["tokens_per_text"]
example = test_texts[0]
print("characters:", bert_tokenizer.tokenize(example)[:20])
print("BPE:       ", bpe_tokenizer.tokenize(example)[:20])
tokenizer_table.style.format({"vocabulary": "{:,.0f}", "tokens_per_text": "{:.1f}", "unk_rate": "{:.3%}",
                              "characters per token": "{:.2f}"})

# %% [markdown]
# BPE makes sequences shorter (the last column: characters per token), which is cheaper, but look at what it
# merges: runs of characters that were frequent in the news, across word boundaries, because Chinese has no spaces
# to stop a merge; and a character too rare to enter its alphabet becomes `[UNK]`, so its [UNK] rate is no better
# than the character tokenizer's. Chinese BERTs are character-level because about 21,000
# characters cover nearly all text (the course needs only 5,366 for news and reviews), a character carries
# meaning on its own, no word segmenter is needed (segmenters disagree and make errors), and word-level knowledge
# can be taught back through whole-word masking (全词掩码, as in Chinese BERT-wwm). LLM tokenizers do merge Chinese
# characters (byte-level BPE), trading the segmentation question for shorter sequences.
#
# ## 6. Prompt-based zero-shot classification (提示学习)
#
# BERT's pretraining task is filling in blanks. Write the task as a blank and the MLM head classifies with no
# training at all: append **"。总之，这个很[MASK]。"** ("in short, this is very [MASK]") to the review and compare
# the scores of 好 (good) and 差 (bad) at the mask (the verbalizer, 标签词).
#
# **Exercise 11.6.** Write `prompt_ids(review, tokenizer, max_length)`: `[CLS]` + the review's tokens + the
# template's tokens + `[SEP]`, at most `max_length` ids. Long reviews must be cut, but the template (and its
# `[MASK]`) never.

# %% tags=["exercise"]
TEMPLATE = "。总之，这个很[MASK]。"  # also helpers.mechanisms.CLOZE_TEMPLATE


def prompt_ids(review, tokenizer, max_length):
    """Token ids of [CLS] review TEMPLATE [SEP], truncating the review only."""
    ### BEGIN SOLUTION
    template = tokenizer(TEMPLATE, add_special_tokens=False)["input_ids"]
    body = tokenizer(review, add_special_tokens=False)["input_ids"][: max_length - 2 - len(template)]
    return [tokenizer.cls_token_id] + body + template + [tokenizer.sep_token_id]
    ### END SOLUTION
    ### BEGIN STUB
    raise NotImplementedError("Exercise 11.6: replace this line with your code")
    ### END STUB


# %%
check("11.6", prompt_ids)

# %%
from helpers.classification import FineTuneSettings, balanced_subset, evaluate_classifier, tokenize_dataset, train_classifier

from helpers.mechanisms import prompt_ids

GOOD, BAD = bert_tokenizer.convert_tokens_to_ids(["好", "差"])


def cloze_margins(texts, batch_size=64):
    """logit(好) - logit(差) at the [MASK] of each prompt."""
    margins = []
    for i in range(0, len(texts), batch_size):
        ids = [prompt_ids(t, bert_tokenizer, profile.max_length) for t in texts[i:i + batch_size]]
        batch = bert_tokenizer.pad({"input_ids": ids}, return_tensors="pt").to(device)
        with torch.no_grad():
            logits = bert(**batch).logits
        at_mask = logits[batch["input_ids"] == bert_tokenizer.mask_token_id]
        margins.append((at_mask[:, GOOD] - at_mask[:, BAD]).cpu())
    return torch.cat(margins).numpy()


bert.to(device)
test_raw = head(reviews["test"], profile.eval_examples)
validation_raw = head(reviews["validation"], profile.heldout_examples)
start = time.perf_counter()
test_margin = cloze_margins(test_raw["text"])
# calibration without labels: the median margin on unlabelled validation reviews as the threshold (the classes are
# about balanced), which removes the model's prior preference for one of the two words
threshold = float(np.median(cloze_margins(validation_raw["text"])))
test_labels = np.array(test_raw["label"])
zero_shot = {"zero-shot prompt (好 vs 差)": ((test_margin > 0) == test_labels).mean(),
             "zero-shot prompt, threshold = median validation margin": ((test_margin > threshold) == test_labels).mean()}
print(f"scored {len(test_raw):,} test reviews in {time.perf_counter() - start:.1f} s; "
      f"{(test_margin > 0).mean():.0%} of them get 好 > 差; calibrated threshold {threshold:.2f}")

# %% [markdown]
# Next to it, the usual route with the profile's smallest label count (500 in the cpu profile; a balanced draw,
# seed 0, as in lesson 03): fine-tune course-bert
# with a classification head.

# %%
from transformers import BertForSequenceClassification

n_labels = profile.label_sizes[0]
few = balanced_subset(reviews["train"], n_labels, seed=0)
set_seed(0)
classifier = load_pretrained(BertForSequenceClassification, "course-bert", num_labels=2).to(device)
fit = train_classifier(classifier, tokenize_dataset(few, bert_tokenizer, profile.max_length),
                       tokenize_dataset(validation_raw, bert_tokenizer, profile.max_length), bert_tokenizer,
                       FineTuneSettings(epochs=profile.few_label_epochs, batch_size=profile.batch_size, learning_rate=1e-4),
                       progress=False)
few_label_accuracy = evaluate_classifier(classifier, tokenize_dataset(test_raw, bert_tokenizer, profile.max_length),
                                         bert_tokenizer)["accuracy"]
prompt_table = pd.Series({**zero_shot, f"fine-tuned on {n_labels} labels (epoch {fit.best_epoch} chosen on validation)":
                          few_label_accuracy}, name=f"test accuracy ({len(test_raw):,} reviews)")
prompt_table.to_frame().style.format("{:.1%}")

# %% [markdown]
# Read the table honestly: a prompt needs no labels at all, but it depends on what the MLM learned about 好 and
# 差 after 总之，这个很, and on the choice of template and label words (change them and accuracy moves: prompt
# engineering, 提示工程). Calibration matters because an MLM usually prefers one label word whatever the review:
# if the printed share of reviews with 好 > 差 is close to 100%, the uncalibrated prompt is simply "always
# positive" and scores the share of positive test reviews; the median threshold removes that preference.
# With big pretrained models, prompts (and few-shot prompts with a handful of examples) rival fine-tuning on few
# labels; with a small CPU-pretrained model the labelled route usually wins. PET/P-tuning combine both: fine-tune
# *through* the prompt.
#
# ## 7. Experiment tracking with TensorBoard (实验跟踪)
#
# Printing losses is not tracking. `Trainer(..., report_to="tensorboard")` writes every logged value (loss,
# learning rate, evaluation metrics) to an event file that TensorBoard displays and compares across runs.

# %%
import os
import tempfile

from transformers import DataCollatorWithPadding, PrinterCallback, ProgressCallback, Trainer

from helpers.classification import classification_metrics
from helpers.training import training_arguments

logdir = tempfile.mkdtemp(prefix="lesson11-tensorboard-")
os.environ["TENSORBOARD_LOGGING_DIR"] = logdir  # where transformers 5's TensorBoard callback writes
set_seed(0)
tracked = load_pretrained(BertForSequenceClassification, "course-bert", num_labels=2)
arguments = training_arguments(profile, report_to="tensorboard", max_steps=profile.tracking_steps, learning_rate=1e-4,
                               logging_steps=max(1, profile.tracking_steps // 12), eval_strategy="steps",
                               eval_steps=max(1, profile.tracking_steps // 3), save_strategy="no")
trainer = Trainer(model=tracked, args=arguments,
                  train_dataset=tokenize_dataset(balanced_subset(reviews["train"], profile.strategy_examples or 2000),
                                                 bert_tokenizer, profile.max_length),
                  eval_dataset=tokenize_dataset(validation_raw, bert_tokenizer, profile.max_length),
                  data_collator=DataCollatorWithPadding(bert_tokenizer), processing_class=bert_tokenizer,
                  compute_metrics=lambda p: classification_metrics(p.label_ids, p.predictions.argmax(-1)))
for callback in (PrinterCallback, ProgressCallback):  # the curves go to TensorBoard, not to this page
    trainer.remove_callback(callback)
trainer.train()
del os.environ["TENSORBOARD_LOGGING_DIR"]
print("event files:", [os.path.relpath(os.path.join(d, f), logdir) for d, _, fs in os.walk(logdir) for f in fs])

# %% [markdown]
# **Exercise 11.7.** Write `read_scalars(logdir, tag)` returning `(steps, values)` of one scalar tag, using
# `EventAccumulator` from `tensorboard.backend.event_processing.event_accumulator` (`.Reload()`, then
# `.Scalars(tag)` gives events with `.step`, `.value` and `.wall_time`).

# %% tags=["exercise"]
def read_scalars(logdir, tag):
    """(steps, values) of one scalar tag in a TensorBoard log folder."""
    ### BEGIN SOLUTION
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(logdir).Reload().Scalars(tag)
    return [e.step for e in events], [e.value for e in events]
    ### END SOLUTION
    ### BEGIN STUB
    raise NotImplementedError("Exercise 11.7: replace this line with your code")
    ### END STUB


# %%
check("11.7", read_scalars)

# %%
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from helpers.mechanisms import read_scalars

print("tags in the log:", EventAccumulator(logdir).Reload().Tags()["scalars"])
fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
axes[0].plot(*read_scalars(logdir, "train/loss"), marker=".", label="training loss")
axes[0].plot(*read_scalars(logdir, "eval/loss"), marker="o", label="validation loss")
axes[0].set(title="Read back from TensorBoard's event file", xlabel="optimizer step", ylabel="cross-entropy (nats)")
axes[0].legend()
axes[1].plot(*read_scalars(logdir, "eval/accuracy"), marker="o")
axes[1].set(title="Validation accuracy", xlabel="optimizer step", ylabel="accuracy (share of reviews)")
plt.tight_layout()
plt.show()

# %% [markdown]
# To see the dashboard itself, in JupyterLab or Colab run
#
# ```
# %load_ext tensorboard
# %tensorboard --logdir <the log folder>
# ```
#
# (or `tensorboard --logdir runs` in a terminal, then open http://localhost:6006). Give each run its own folder
# and TensorBoard overlays them: that is how you compare learning rates or seeds. **Weights & Biases**
# (`report_to="wandb"`, needs an account and network) is the hosted alternative: the same curves, plus run
# configs, artifacts and sharing. MLflow is the self-hosted one.
#
# ## 8. Summary (小结)

# %%
summary = {
    "attention: largest difference from the course models' own weights": float(comparison.iloc[:, 0].max()),
    "LoRA by hand vs peft: largest difference": float((ours_out - peft_out).abs().max()),
    "BPE tokens per review / character tokens per review": float(tokenizer_table["tokens_per_text"].iloc[1]
                                                                 / tokenizer_table["tokens_per_text"].iloc[0]),
    **{f"{name}: test accuracy": float(value) for name, value in prompt_table.items()},
}
print("hardware:", hardware(device))
pd.Series(summary).round(4)

# %% [markdown]
# * Attention is a softmax over scaled dot products; the causal mask is a lower-triangular matrix applied before
#   the softmax; scaling by $\sqrt{d_k}$ keeps the softmax from saturating as the width grows.
# * BERT's input = token + position + segment embeddings, then LayerNorm.
# * Static vectors give one vector per character; BERT's depend on the sentence.
# * LoRA = frozen W + (α/r)·BA with B starting at zero; merged, it is a plain linear layer.
# * Sub-word merges shorten sequences but, without spaces, cross word boundaries: Chinese BERTs use characters.
# * A cloze prompt turns the MLM into a zero-shot classifier; compare it honestly with a few labels.
# * Log to TensorBoard (or W&B) and read curves, not printouts.

# %%
from helpers.results import record_lesson_figures

record_lesson_figures("11", {
    "attention_max_difference": float(comparison.iloc[:, 0].max()),
    "softmax_top_weight": {f"{row['scores']} d_k={row['d_k']}": row["largest weight (mean)"] for _, row in saturation.iterrows()},
    "contextual_cosine": {"same_sense": float(same), "different_sense": float(cross)},
    "tokenizers": {"characters": {"vocabulary": len(bert_tokenizer), **token_stats(bert_tokenizer, test_texts)},
                   "bpe": {"vocabulary": len(bpe_tokenizer), **token_stats(bpe_tokenizer, test_texts)}},
    "prompt": {"test_reviews": len(test_raw), "zero_shot": float(zero_shot["zero-shot prompt (好 vs 差)"]),
               "zero_shot_calibrated": float(zero_shot["zero-shot prompt, threshold = median validation margin"]),
               "labels": n_labels, "fine_tuned": float(few_label_accuracy)},
}, profile)

# %% [markdown]
# ## 9. Interview questions (面试题)

# %%
from helpers.interview.quiz import show_lesson_questions

questions = show_lesson_questions("11", lang="both")
