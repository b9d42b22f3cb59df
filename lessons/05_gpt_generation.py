# %% [markdown]
# # 05 · GPT text generation (文本生成): decoding strategies by hand, and the KV cache
#
# A language model gives a probability for every possible next character. **Decoding** (解码) is the rule that
# turns those probabilities into text: always take the most likely character (greedy), keep several candidates
# (beam search), or sample, after reshaping the distribution with temperature, top-k, top-p or a repetition
# penalty. In this lesson you implement each rule in a few lines, check it against `transformers`' own logits
# processors on the same numbers, compare what each produces from the course GPT, and measure why `generate()`
# keeps a **KV cache** (键值缓存).

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from transformers import GPT2LMHeadModel

from helpers import set_seed
from helpers.env import start_lesson
from helpers.gpt_text import decode_text, text_start_ids
from helpers.models import load_pretrained, load_tokenizer

profile, device = start_lesson()  # quiet library logs, seed 0, profile and device, print the environment

MODEL_NAME = "course-gpt"  # on Colab with internet: "uer/gpt2-chinese-cluecorpussmall" (BertTokenizer + GPT-2, like ours)
model = load_pretrained(GPT2LMHeadModel, MODEL_NAME).to(device).eval()
tokenizer = load_tokenizer(MODEL_NAME)
NEW_TOKENS = profile.generation_tokens
START = text_start_ids(tokenizer, MODEL_NAME)  # how a text begins in this model's pretraining (section 0)


def encode(prompt):
    """The text start, then the prompt's ids, without a trailing [SEP] (which would say the text has ended)."""
    ids = START + tokenizer(prompt, add_special_tokens=False)["input_ids"]
    return torch.tensor([ids], device=device)


def decode(ids):
    """The characters only: special tokens dropped, and no spaces between characters (see section 0)."""
    return decode_text(tokenizer, ids)

# %% [markdown]
# ## 0. Prompt the way the model was trained, and count real characters (按训练方式写提示)
#
# A GPT continues text the way it saw text begin in pretraining. The course GPT read one long stream of
# documents, each ended by `[SEP]`, so a new document is what follows a `[SEP]`. The Chinese GPT-2 on the Hub,
# `uer/gpt2-chinese-cluecorpussmall`, was trained on `[CLS] text [SEP]`, so its texts begin after `[CLS]`.
# `helpers.gpt_text.text_start_ids` returns the right start for either, and every prompt in this lesson begins
# with it. Measured on held-out reviews (the same characters predicted in each row, from the second on):

# %%
from datasets import Dataset

from helpers.control_codes import perplexity
from helpers.data import head, load_reviews

check_reviews = [tokenizer(text, add_special_tokens=False)["input_ids"][: profile.max_length]
                 for text in head(load_reviews()["validation"], profile.heldout_examples)["text"]]


def scored_from_second_character(start):
    """Each review after `start`; labels -100 on the start and the first character ("nothing" cannot predict it)."""
    return Dataset.from_list([{"input_ids": start + ids + [tokenizer.sep_token_id],
                               "labels": [-100] * (len(start) + 1) + ids[1:] + [tokenizer.sep_token_id]}
                              for ids in check_reviews if ids])


start_rows = {"nothing": [], "[SEP]": [tokenizer.sep_token_id], "[CLS]": [tokenizer.cls_token_id]}
print(f"{MODEL_NAME} starts a text with {tokenizer.convert_ids_to_tokens(START)}")
start_perplexity = {name: perplexity(model, scored_from_second_character(start), tokenizer, profile.eval_batch_size)
                    for name, start in start_rows.items()}
pd.Series(start_perplexity, name="held-out review perplexity").round(1).to_frame()

