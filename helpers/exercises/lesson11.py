"""Lesson 11 exercises: the mechanisms interviewers ask about, each checked against the library that implements it.

11.1 scaled dot-product attention with a causal mask (vs ``torch.nn.functional.scaled_dot_product_attention``),
11.2 BERT's input embeddings summed by hand (vs ``BertEmbeddings``), 11.3 static vs contextual vectors,
11.4 a LoRA layer (vs ``peft``), 11.5 tokenizer statistics, 11.6 a cloze prompt for zero-shot classification,
11.7 reading TensorBoard scalars back.
"""

from __future__ import annotations

import math
import tempfile
from typing import Any

import torch

from .core import ExerciseFailed, call_answer, expect_callable, register


def _as_tensor(got: Any, what: str) -> torch.Tensor:
    if not isinstance(got, torch.Tensor):
        raise ExerciseFailed(f"{what}: return a torch tensor, got {type(got).__name__}.")
    return got


@register("11.1", "scaled dot-product attention with a causal mask")
def check_attention(answer: Any) -> str:
    """``answer(q, k, v, causal)`` -> ``(output, weights)``: softmax(q k^T / sqrt(d_k)) v, future keys masked if causal."""
    import torch.nn.functional as F

    expect_callable(answer, "attention")
    generator = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 6, 16, generator=generator) * 2 for _ in range(3))
    for causal in (False, True):
        got = call_answer(answer, q.clone(), k.clone(), v.clone(), causal)
        if not isinstance(got, tuple) or len(got) != 2:
            raise ExerciseFailed(f"return a pair (output, weights), got {type(got).__name__}.")
        output, weights = (_as_tensor(x, name) for x, name in zip(got, ("output", "weights")))
        if weights.shape != (2, 3, 6, 6) or output.shape != v.shape:
            raise ExerciseFailed(f"shapes: output {tuple(output.shape)}, weights {tuple(weights.shape)}; expected "
                                 f"{tuple(v.shape)} and (2, 3, 6, 6): one weight per (query, key) pair.")
        if causal and torch.isnan(weights).any():
            raise ExerciseFailed("NaN weights: the first position had every key masked. Each position must still "
                                 "attend to itself: keep the diagonal (tril(), not tril(-1)).")
        if not torch.allclose(weights.sum(-1), torch.ones(2, 3, 6), atol=1e-5):
            zeroed_future = causal and torch.all(weights.triu(1) == 0)
            raise ExerciseFailed(
                "the weights of each query (each row) must sum to 1. "
                + ("You set the future weights to zero after the softmax; mask the scores with -inf before it."
                   if zeroed_future else "Take the softmax over the last dimension (the keys).")
            )
        mask = torch.ones(6, 6, dtype=torch.bool).tril() if causal else None
        expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
        if causal and weights.triu(1).abs().max() > 1e-6:
            if weights.tril(-1).abs().max() < 1e-6:
                raise ExerciseFailed("with causal=True a query may attend to itself and EARLIER positions only; you "
                                     "masked the past and kept the future (use tril, not triu).")
            raise ExerciseFailed("with causal=True, query i must give weight 0 to every key j > i (the future).")
        unscaled = torch.softmax((q @ k.transpose(-2, -1)).masked_fill(~mask, float("-inf")) if causal
                                 else q @ k.transpose(-2, -1), dim=-1)
        if torch.allclose(weights, unscaled, atol=1e-5):
            raise ExerciseFailed("the scores are not scaled: divide q k^T by sqrt(d_k) before the softmax.")
        reference = torch.softmax(scores.masked_fill(~mask, float("-inf")) if causal else scores, dim=-1)
        if not torch.allclose(weights, reference, atol=1e-5) or not torch.allclose(output, expected, atol=1e-4):
            raise ExerciseFailed(f"with causal={causal} your result differs from "
                                 "torch.nn.functional.scaled_dot_product_attention; output = weights @ v.")
    return "matches torch.nn.functional.scaled_dot_product_attention, with and without the causal mask."