# %% [markdown]
# The second difference is on the way out. The course tokenizer decodes characters side by side; a
# `BertTokenizer`, the Hub model's, puts a space between every two tokens (`今 天 天 气`). Counted as text, those
# spaces would halve distinct-1, shift every n-gram and hide every verbatim copy, so the lesson measures
# `decode_text(...)`: the characters without the spaces a decoder inserted. We cannot download the Hub model
# here; `tests/test_gpt_text.py` checks this handling with a `BertTokenizer` built from the course vocabulary
# with the Hub tokenizer's settings (`helpers.gpt_text.bert_style_tokenizer`).

# %% [markdown]
# ## 1. The source articles' snippet, and why it generates nothing (找 bug)
#
# ```python
# outputs = model(inputs, max_length=max_length, num_return_sequences=1)
# generated_text = tokenizer.decode(outputs.logits[:, -1].item(), skip_special_tokens=True)
# ```
#
# `model(...)` is one **forward pass**: it scores the next token at every input position and generates nothing;
# `max_length` is silently swallowed. And `logits[:, -1]` is a vector of scores over the whole vocabulary, not a
# token id: `.item()` fails on it. Measured:

# %%
inputs = encode("中国人民")
outputs = model(inputs, max_length=20, num_return_sequences=1)
print("forward pass logits:", tuple(outputs.logits.shape), "= (batch, input positions, vocabulary); nothing generated")
try:
    tokenizer.decode(outputs.logits[:, -1].item())
except RuntimeError as error:
    print("RuntimeError:", error)
right = model.generate(inputs, max_new_tokens=NEW_TOKENS, do_sample=False, pad_token_id=tokenizer.pad_token_id)
print("generate():", decode(right[0]))

# %% [markdown]
# ## 2. Each strategy by hand, checked against the library (逐个手写并对照)
#
# All of them act on one vector of logits, the scores for the next character. Take a real one:

# %%
with torch.no_grad():
    logits = model(encode("今天的天气")).logits[0, -1].cpu()
probabilities = torch.softmax(logits, dim=-1)
top = torch.topk(probabilities, 8)
pd.DataFrame({"character": tokenizer.convert_ids_to_tokens(top.indices.tolist()), "probability": top.values.numpy()}).round(4)

# %% [markdown]
# **Greedy** takes the argmax. **Temperature** divides the logits by `t`: below 1 the distribution gets sharper,
# above 1 flatter. **Top-k** keeps the k best. **Top-p** (nucleus) keeps the smallest set of best tokens whose
# probability adds up to p or more: a few tokens when the model is sure, many when it is not. **Repetition
# penalty** (CTRL) makes tokens already in the text less likely: positive logits are divided by the penalty,
# negative ones multiplied.
#
# **Exercises 05.1-05.3.** Write `top_k_filter`, `top_p_filter` and `apply_temperature`. Each takes one vector of
# logits `(vocab,)` or a batch `(batch, vocab)` and works along the last dimension; the filters return the logits
# with the removed tokens set to `-inf`. The checks test the definitions (the same ones `TopKLogitsWarper`,
# `TopPLogitsWarper` and `TemperatureLogitsWarper` implement) on random logits, ties, a very peaked distribution
# and float16/32/64. Where logits tie, any choice that fits the definition is right: top-k may keep every token
# tied with the k-th one (as transformers does) or exactly k of them.

# %% tags=["exercise"]
import torch


def top_k_filter(logits, k):
    """Set every logit below the k-th largest to -inf (here ties at the k-th value are kept, as in transformers)."""
    ### BEGIN SOLUTION
    threshold = torch.topk(logits, k, dim=-1).values[..., -1, None]
    return logits.masked_fill(logits < threshold, float("-inf"))
    ### END SOLUTION
    ### BEGIN STUB
    raise NotImplementedError("Exercise 05.1: replace this line with your code")
    ### END STUB


# %%
from helpers.exercises import check

check("05.1", top_k_filter)

# %% tags=["exercise"]
import torch


def top_p_filter(logits, p):
    """Keep the smallest set of most likely tokens whose probabilities sum to at least p; -inf elsewhere."""
    ### BEGIN SOLUTION
    sorted_logits, order = torch.sort(logits, dim=-1, descending=False)
    cumulative = torch.softmax(sorted_logits, dim=-1).cumsum(dim=-1)
    remove_sorted = cumulative <= (1 - p)
    remove_sorted[..., -1] = False  # always keep the most likely token
    remove = remove_sorted.scatter(-1, order, remove_sorted)
    return logits.masked_fill(remove, float("-inf"))
    ### END SOLUTION
    ### BEGIN STUB
    raise NotImplementedError("Exercise 05.2: replace this line with your code")
    ### END STUB


# %%
check("05.2", top_p_filter)

# %% tags=["exercise"]
def apply_temperature(logits, t):
    """Logits divided by the temperature t (a new tensor)."""
    ### BEGIN SOLUTION
    return logits / t
    ### END SOLUTION
    ### BEGIN STUB
    raise NotImplementedError("Exercise 05.3: replace this line with your code")
    ### END STUB


# %%
check("05.3", apply_temperature)

# %% [markdown]
# The lesson's own versions (the same rules) against the library, on the real logits above, including the
# repetition penalty:

# %%
from transformers import RepetitionPenaltyLogitsProcessor, TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper


def course_top_k(scores, k):
    return scores.masked_fill(scores < torch.topk(scores, k).values[..., -1, None], float("-inf"))


def course_top_p(scores, p):
    sorted_scores, order = torch.sort(scores, descending=False)
    remove = torch.softmax(sorted_scores, -1).cumsum(-1) <= 1 - p
    remove[..., -1] = False
    return scores.masked_fill(remove.scatter(-1, order, remove), float("-inf"))


def course_repetition_penalty(scores, previous_ids, penalty):
    picked = scores.gather(-1, previous_ids)
    return scores.scatter(-1, previous_ids, torch.where(picked > 0, picked / penalty, picked * penalty))


row = logits[None]
history = encode("今天的天气").cpu()
comparison = {
    "temperature 0.7": (row / 0.7, TemperatureLogitsWarper(0.7)(history, row.clone())),
    "top-k 10": (course_top_k(row, 10), TopKLogitsWarper(10)(history, row.clone())),
    "top-p 0.9": (course_top_p(row, 0.9), TopPLogitsWarper(0.9)(history, row.clone())),
    "repetition penalty 1.3": (course_repetition_penalty(row, history, 1.3),
                               RepetitionPenaltyLogitsProcessor(1.3)(history, row.clone())),
}
pd.DataFrame({name: {"same as transformers": torch.equal(ours, theirs),
                     "tokens left": int(torch.isfinite(ours).sum())} for name, (ours, theirs) in comparison.items()}).T

# %% [markdown]
# ## 3. The same prompt under each strategy (同一提示，不同解码)
#
# `generate()` applies the same processors. Beam search keeps `num_beams` partial texts and their summed
# log-probabilities; `length_penalty` divides that sum by length^penalty, so values above 1 favour longer texts.
# For each strategy we generate several continuations and measure diversity (distinct-1/2: share of distinct
# characters / character pairs within each text, averaged over the texts) and loops (share of 4-grams already
# seen in the same text). Deterministic strategies give one text; sampled ones several, scored the same way.

# %%
from helpers.text_metrics import distinct_n, repetition_rate