def _tiny_embeddings():
    from transformers import BertConfig
    from transformers.models.bert.modeling_bert import BertEmbeddings

    torch.manual_seed(0)
    config = BertConfig(vocab_size=40, hidden_size=16, max_position_embeddings=32, type_vocab_size=2,
                        hidden_dropout_prob=0.1)
    module = BertEmbeddings(config).eval()
    with torch.no_grad():  # random LayerNorm parameters, so forgetting them shows
        module.LayerNorm.weight.uniform_(0.5, 1.5)
        module.LayerNorm.bias.uniform_(-0.5, 0.5)
    return module


@register("11.2", "BERT's input representation by hand")
def check_embeddings(answer: Any) -> str:
    """``answer(embeddings, input_ids, token_type_ids)`` -> LayerNorm(token + position + segment), as BertEmbeddings."""
    expect_callable(answer, "embed_by_hand")
    module = _tiny_embeddings()
    input_ids = torch.tensor([[2, 11, 12, 13, 3, 21, 22, 3], [2, 14, 15, 3, 25, 3, 0, 0]])
    token_type_ids = torch.tensor([[0, 0, 0, 0, 0, 1, 1, 1], [0, 0, 0, 0, 1, 1, 0, 0]])
    with torch.no_grad():
        expected = module(input_ids=input_ids, token_type_ids=token_type_ids)
        got = _as_tensor(call_answer(answer, module, input_ids, token_type_ids), "embed_by_hand")
        if got.shape != expected.shape:
            raise ExerciseFailed(f"returned shape {tuple(got.shape)}; expected {tuple(expected.shape)} "
                                 "(batch, sequence, hidden).")
        words = module.word_embeddings(input_ids)
        positions = module.position_embeddings(torch.arange(input_ids.shape[1]))[None]
        segments = module.token_type_embeddings(token_type_ids)
        if torch.allclose(got, words + positions + segments, atol=1e-5):
            raise ExerciseFailed("you returned the raw sum; BERT then applies embeddings.LayerNorm to it.")
        if torch.allclose(got, module.LayerNorm(words + segments), atol=1e-5):
            raise ExerciseFailed("the position embeddings are missing: add position_embeddings of positions 0..n-1.")
        if torch.allclose(got, module.LayerNorm(words + positions), atol=1e-5):
            raise ExerciseFailed("the segment embeddings are missing: add token_type_embeddings(token_type_ids) "
                                 "(0 for sentence A, 1 for sentence B).")
        if not torch.allclose(got, expected, atol=1e-5):
            raise ExerciseFailed("your vectors differ from the module's output: sum word, position and token-type "
                                 "embeddings, then LayerNorm (dropout is off in eval mode).")
    return "equals BertEmbeddings' output on a batch of sentence pairs."


def _tiny_bert():
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    from ..models import load_tokenizer

    tokenizer = load_tokenizer("course-bert")
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=64)
    return BertModel(config).eval(), tokenizer