prompt = encode("本报北京一月五日电")
n_samples = profile.generation_samples
strategies = {
    "greedy": dict(do_sample=False),
    "beam 4": dict(do_sample=False, num_beams=4),
    "beam 4, length_penalty 2": dict(do_sample=False, num_beams=4, length_penalty=2.0),
    "temperature 0.7": dict(do_sample=True, temperature=0.7, top_k=0),
    "temperature 1.3": dict(do_sample=True, temperature=1.3, top_k=0),
    "top-k 20": dict(do_sample=True, top_k=20),
    "top-p 0.9": dict(do_sample=True, top_p=0.9, top_k=0),
    "top-p 0.9 + repetition penalty 1.3": dict(do_sample=True, top_p=0.9, top_k=0, repetition_penalty=1.3),
}
samples, table = {}, {}
for name, options in strategies.items():
    set_seed(0)
    count = n_samples if options.get("do_sample") else 1
    output = model.generate(prompt.repeat(count, 1), max_new_tokens=NEW_TOKENS, pad_token_id=tokenizer.pad_token_id,
                            eos_token_id=None, **options)
    texts = [decode(ids[prompt.shape[1]:]) for ids in output]
    samples[name] = texts[0]
    # per text, then averaged: pooling would give the sampled rows (several texts) more n-grams than greedy (one)
    table[name] = {"distinct-1": np.mean([distinct_n([text], 1) for text in texts]),
                   "distinct-2": np.mean([distinct_n([text], 2) for text in texts]),
                   "repeated 4-grams": repetition_rate(texts, 4)}
with pd.option_context("display.max_colwidth", 120):
    display(pd.DataFrame({"first sample": samples}))
pd.DataFrame(table).T.style.format("{:.1%}")

# %% [markdown]
# Greedy and beam search pick the most likely path and, with a small model, fall into loops (high repeated
# 4-grams). Sampling is more diverse; high temperature becomes incoherent; top-p and a repetition penalty are
# the usual compromise. Read the samples as well as the numbers.
#
# The two beam rows are identical, and that is the lesson about `length_penalty`: it only re-ranks *finished*
# hypotheses of different lengths. Here nothing finishes: the cell passes `eos_token_id=None` so that every
# strategy writes the same number of characters, every beam is exactly `max_new_tokens` long, and the penalty has
# nothing to re-rank. With `eos_token_id=tokenizer.sep_token_id` (the course GPT saw `[SEP]` after every document
# in pretraining) beams can end early, and then the penalty decides between short and long ones.
#
# ## 4. The KV cache (键值缓存), measured
#
# Without a cache, every new token re-runs the model over the whole text so far: the work per token grows with
# the position. With a cache, the keys and values of earlier positions are kept (`past_key_values`) and only the
# new token is processed. Two hand-written loops, then `generate(use_cache=...)`.
#
# Timing is done with `helpers.timing`, and it matters on a GPU: CUDA queues kernels and returns at once, so a
# clock read right after a model call measures the queueing, not the work. `Stopwatch(device)` synchronises the
# device before reading the clock, and every measurement runs once untimed first (warm-up: memory allocation,
# kernel selection and caches are paid for there, not in the figure).

# %%
from helpers.env import hardware
from helpers.timing import Stopwatch, median_seconds

CACHE_TOKENS = profile.cache_benchmark_tokens


@torch.no_grad()
def greedy_timed(use_cache):
    """Greedy decoding by hand; returns the ids and the seconds each new token took (device synchronised)."""
    ids, past, times = encode("中国"), None, []
    for _ in range(CACHE_TOKENS):
        with Stopwatch(device) as watch:
            if use_cache:
                out = model(ids[:, -1:] if past is not None else ids, past_key_values=past, use_cache=True)
                past = out.past_key_values
            else:
                out = model(ids, use_cache=False)
            ids = torch.cat([ids, out.logits[:, -1].argmax(-1, keepdim=True)], dim=-1)
        times.append(watch.seconds)
    return ids, times


for use_cache in (True, False):
    greedy_timed(use_cache)  # warm-up, untimed
with_cache_ids, with_cache = greedy_timed(True)
without_cache_ids, without_cache = greedy_timed(False)
assert torch.equal(with_cache_ids, without_cache_ids)  # same tokens, different cost
timing = pd.DataFrame({"position": range(1, CACHE_TOKENS + 1), "with cache": with_cache, "without cache": without_cache})
fig, ax = plt.subplots(figsize=(7, 3.5))
melted = timing.melt("position", var_name="loop", value_name="seconds")
melted["milliseconds"] = melted["seconds"] * 1000
sns.lineplot(data=melted, x="position", y="milliseconds", hue="loop", ax=ax)
ax.set(title=f"Time per generated token (hand-written greedy loop, {device.type})", xlabel="new token position",
       ylabel="milliseconds per token")