@register("11.3", "static vs contextual vectors")
def check_vectors(answer: Any) -> str:
    """``answer(model, tokenizer, sentence, char)`` -> (static, contextual) vectors of the first ``char``."""
    expect_callable(answer, "static_and_contextual")
    model, tokenizer = _tiny_bert()
    results = {}
    for sentence in ("我在银行工作", "我们步行回家"):
        got = call_answer(answer, model, tokenizer, sentence, "行")
        if not isinstance(got, tuple) or len(got) != 2:
            raise ExerciseFailed(f"return a pair (static, contextual), got {type(got).__name__}.")
        static, contextual = (_as_tensor(x, name).detach().reshape(-1) for x, name in zip(got, ("static", "contextual")))
        encoded = tokenizer(sentence, return_tensors="pt")
        position = encoded["input_ids"][0].tolist().index(tokenizer.convert_tokens_to_ids("行"))
        with torch.no_grad():
            hidden = model(**encoded).last_hidden_state[0]
            embedded = model.embeddings(input_ids=encoded["input_ids"])[0]
        row = model.embeddings.word_embeddings.weight[tokenizer.convert_tokens_to_ids("行")].detach()
        if static.shape != row.shape or contextual.shape != row.shape:
            raise ExerciseFailed(f"each vector should have {row.numel()} numbers (the hidden size), got "
                                 f"{static.numel()} and {contextual.numel()}.")
        if torch.allclose(static, embedded[position], atol=1e-5):
            raise ExerciseFailed("the static vector is the character's row of word_embeddings.weight, before position "
                                 "embeddings and LayerNorm are added: it must not depend on the sentence.")
        if not torch.allclose(static, row, atol=1e-5):
            raise ExerciseFailed("static: take model.embeddings.word_embeddings.weight[id of the character].")
        if torch.allclose(contextual, hidden[0], atol=1e-5):
            raise ExerciseFailed("contextual: you took position 0, which is [CLS]; take the character's position.")
        if torch.allclose(contextual, hidden[position - 1], atol=1e-5):
            raise ExerciseFailed("contextual: off by one. input_ids starts with [CLS], so find the character's "
                                 "index in input_ids, not in the sentence.")
        if not torch.allclose(contextual, hidden[position], atol=1e-5):
            raise ExerciseFailed("contextual: take last_hidden_state at the character's position in input_ids.")
        results[sentence] = (static, contextual)
    return "the static vector is one row of the embedding table; the contextual one is read at the right position."


@register("11.4", "LoRA by hand")
def check_lora(answer: Any) -> str:
    """``answer(base, r, alpha)`` builds a LoRA layer: ``lora_A`` (r x in), ``lora_B`` (out x r, zeros), ``merge()``."""
    from peft import LoraConfig, get_peft_model

    if not isinstance(answer, type):
        raise ExerciseFailed(f"pass the class LoRALinear itself, got {type(answer).__name__}.")
    torch.manual_seed(0)
    base = torch.nn.Linear(12, 10)
    original = base.weight.detach().clone()
    layer = call_answer(answer, base, 4, 8)
    for name in ("lora_A", "lora_B"):
        if not isinstance(getattr(layer, name, None), torch.nn.Parameter):
            raise ExerciseFailed(f"the layer needs an nn.Parameter called {name}.")
    if layer.lora_A.shape != (4, 12) or layer.lora_B.shape != (10, 4):
        raise ExerciseFailed(f"lora_A must be (r, in_features) = (4, 12) and lora_B (out_features, r) = (10, 4); "
                             f"got {tuple(layer.lora_A.shape)} and {tuple(layer.lora_B.shape)}.")
    if base.weight.requires_grad or (base.bias is not None and base.bias.requires_grad):
        raise ExerciseFailed("freeze the base layer (requires_grad = False): only A and B train.")
    if not (layer.lora_A.requires_grad and layer.lora_B.requires_grad):
        raise ExerciseFailed("lora_A and lora_B must be trainable.")
    x = torch.randn(5, 12)
    if layer.lora_B.abs().max() > 0:
        raise ExerciseFailed("initialise B to zeros (A random), so that the wrapped layer starts exactly equal to "
                             "the pretrained one.")
    with torch.no_grad():
        start = call_answer(layer, x)
    if not torch.allclose(start, base(x), atol=1e-6):
        raise ExerciseFailed("at initialisation (B = 0) the output must equal the base layer's.")
    with torch.no_grad():
        layer.lora_A.normal_()
        layer.lora_B.normal_()
    # peft's LoRA on a copy of the same base weights, with the same A and B copied in
    holder = torch.nn.Sequential(torch.nn.Linear(12, 10))
    holder[0].load_state_dict({"weight": original, "bias": base.bias.detach()})
    reference = get_peft_model(holder, LoraConfig(r=4, lora_alpha=8, target_modules=["0"], lora_dropout=0.0))
    lora = reference.base_model.model[0]
    with torch.no_grad():
        lora.lora_A["default"].weight.copy_(layer.lora_A)
        lora.lora_B["default"].weight.copy_(layer.lora_B)
        expected = reference(x)
        got = _as_tensor(call_answer(layer, x), "forward")
    if not torch.allclose(got, expected, atol=1e-4):
        unscaled = base(x) + x @ layer.lora_A.T @ layer.lora_B.T * 8
        if torch.allclose(got, unscaled, atol=1e-4):
            raise ExerciseFailed("you scaled by alpha; LoRA scales the update by alpha / r.")
        raise ExerciseFailed("your output differs from peft's LoRA with the same A and B: "
                             "base(x) + (alpha / r) * x A^T B^T.")
    merged = call_answer(layer.merge)
    if not isinstance(merged, torch.nn.Linear):
        raise ExerciseFailed(f"merge() must return a plain nn.Linear, got {type(merged).__name__}.")
    with torch.no_grad():
        if not torch.allclose(merged(x), expected, atol=1e-4):
            raise ExerciseFailed("the merged layer's output differs: its weight is W + (alpha / r) * B @ A, same bias.")
    if not torch.equal(base.weight.detach(), original):
        raise ExerciseFailed("merge() changed the base layer's weight in place; build a new nn.Linear.")
    return "starts equal to the base layer, matches peft's LoRA with the same A and B, and merges exactly."


@register("11.5", "tokenizer statistics")
def check_token_stats(answer: Any) -> str:
    """``answer(tokenizer, texts)`` -> {"tokens_per_text": mean tokens without special tokens, "unk_rate": share}."""
    from ..models import load_tokenizer

    expect_callable(answer, "token_stats")
    tokenizer = load_tokenizer("course-bert")
    texts = ["物流很快，包装完好。", "还行吧😀😀", "客服态度恶劣，再也不来了。", "好", "iPhone 电池不耐用"]
    ids = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    n_tokens = sum(map(len, ids))
    assert n_tokens != sum(map(len, texts)), "the check needs texts whose token and character counts differ"
    expected = {"tokens_per_text": n_tokens / len(texts),
                "unk_rate": sum(i == tokenizer.unk_token_id for row in ids for i in row) / n_tokens}
    got = call_answer(answer, tokenizer, texts)
    if not isinstance(got, dict) or set(got) != set(expected):
        raise ExerciseFailed(f"return a dict with the keys {sorted(expected)}, got {got!r}.")
    if math.isclose(float(got["tokens_per_text"]), expected["tokens_per_text"] + 2, rel_tol=1e-6):
        raise ExerciseFailed("you counted [CLS] and [SEP]; count the text's own tokens (add_special_tokens=False).")
    if not math.isclose(float(got["tokens_per_text"]), expected["tokens_per_text"], rel_tol=1e-6):
        raise ExerciseFailed(f"tokens_per_text: expected {expected['tokens_per_text']:.2f}, got {got['tokens_per_text']}.")
    characters = sum(map(len, texts))
    if math.isclose(float(got["unk_rate"]), expected["unk_rate"] * n_tokens / characters, rel_tol=1e-6):
        raise ExerciseFailed("unk_rate is the share of TOKENS that are [UNK], not [UNK] tokens per character.")
    if not math.isclose(float(got["unk_rate"]), expected["unk_rate"], rel_tol=1e-6):
        raise ExerciseFailed(f"unk_rate: expected {expected['unk_rate']:.4f} (tokens equal to unk_token_id over all "
                             f"tokens), got {got['unk_rate']}.")
    return "counts tokens without special tokens and the [UNK] share of all tokens."


TEMPLATE = "。总之，这个很[MASK]。"