plt.show()

# %%
def tokens_per_second(use_cache):
    """Median of 3 timed generate() calls after 1 warm-up, device synchronised."""
    def run():
        model.generate(encode("中国"), max_new_tokens=CACHE_TOKENS, min_new_tokens=CACHE_TOKENS, do_sample=False,
                       use_cache=use_cache, pad_token_id=tokenizer.pad_token_id)
    return CACHE_TOKENS / median_seconds(run, device, warmup=1, repeat=3)


speeds = pd.DataFrame({
    "hand-written loop": [CACHE_TOKENS / sum(with_cache), CACHE_TOKENS / sum(without_cache)],
    "generate()": [tokens_per_second(True), tokens_per_second(False)]}, index=["with cache", "without cache"])
print(f"{CACHE_TOKENS} new tokens on {hardware()} ({device.type}); cache speed-up: hand-written "
      f"{speeds.iloc[0, 0] / speeds.iloc[1, 0]:.1f}x, generate() {speeds.iloc[0, 1] / speeds.iloc[1, 1]:.1f}x")
speeds.round(1)

# %% [markdown]
# The factor belongs to the hardware, the model and the length it was measured on: read it with the line above
# it, never as "the" speed-up of a KV cache. On a CPU a step of a small model costs roughly in proportion to the
# tokens it processes, so the cache saves most of the growing work. On a GPU a step of a model this small is
# dominated by fixed per-step costs (kernel launches) however many tokens it processes, so the factor there can be
# far smaller; the gpu profile measures it. For large models and long texts the cache pays on every device.

# %% [markdown]
# **Exercise 05.4.** Write `greedy_generate(model, input_ids, max_new_tokens)`: append the argmax of the last
# position's logits, `max_new_tokens` times, to every prompt of the batch `input_ids` (prompts of equal length).
# It must match `generate(do_sample=False)` token for token.

# %% tags=["exercise"]
import torch


def greedy_generate(model, input_ids, max_new_tokens):
    """Greedy decoding: the prompt followed by max_new_tokens argmax tokens."""
    ### BEGIN SOLUTION
    ids = input_ids
    with torch.no_grad():
        for _ in range(max_new_tokens):
            next_id = model(ids).logits[:, -1].argmax(dim=-1, keepdim=True)
            ids = torch.cat([ids, next_id], dim=-1)
    return ids
    ### END SOLUTION
    ### BEGIN STUB
    raise NotImplementedError("Exercise 05.4: replace this line with your code")
    ### END STUB


# %%
check("05.4", greedy_generate)

# %% [markdown]
# The lesson's measured figures are saved for the interview bank when `scripts/run_lessons.py` runs the lesson
# (`helpers.results`; a learner's run writes nothing).

# %%
from helpers.results import record_lesson_figures

record_lesson_figures("05", {"kv_cache": {
    "tokens": CACHE_TOKENS, "device": device.type, "hand_speedup": speeds.iloc[0, 0] / speeds.iloc[1, 0],
    "generate_speedup": speeds.iloc[0, 1] / speeds.iloc[1, 1]},
    "start_perplexity": start_perplexity}, profile)

# %% [markdown]
# ## 5. Summary (小结)
#
# * `model(...)` scores; `model.generate(...)` generates. Decode token ids, never logits.
# * Greedy and beam search are likely but repetitive; sampling with temperature, top-k or top-p trades likelihood
#   for diversity; a repetition penalty breaks loops.
# * The KV cache makes each new token cost about the same instead of growing with the text.
#
# ## 6. Interview questions (面试题)

# %%
from helpers.interview.quiz import show_lesson_questions

questions = show_lesson_questions("05", lang="both")