@register("11.6", "a cloze prompt that survives truncation")
def check_prompt(answer: Any) -> str:
    """``answer(review, tokenizer, max_length)`` -> [CLS] + review (truncated) + TEMPLATE + [SEP], as a list of ids."""
    from ..models import load_tokenizer

    expect_callable(answer, "prompt_ids")
    tokenizer = load_tokenizer("course-bert")
    template = tokenizer(TEMPLATE, add_special_tokens=False)["input_ids"]
    for review, max_length in (("房间很干净", 64), ("差" * 300, 64), ("不错" * 40, 32)):
        body = tokenizer(review, add_special_tokens=False)["input_ids"][: max_length - 2 - len(template)]
        expected = [tokenizer.cls_token_id] + body + template + [tokenizer.sep_token_id]
        got = call_answer(answer, review, tokenizer, max_length)
        if isinstance(got, torch.Tensor):
            got = got.reshape(-1).tolist()
        if not isinstance(got, list) or not all(isinstance(i, int) for i in got):
            raise ExerciseFailed(f"return a list of ints (token ids), got {type(got).__name__}.")
        if len(got) > max_length:
            raise ExerciseFailed(f"{len(got)} ids for max_length={max_length}: truncate the review to fit.")
        if tokenizer.mask_token_id not in got:
            raise ExerciseFailed(f"for a {len(review)}-character review your ids contain no [MASK]: it was cut off. "
                                 "Truncate the review, never the template.")
        if got[:1] != [tokenizer.cls_token_id] or got[-1:] != [tokenizer.sep_token_id]:
            raise ExerciseFailed("start with [CLS] and end with [SEP], as BERT was pretrained.")
        if got[1:1 + len(template)] == template:
            raise ExerciseFailed("the template goes AFTER the review: 评论……。总之，这个很[MASK]。")
        if got != expected:
            raise ExerciseFailed(f"for a {len(review)}-character review and max_length={max_length} expected "
                                 f"{len(expected)} ids ([CLS] + the first {len(body)} review tokens + template + [SEP]), "
                                 f"got {len(got)}.")
    return "keeps the whole template with its [MASK] however long the review."


@register("11.7", "reading TensorBoard scalars back")
def check_read_scalars(answer: Any) -> str:
    """``answer(logdir, tag)`` -> (steps, values) of one scalar, in step order."""
    from torch.utils.tensorboard import SummaryWriter

    expect_callable(answer, "read_scalars")
    steps, values = [0, 5, 10, 15], [2.0, 1.5, 1.25, 1.0]
    with tempfile.TemporaryDirectory() as logdir:
        writer = SummaryWriter(logdir)
        for step, value in zip(steps, values):
            writer.add_scalar("train/loss", value, step)
            writer.add_scalar("train/learning_rate", value / 1000, step)
        writer.close()
        got = call_answer(answer, logdir, "train/loss")
    if not isinstance(got, tuple) or len(got) != 2:
        raise ExerciseFailed(f"return a pair (steps, values), got {type(got).__name__}.")
    got_steps, got_values = (list(map(float, x)) for x in got)
    if len(got_values) == 1:
        raise ExerciseFailed("return every logged value of the tag, not only the last one.")
    if len(got_values) == len(values) and all(math.isclose(a, b / 1000, rel_tol=1e-5) for a, b in zip(got_values, values)):
        raise ExerciseFailed("these are another tag's values: read the tag you were given.")
    if got_steps != [float(s) for s in steps]:
        raise ExerciseFailed(f"steps should be the global steps {steps} (event.step), got {got_steps[:4]}; "
                             "wall_time is the clock time, not the step.")
    if not all(math.isclose(a, b, rel_tol=1e-6) for a, b in zip(got_values, values)) or len(got_values) != len(values):
        raise ExerciseFailed(f"values should be {values} (event.value), got {got_values}.")
    return "reads every (step, value) of the tag from the event file."
