"""Lesson 11 exercises: the mechanisms interviewers ask about, each checked against the library that implements it.

11.1 scaled dot-product attention with a causal mask (vs ``torch.nn.functional.scaled_dot_product_attention``),
11.2 BERT's input embeddings summed by hand (vs ``BertEmbeddings``), 11.3 static vs contextual vectors,
11.4 a LoRA layer (vs ``peft``), 11.5 tokenizer statistics, 11.6 a cloze prompt for zero-shot classification,
11.7 reading TensorBoard scalars back.
"""

from __future__ import annotations

import math
import tempfile
from contextlib import contextmanager
from typing import Any, Iterator

import torch

from .core import ExerciseFailed, as_int_list, as_number, call_answer, describe, expect_callable, register, rng, torch_generator


def _as_tensor(got: Any, what: str) -> torch.Tensor:
    if not isinstance(got, torch.Tensor):
        raise ExerciseFailed(f"{what}: return a torch tensor, got {describe(got)}.")
    return got


@contextmanager
def _seeded(seed: int, salt: str) -> Iterator[None]:
    """Seed torch's global generator from (seed, salt) inside the block; the caller's random state is restored."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(rng(seed, salt).randrange(2**62))
        yield


def _as_float_tensor(got: Any, what: str) -> torch.Tensor:
    """``got`` as a float64 CPU tensor, for comparisons; a specific failure for another type, an integer dtype, NaN."""
    tensor = _as_tensor(got, what)
    if not tensor.dtype.is_floating_point:
        raise ExerciseFailed(f"{what}: returned dtype {tensor.dtype}; these are real numbers (a floating dtype).")
    return tensor.detach().cpu().double()


def _attention_cases(seed: int) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, bool]]:
    """(q, k, v, causal): a fixed batch of 2 x 3 heads first, then random shapes and dtypes drawn from ``seed``."""
    generator = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 6, 16, generator=generator) * 2 for _ in range(3))
    cases = [(q, k, v, False), (q, k, v, True)]
    random, generator = rng(seed, "11.1"), torch_generator(seed, "11.1")
    for causal in (False, True, True, False):
        lead = random.choice(((), (2,), (1, 2), (3, 2)))
        n_q = random.randint(1, 9)
        n_k = n_q if causal else random.randint(1, 9)
        d_k, d_v = random.choice((4, 8, 16, 32)), random.choice((3, 8, 16))
        dtype = random.choice((torch.float32, torch.float64))
        scale = random.choice((0.5, 1.0, 3.0))
        cases.append(tuple((torch.randn(*lead, n, d, generator=generator) * scale).to(dtype)
                           for n, d in ((n_q, d_k), (n_k, d_k), (n_k, d_v))) + (causal,))
    return cases


@register("11.1", "scaled dot-product attention with a causal mask")
def check_attention(answer: Any, seed: int = 0) -> str:
    """``answer(q, k, v, causal)`` -> ``(output, weights)``: softmax(q k^T / sqrt(d_k)) v, future keys masked if causal.

    Compared with ``torch.nn.functional.scaled_dot_product_attention`` (output) and the softmax of the scaled,
    masked scores (weights). Edge cases: a batch of 2 x 3 heads with and without the mask, then random cases:
    no batch dimension or one or two, one query (the softmax of one score is 1 whatever the scale), more keys
    than queries (without the mask), d_v different from d_k, float32 and float64, scores large and small.
    Wrong ideas told apart: no 1/sqrt(d_k), dividing by d_k instead of its square root, the softmax over the
    queries, the future kept and the past masked (triu), the mask applied after the softmax (rows no longer sum
    to 1), the diagonal masked too (NaN in the first row), ``weights @ v`` left out, output only.
    Accepted: any large negative fill (-inf, -1e9, ``finfo.min``) that gives weight 0, any floating dtype within
    1e-5 (weights) and 1e-4 (output).
    """
    import torch.nn.functional as F

    expect_callable(answer, "attention")
    cases = _attention_cases(seed)
    for q, k, v, causal in cases:
        n_q, n_k = q.shape[-2], k.shape[-2]
        where = f"for q of shape {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}, causal={causal}"
        got = call_answer(answer, q.clone(), k.clone(), v.clone(), causal)
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise ExerciseFailed(f"{where}: return a pair (output, weights), got {describe(got)}.")
        output, weights = (_as_float_tensor(x, name) for x, name in zip(got, ("output", "weights")))
        want_weights, want_output = (*q.shape[:-2], n_q, n_k), (*q.shape[:-2], n_q, v.shape[-1])
        if tuple(weights.shape) != want_weights or tuple(output.shape) != want_output:
            raise ExerciseFailed(f"{where}: shapes output {tuple(output.shape)}, weights {tuple(weights.shape)}; "
                                 f"expected {want_output} and {want_weights}: one weight per (query, key) pair.")
        q64, k64, v64 = q.double(), k.double(), v.double()
        mask = torch.ones(n_q, n_k, dtype=torch.bool).tril() if causal else None
        scores = q64 @ k64.transpose(-2, -1)

        def softmax(x: torch.Tensor) -> torch.Tensor:
            return torch.softmax(x.masked_fill(~mask, float("-inf")) if causal else x, dim=-1)

        reference = softmax(scores / math.sqrt(q.shape[-1]))
        expected = F.scaled_dot_product_attention(q64, k64, v64, attn_mask=mask)
        if torch.allclose(weights, reference, atol=1e-5) and torch.allclose(output, expected, atol=1e-4):
            continue
        if torch.isnan(weights).any():
            if causal:
                raise ExerciseFailed(f"{where}: NaN weights: the first position had every key masked. Each position "
                                     "must still attend to itself: keep the diagonal (tril(), not tril(-1)).")
            raise ExerciseFailed(f"{where}: NaN weights; mask nothing when causal=False.")
        if not torch.allclose(weights.sum(-1), torch.ones(weights.shape[:-1], dtype=weights.dtype), atol=1e-5):
            zeroed_future = causal and torch.all(weights.triu(1) == 0)
            raise ExerciseFailed(
                f"{where}: the weights of each query (each row) must sum to 1. "
                + ("You set the future weights to zero after the softmax; mask the scores with -inf before it."
                   if zeroed_future else "Take the softmax over the last dimension (the keys).")
            )
        if causal and weights.triu(1).abs().max() > 1e-6:
            if weights.tril(-1).abs().max() < 1e-6:
                raise ExerciseFailed(f"{where}: a query may attend to itself and EARLIER positions only; you masked "
                                     "the past and kept the future (use tril, not triu).")
            raise ExerciseFailed(f"{where}: query i must give weight 0 to every key j > i (the future).")
        if (not causal and n_q == n_k and n_q > 1 and weights.triu(1).abs().max() < 1e-12
                and reference.triu(1).abs().max() > 1e-6):
            raise ExerciseFailed(f"{where}: every future weight is 0 although causal=False: mask only when causal is True.")
        if torch.allclose(weights, softmax(scores), atol=1e-5):
            raise ExerciseFailed(f"{where}: the scores are not scaled: divide q k^T by sqrt(d_k) before the softmax.")
        if torch.allclose(weights, softmax(scores / q.shape[-1]), atol=1e-5):
            raise ExerciseFailed(f"{where}: you divided by d_k; divide the scores by sqrt(d_k), its square root.")
        if torch.allclose(weights, reference, atol=1e-5):
            raise ExerciseFailed(f"{where}: the weights are right but the output is not: output = weights @ v.")
        raise ExerciseFailed(f"{where}: your result differs from torch.nn.functional.scaled_dot_product_attention: "
                             "weights = softmax(q k^T / sqrt(d_k)) over the keys, output = weights @ v.")
    return (f"matches torch.nn.functional.scaled_dot_product_attention on {len(cases)} cases, with and without the "
            "causal mask.")


def _tiny_embeddings(seed: int, hidden: int = 16):
    """A ``BertEmbeddings`` with random weights and random LayerNorm parameters (so forgetting them shows), eval mode."""
    from transformers import BertConfig
    from transformers.models.bert.modeling_bert import BertEmbeddings

    config = BertConfig(vocab_size=40, hidden_size=hidden, max_position_embeddings=32, type_vocab_size=2,
                        hidden_dropout_prob=0.1)
    with _seeded(seed, "11.2 module"):
        module = BertEmbeddings(config).eval()
        with torch.no_grad():
            module.LayerNorm.weight.uniform_(0.5, 1.5)
            module.LayerNorm.bias.uniform_(-0.5, 0.5)
    return module


def _embedding_cases(seed: int) -> list[tuple[int, torch.Tensor, torch.Tensor]]:
    """(hidden size, input_ids, token_type_ids): a fixed batch of sentence pairs with padding, then random ones."""
    cases = [(16, torch.tensor([[2, 11, 12, 13, 3, 21, 22, 3], [2, 14, 15, 3, 25, 3, 0, 0]]),
              torch.tensor([[0, 0, 0, 0, 0, 1, 1, 1], [0, 0, 0, 0, 1, 1, 0, 0]]))]
    random, generator = rng(seed, "11.2"), torch_generator(seed, "11.2")
    for _ in range(2):
        batch, length = random.randint(1, 3), random.randint(1, 20)
        ids = torch.randint(0, 40, (batch, length), generator=generator)
        split = [random.randint(0, length) for _ in range(batch)]
        types = torch.tensor([[int(i >= cut) for i in range(length)] for cut in split])
        cases.append((random.choice((8, 16, 24)), ids, types))
    return cases


@register("11.2", "BERT's input representation by hand")
def check_embeddings(answer: Any, seed: int = 0) -> str:
    """``answer(embeddings, input_ids, token_type_ids)`` -> LayerNorm(token + position + segment), as BertEmbeddings.

    The module is a ``BertEmbeddings`` in eval mode with random embeddings and random LayerNorm weight and bias
    (so a LayerNorm without them shows). Edge cases: a batch of sentence pairs with padding (segments 0 and 1),
    then random batches of 1-3 sentences of 1-20 tokens (a one-token sentence included at times), hidden sizes
    8-24.
    Wrong ideas told apart: the raw sum without LayerNorm, LayerNorm without its learned weight and bias, no
    position embeddings, positions counted from 1, no segment embeddings, segment 0 everywhere, the [CLS] vector
    only (wrong shape).
    Accepted: any floating dtype within 1e-5; calling the module's parts in any order.
    """
    import torch.nn.functional as F

    expect_callable(answer, "embed_by_hand")
    cases = _embedding_cases(seed)
    for hidden, input_ids, token_type_ids in cases:
        module = _tiny_embeddings(seed, hidden)
        where = f"for input_ids of shape {tuple(input_ids.shape)}"
        with torch.no_grad():
            expected = module(input_ids=input_ids, token_type_ids=token_type_ids).double()
            got = _as_float_tensor(call_answer(answer, module, input_ids.clone(), token_type_ids.clone()),
                                   "embed_by_hand's result")
            if got.shape != expected.shape:
                raise ExerciseFailed(f"{where} you returned shape {tuple(got.shape)}; expected "
                                     f"{tuple(expected.shape)} (batch, sequence, hidden): one vector per token.")
            if torch.allclose(got, expected, atol=1e-5):
                continue
            length = input_ids.shape[1]
            words = module.word_embeddings(input_ids)
            positions = module.position_embeddings(torch.arange(length))[None]
            shifted = module.position_embeddings(torch.arange(1, length + 1))[None]
            segments = module.token_type_embeddings(token_type_ids)
            first_segment = module.token_type_embeddings(torch.zeros_like(token_type_ids))
            norm = module.LayerNorm

            def matches(x: torch.Tensor) -> bool:
                return torch.allclose(got, x.double(), atol=1e-5)

            if matches(words + positions + segments):
                hint = "you returned the raw sum; BERT then applies embeddings.LayerNorm to it."
            elif matches(F.layer_norm(words + positions + segments, (hidden,), eps=norm.eps)):
                hint = ("your LayerNorm has no learned weight and bias: use the module's own embeddings.LayerNorm "
                        "(its weight and bias were trained with the model).")
            elif matches(norm(words + segments)):
                hint = "the position embeddings are missing: add position_embeddings of positions 0..n-1."
            elif matches(norm(words + shifted + segments)):
                hint = "positions count from 0: position_embeddings(torch.arange(n)), not arange(1, n + 1)."
            elif matches(norm(words + positions)):
                hint = ("the segment embeddings are missing: add token_type_embeddings(token_type_ids) (0 for "
                        "sentence A, 1 for sentence B).")
            elif matches(norm(words + positions + first_segment)):
                hint = ("you used segment 0 for every token: look up token_type_embeddings(token_type_ids), so that "
                        "sentence B gets segment 1.")
            else:
                hint = ("your vectors differ from the module's output: sum word, position and token-type embeddings, "
                        "then LayerNorm (dropout is off in eval mode).")
            raise ExerciseFailed(f"{where}: {hint}")
    return f"equals BertEmbeddings' output on {len(cases)} batches, sentence pairs and padding included."


def _tiny_bert(seed: int = 0):
    """A one-layer ``BertModel`` with the course tokenizer's vocabulary and random weights, in eval mode."""
    from transformers import BertConfig, BertModel

    from ..tokenization import load_course_tokenizer

    tokenizer = load_course_tokenizer()  # the tokenizer of course-bert, without verifying the checkpoint each time
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=64)
    with _seeded(seed, "11.3"):
        model = BertModel(config).eval()
    return model, tokenizer


_CONTEXT_CHARS = "行好的人大中国电"
_CONTEXT_FILLER = "我们在银步回家工作很今天去看书店里手机质量服务"


def _vector_cases(seed: int) -> list[tuple[str, str]]:
    """(sentence, character): the lesson's two, one with the character twice, then random sentences with the character at a random place,
    sometimes twice (the first occurrence counts), sometimes after Latin letters and spaces."""
    cases = [("我在银行工作", "行"), ("我们步行回家", "行"), ("银行旁边的步行街", "行")]
    random = rng(seed, "11.3 sentences")
    for _ in range(3):
        char = random.choice(_CONTEXT_CHARS)
        before = "".join(random.choice(_CONTEXT_FILLER) for _ in range(random.randint(1, 6)))
        after = "".join(random.choice(_CONTEXT_FILLER) for _ in range(random.randint(0, 6)))
        if random.random() < 0.4:
            after += char + random.choice(_CONTEXT_FILLER)
        if random.random() < 0.3:
            before = random.choice(("iPhone ", "wifi 2024 ", "OK ")) + before
        cases.append((before + char + after, char))
    return cases


@register("11.3", "static vs contextual vectors")
def check_vectors(answer: Any, seed: int = 0) -> str:
    """``answer(model, tokenizer, sentence, char)`` -> (static, contextual) vectors of the first ``char``.

    Models: a one-layer ``BertModel`` with the course tokenizer and random weights (eval mode). Cases: the
    lesson's 银行 and 步行, a sentence with 行 twice, then random sentences with the character at a random place, sometimes twice (the
    first occurrence counts) and sometimes after Latin letters and spaces (so a character's index in the
    sentence is not its index in ``input_ids`` minus one).
    Wrong ideas told apart: the static vector taken after position embeddings and LayerNorm (it then depends
    on the sentence), the [CLS] vector as the contextual one, the index in the sentence instead of in
    ``input_ids`` (off by one for [CLS]), the last occurrence instead of the first, the mean of the sentence's
    hidden states, a single vector instead of a pair.
    Accepted: vectors of shape (hidden,) or (1, hidden), with or without gradient, any floating dtype within 1e-5.
    """
    expect_callable(answer, "static_and_contextual")
    model, tokenizer = _tiny_bert(seed)
    cases = _vector_cases(seed)
    for sentence, char in cases:
        where = f"for {char!r} in {sentence!r}"
        got = call_answer(answer, model, tokenizer, sentence, char)
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise ExerciseFailed(f"{where}: return a pair (static, contextual), got {describe(got)}.")
        static, contextual = (_as_float_tensor(x, name).reshape(-1) for x, name in zip(got, ("static", "contextual")))
        encoded = tokenizer(sentence, return_tensors="pt")
        ids = encoded["input_ids"][0].tolist()
        char_id = tokenizer.convert_tokens_to_ids(char)
        position = ids.index(char_id)
        with torch.no_grad():
            hidden = model(**encoded).last_hidden_state[0].double()
            embedded = model.embeddings(input_ids=encoded["input_ids"])[0].double()
        row = model.embeddings.word_embeddings.weight[char_id].detach().double()
        if static.shape != row.shape or contextual.shape != row.shape:
            raise ExerciseFailed(f"{where}: each vector should have {row.numel()} numbers (the hidden size), got "
                                 f"{static.numel()} and {contextual.numel()}.")
        if torch.allclose(static, embedded[position], atol=1e-5):
            raise ExerciseFailed(f"{where}: the static vector is the character's row of word_embeddings.weight, "
                                 "before position embeddings and LayerNorm are added: it must not depend on the "
                                 "sentence.")
        if not torch.allclose(static, row, atol=1e-5):
            raise ExerciseFailed(f"{where}: static: take model.embeddings.word_embeddings.weight[id of the character].")
        if torch.allclose(contextual, hidden[position], atol=1e-5):
            continue
        later = [i for i, token in enumerate(ids) if token == char_id and i != position]
        if torch.allclose(contextual, hidden[0], atol=1e-5):
            hint = "you took position 0, which is [CLS]; take the character's position."
        elif torch.allclose(contextual, hidden[position - 1], atol=1e-5):
            hint = ("off by one. input_ids starts with [CLS], so find the character's index in input_ids, not in the "
                    "sentence.")
        elif any(torch.allclose(contextual, hidden[i], atol=1e-5) for i in later):
            hint = "the character occurs more than once: take its FIRST occurrence in input_ids."
        elif torch.allclose(contextual, hidden.mean(0), atol=1e-5):
            hint = "that is the mean over the sentence (a sentence vector); take the character's own hidden state."
        elif sentence.index(char) < len(ids) and torch.allclose(contextual, hidden[sentence.index(char)], atol=1e-5):
            hint = ("you used the character's index in the sentence; Latin letters and spaces make the two indices "
                    "differ: find the character's id in input_ids.")
        else:
            hint = "take last_hidden_state at the character's position in input_ids."
        raise ExerciseFailed(f"{where}: contextual: {hint}")
    return (f"{len(cases)} sentences right: the static vector is one row of the embedding table; the contextual one "
            "is read at the character's first position.")


def _lora_cases(seed: int) -> list[tuple[int, int, int, float, bool]]:
    """(in_features, out_features, r, alpha, bias): a fixed layer, then random ones with alpha / r != 1."""
    cases = [(12, 10, 4, 8, True)]
    random = rng(seed, "11.4")
    for _ in range(2):
        fan_in, fan_out = random.randint(2, 20), random.randint(2, 20)
        r = random.randint(1, min(fan_in, fan_out))
        alpha = random.choice([a for a in (1, 2, 4, 8, 16, 32) if a != r])
        cases.append((fan_in, fan_out, r, alpha, random.random() < 0.7))
    return cases


def _lora_output(layer: Any, x: torch.Tensor, what: str, out_features: int) -> torch.Tensor:
    got = _as_float_tensor(call_answer(layer, x), what)
    if got.shape != (x.shape[0], out_features):
        raise ExerciseFailed(f"{what}: shape {tuple(got.shape)}, expected {(x.shape[0], out_features)} (batch, "
                             "out_features).")
    return got


@register("11.4", "LoRA by hand")
def check_lora(answer: Any, seed: int = 0) -> str:
    """``answer(base, r, alpha)`` builds a LoRA layer: ``lora_A`` (r x in), ``lora_B`` (out x r, zeros), ``merge()``.

    Cases: a 12 -> 10 layer with r 4, alpha 8, then two random layers (2-20 features, with or without a bias,
    alpha / r never 1, so every scaling mistake shows). For each: the base frozen, A and B trainable, B zeros and
    A not (the layer starts equal to the base and can still learn), then A and B set to random values and the
    output compared with ``peft``'s LoRA holding the same A and B, then ``merge()`` compared too.
    Wrong ideas told apart: scaling by alpha or by r / alpha instead of alpha / r, B random, A zeros too (then
    no gradient reaches either), the base left trainable, A and B transposed, forward without the base layer,
    merge() without the scaling, without the bias, or changing the base layer in place, an instance instead of
    the class.
    Accepted: any initialisation of A that is not all zeros, float32 or float64 results within 1e-4.
    """
    from peft import LoraConfig, get_peft_model

    if not isinstance(answer, type):
        what = f"an instance of {type(answer).__name__}" if isinstance(answer, torch.nn.Module) else describe(answer)
        raise ExerciseFailed(f"pass the class LoRALinear itself (check('11.4', LoRALinear)), got {what}.")
    cases = _lora_cases(seed)
    for index, (fan_in, fan_out, r, alpha, bias) in enumerate(cases):
        where = f"for nn.Linear({fan_in}, {fan_out}, bias={bias}) with r={r}, alpha={alpha}"
        with _seeded(seed, f"11.4 case {index}"):
            base = torch.nn.Linear(fan_in, fan_out, bias=bias)
            original = base.weight.detach().clone()
            layer = call_answer(answer, base, r, alpha)
        for name in ("lora_A", "lora_B"):
            if not isinstance(getattr(layer, name, None), torch.nn.Parameter):
                raise ExerciseFailed(f"{where}: the layer needs an nn.Parameter called {name}.")
        if layer.lora_A.shape != (r, fan_in) or layer.lora_B.shape != (fan_out, r):
            raise ExerciseFailed(f"{where}: lora_A must be (r, in_features) = {(r, fan_in)} and lora_B (out_features, "
                                 f"r) = {(fan_out, r)}; got {tuple(layer.lora_A.shape)} and "
                                 f"{tuple(layer.lora_B.shape)}.")
        if base.weight.requires_grad or (base.bias is not None and base.bias.requires_grad):
            raise ExerciseFailed(f"{where}: freeze the base layer (requires_grad = False): only A and B train.")
        if not (layer.lora_A.requires_grad and layer.lora_B.requires_grad):
            raise ExerciseFailed(f"{where}: lora_A and lora_B must be trainable.")
        if layer.lora_B.detach().abs().max() > 0:
            raise ExerciseFailed(f"{where}: initialise B to zeros (A random), so that the wrapped layer starts exactly "
                                 "equal to the pretrained one.")
        if layer.lora_A.detach().abs().max() == 0:
            raise ExerciseFailed(f"{where}: A is all zeros too: then the gradient of B (which goes through A) and of A "
                                 "(which goes through B) are both zero and nothing ever trains. Initialise A randomly "
                                 "(kaiming_uniform_, as peft does) and only B to zeros.")
        generator = torch_generator(seed, f"11.4 values {index}")
        x = torch.randn(5, fan_in, generator=generator)
        with torch.no_grad():
            start = _lora_output(layer, x, f"{where}, the output at initialisation", fan_out)
            if not torch.allclose(start, base(x).double(), atol=1e-6):
                raise ExerciseFailed(f"{where}: at initialisation (B = 0) the output must equal the base layer's: "
                                     "base(x) + the low-rank update.")
            layer.lora_A.copy_(torch.randn(r, fan_in, generator=generator))
            layer.lora_B.copy_(torch.randn(fan_out, r, generator=generator))
        # peft's LoRA on a copy of the same base weights, with the same A and B copied in
        holder = torch.nn.Sequential(torch.nn.Linear(fan_in, fan_out, bias=bias))
        holder[0].load_state_dict(base.state_dict())
        reference = get_peft_model(holder, LoraConfig(r=r, lora_alpha=alpha, target_modules=["0"], lora_dropout=0.0))
        lora = reference.base_model.model[0]
        with torch.no_grad():
            lora.lora_A["default"].weight.copy_(layer.lora_A)
            lora.lora_B["default"].weight.copy_(layer.lora_B)
            expected = reference(x).double()
            got = _lora_output(layer, x, f"{where}, the output", fan_out)
            update = (x @ layer.lora_A.T @ layer.lora_B.T).double()
            plain = base(x).double()
        if not torch.allclose(got, expected, atol=1e-4):
            if torch.allclose(got, plain + update * alpha, atol=1e-4):
                hint = "you scaled by alpha; LoRA scales the update by alpha / r."
            elif torch.allclose(got, plain + update * r / alpha, atol=1e-4):
                hint = "you scaled by r / alpha; LoRA scales the update by alpha / r."
            elif torch.allclose(got, plain + update, atol=1e-4):
                hint = "the update is not scaled; LoRA multiplies it by alpha / r."
            else:
                hint = "base(x) + (alpha / r) * x A^T B^T."
            raise ExerciseFailed(f"{where}: your output differs from peft's LoRA with the same A and B: {hint}")
        merge = getattr(layer, "merge", None)
        if not callable(merge):
            raise ExerciseFailed(f"{where}: the layer needs a method merge() that returns a plain nn.Linear.")
        merged = call_answer(merge)
        if not isinstance(merged, torch.nn.Linear):
            raise ExerciseFailed(f"{where}: merge() must return a plain nn.Linear, got {describe(merged)}.")
        with torch.no_grad():
            merged_output = _lora_output(merged, x, f"{where}, the merged layer's output", fan_out)
        if not torch.allclose(merged_output, expected, atol=1e-4):
            if bias and torch.allclose(merged_output, expected - base.bias.detach().double(), atol=1e-4):
                hint = "the merged layer has no bias (or a zero one): copy the base layer's bias."
            else:
                hint = "its weight is W + (alpha / r) * B @ A, with the same bias."
            raise ExerciseFailed(f"{where}: the merged layer's output differs: {hint}")
        if not torch.equal(base.weight.detach(), original):
            raise ExerciseFailed(f"{where}: merge() changed the base layer's weight in place; build a new nn.Linear.")
    return (f"{len(cases)} layers: each starts equal to the base layer, matches peft's LoRA with the same A and B, "
            "and merges exactly.")


_STAT_TEXTS = [["物流很快，包装完好。", "还行吧😀😀", "客服态度恶劣，再也不来了。", "好", "iPhone 电池不耐用"],
               ["", "龘靐 好评", "wifi 2024"]]
_STAT_MATERIAL = ("物流", "很快", "包装", "完好", "客服", "态度", "好评", "差评", "。", "，", "😀", "👍", "龘", "靐",
                  "iPhone", "wifi", "2024", " ", "OK")


def _stat_cases(seed: int, tokenizer) -> list[list[str]]:
    cases = [list(texts) for texts in _STAT_TEXTS]
    random = rng(seed, "11.5")
    for _ in range(4):
        texts = ["".join(random.choice(_STAT_MATERIAL) for _ in range(random.randint(0, 8)))
                 for _ in range(random.randint(1, 6))]
        if not any(tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts):
            texts.append("好评")  # at least one token, so that the [UNK] share is defined
        cases.append(texts)
    return cases


@register("11.5", "tokenizer statistics")
def check_token_stats(answer: Any, seed: int = 0) -> str:
    """``answer(tokenizer, texts)`` -> {"tokens_per_text": mean tokens without special tokens, "unk_rate": share}.

    Cases (course tokenizer): five reviews with emoji (two in a row make one [UNK]), Latin letters and spaces
    (so tokens are not characters), then a list with an empty text (it still counts as a text) and rare
    characters, then 4 random lists of such texts.
    Wrong ideas told apart: counting [CLS] and [SEP], counting characters instead of tokens, [UNK] per
    character instead of per token, the number of [UNK] tokens instead of their share, a list instead of a
    dict.
    Accepted: any number type (float, NumPy, one-element tensor) within a relative 1e-6; counting [UNK] by id
    or by the token string.
    """
    from ..tokenization import load_course_tokenizer

    expect_callable(answer, "token_stats")
    tokenizer = load_course_tokenizer()
    cases = _stat_cases(seed, tokenizer)
    for texts in cases:
        ids = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
        n_tokens = sum(map(len, ids))
        unknown = sum(i == tokenizer.unk_token_id for row in ids for i in row)
        expected = {"tokens_per_text": n_tokens / len(texts), "unk_rate": unknown / n_tokens}
        where = f"for texts {texts}"
        got = call_answer(answer, tokenizer, list(texts))
        if not isinstance(got, dict) or set(got) != set(expected):
            raise ExerciseFailed(f"{where}: return a dict with the keys {sorted(expected)}, got {describe(got)}.")
        tokens_per_text = as_number(got["tokens_per_text"], "tokens_per_text")
        unk_rate = as_number(got["unk_rate"], "unk_rate")

        def near(a: float, b: float) -> bool:
            return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12)

        characters = sum(map(len, texts))
        if not near(tokens_per_text, expected["tokens_per_text"]):
            if near(tokens_per_text, expected["tokens_per_text"] + 2):
                hint = "you counted [CLS] and [SEP]; count the text's own tokens (add_special_tokens=False)."
            elif near(tokens_per_text, characters / len(texts)):
                hint = "that is characters per text; count tokens (Latin letters, spaces and emoji are not one each)."
            else:
                hint = "the number of tokens of all texts (add_special_tokens=False) over the number of texts."
            raise ExerciseFailed(f"{where}: tokens_per_text: expected {expected['tokens_per_text']:.4f}, got "
                                 f"{tokens_per_text:.4f}: {hint}")
        if not near(unk_rate, expected["unk_rate"]):
            if characters and near(unk_rate, unknown / characters):
                hint = "unk_rate is the share of TOKENS that are [UNK], not [UNK] tokens per character."
            elif near(unk_rate, unknown) and unknown != expected["unk_rate"]:
                hint = "that is the number of [UNK] tokens; the rate is their share of all tokens."
            else:
                hint = "tokens equal to unk_token_id over all tokens of all texts."
            raise ExerciseFailed(f"{where}: unk_rate: expected {expected['unk_rate']:.4f}, got {unk_rate:.4f}: {hint}")
    return f"{len(cases)} lists right: tokens without special tokens, and the [UNK] share of all tokens."


TEMPLATE = "。总之，这个很[MASK]。"
_REVIEW_MATERIAL = ("房间", "很", "干净", "差", "不错", "服务", "态度", "好", "，", "。", "iPhone", " ", "wifi", "14",
                    "😀", "Pro")


@register("11.6", "a cloze prompt that survives truncation")
def check_prompt(answer: Any, seed: int = 0) -> str:
    """``answer(review, tokenizer, max_length)`` -> [CLS] + review (truncated) + TEMPLATE + [SEP], as a list of ids.

    Edge cases: a short review, a review far longer than ``max_length``, one that fills it exactly in
    characters, a review with Latin letters and spaces (tokens are not characters, so cutting the text instead
    of its ids fails), an empty review, ``max_length`` that holds the template and nothing else. Plus 6 random
    reviews and lengths.
    Wrong ideas told apart: truncating the whole prompt (the [MASK] is cut off), the template before the
    review, no [CLS]/[SEP], no truncation, room for [CLS]/[SEP] forgotten, cutting characters instead of
    tokens, a [SEP] between review and template (encoding them as a pair).
    Accepted: a list of ints, a 1-D integer tensor or array, or a (1, n) tensor as return_tensors="pt" gives.
    """
    from ..tokenization import load_course_tokenizer

    expect_callable(answer, "prompt_ids")
    tokenizer = load_course_tokenizer()
    template = tokenizer(TEMPLATE, add_special_tokens=False)["input_ids"]
    cases = [("房间很干净", 64), ("差" * 300, 64), ("不错" * 40, 32), ("iPhone 14 Pro 的电池不耐用，wifi 也差", 24),
             ("", 16), ("好" * 10, len(template) + 2)]
    random = rng(seed, "11.6")
    for _ in range(6):
        review = "".join(random.choice(_REVIEW_MATERIAL) for _ in range(random.randint(0, 40)))
        cases.append((review, random.randint(len(template) + 2, 80)))
    for review, max_length in cases:
        body = tokenizer(review, add_special_tokens=False)["input_ids"][: max_length - 2 - len(template)]
        expected = [tokenizer.cls_token_id] + body + template + [tokenizer.sep_token_id]
        where = f"for a {len(review)}-character review and max_length={max_length}"
        got = call_answer(answer, review, tokenizer, max_length)
        if isinstance(got, torch.Tensor) and got.dim() == 2 and got.shape[0] == 1:
            got = got[0]
        got = as_int_list(got, f"{where}, your result")
        if got == expected:
            continue
        if len(got) > max_length:
            raise ExerciseFailed(f"{where}: {len(got)} ids: truncate the review so that [CLS], the review, the "
                                 "template and [SEP] fit in max_length.")
        if tokenizer.mask_token_id not in got:
            raise ExerciseFailed(f"{where}: your ids contain no [MASK]: it was cut off. Truncate the review, never "
                                 "the template.")
        if got[:1] != [tokenizer.cls_token_id] or got[-1:] != [tokenizer.sep_token_id]:
            raise ExerciseFailed(f"{where}: start with [CLS] and end with [SEP], as BERT was pretrained.")
        if tokenizer.sep_token_id in got[1:-1]:
            raise ExerciseFailed(f"{where}: there is a [SEP] inside the prompt; the prompt is one text with one [SEP] "
                                 "at the end: encode the review and the template without special tokens and join "
                                 "them.")
        if got[1:1 + len(template)] == template and body:
            raise ExerciseFailed(f"{where}: the template goes AFTER the review: 评论……。总之，这个很[MASK]。")
        hint = ""
        if len(got) < len(expected):
            hint = (" The review was cut too short: keep max_length - 2 - len(template) of its TOKENS (cutting its "
                    "characters counts spaces and Latin letters wrongly).")
        raise ExerciseFailed(f"{where} expected {len(expected)} ids ([CLS] + the first {len(body)} review tokens + "
                             f"template + [SEP]), got {len(got)}.{hint}")
    return f"{len(cases)} prompts right: the whole template with its [MASK], however long the review."


def _numbers(value: Any, what: str) -> list[float]:
    """A sequence of numbers (list, tuple, 1-D tensor or array) as floats, else a specific failure."""
    if isinstance(value, torch.Tensor) or hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, (str, bytes, dict)) or not isinstance(value, (list, tuple)):
        raise ExerciseFailed(f"{what}: return a list of numbers, got {describe(value)}.")
    try:
        return [as_number(item, what) for item in value]
    except ExerciseFailed:
        raise ExerciseFailed(f"{what}: return a list of numbers, got {str(value)[:80]}.") from None


def _scalar_cases(seed: int) -> list[tuple[str, list[int], dict[str, list[float]]]]:
    """(tag to read, steps, {tag: values}): the lesson's loss, then random logs of three tags."""
    cases = [("train/loss", [0, 5, 10, 15], {"train/loss": [2.0, 1.5, 1.25, 1.0],
                                           "train/learning_rate": [0.002, 0.0015, 0.00125, 0.001]})]
    random = rng(seed, "11.7")
    for _ in range(2):
        steps, step = [], random.randint(1, 50)
        for _ in range(random.randint(2, 8)):
            steps.append(step)
            step += random.randint(1, 100)
        values = {tag: [round(random.uniform(0.01, 5.0), 3) for _ in steps]
                  for tag in ("train/loss", "eval/loss", "train/grad_norm")}
        cases.append((random.choice(sorted(values)), steps, values))
    return cases


@register("11.7", "reading TensorBoard scalars back")
def check_read_scalars(answer: Any, seed: int = 0) -> str:
    """``answer(logdir, tag)`` -> (steps, values) of one scalar, in step order.

    Cases: the lesson's loss logged at steps 0, 5, 10, 15 next to a learning rate, then 2 random logs of three
    tags with 2-8 events at irregular steps that do not start at 0, the tag to read chosen at random.
    Wrong ideas told apart: wall times instead of steps, event numbers 0, 1, 2... instead of steps, the last
    value only, another tag's values, values and steps swapped, a dict or a list of pairs instead of a pair.
    Accepted: lists, tuples, tensors or arrays of numbers; values within a relative 1e-6 (TensorBoard stores
    float32).
    """
    from torch.utils.tensorboard import SummaryWriter

    expect_callable(answer, "read_scalars")
    cases = _scalar_cases(seed)
    for tag, steps, logged in cases:
        values = logged[tag]
        where = f"reading {tag!r}"
        with tempfile.TemporaryDirectory() as logdir:
            writer = SummaryWriter(logdir)
            for index, step in enumerate(steps):
                for name, series in logged.items():
                    writer.add_scalar(name, series[index], step)
            writer.close()
            got = call_answer(answer, logdir, tag)
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise ExerciseFailed(f"{where}: return a pair (steps, values), got {describe(got)}.")
        got_steps, got_values = _numbers(got[0], f"{where}, the steps"), _numbers(got[1], f"{where}, the values")

        def same(a: list[float], b: list[float]) -> bool:
            return len(a) == len(b) and all(math.isclose(x, y, rel_tol=1e-6) for x, y in zip(a, b))

        if same(got_steps, [float(s) for s in steps]) and same(got_values, values):
            continue
        if len(got_values) == 1:
            raise ExerciseFailed(f"{where}: return every logged value of the tag, not only the last one.")
        if any(same(got_values, other) for name, other in logged.items() if name != tag):
            raise ExerciseFailed(f"{where}: these are another tag's values: read the tag you were given.")
        if same(got_steps, values) and same(got_values, [float(s) for s in steps]):
            raise ExerciseFailed(f"{where}: steps and values are swapped: return (steps, values).")
        if not same(got_steps, [float(s) for s in steps]):
            if got_steps and min(got_steps) > 1e9:
                hint = "wall_time is the clock time, not the step."
            elif same(got_steps, [float(i) for i in range(len(steps))]):
                hint = "these count the events; read each event's own step."
            else:
                hint = "read each event's step."
            raise ExerciseFailed(f"{where}: steps should be the global steps {steps} (event.step), got "
                                 f"{got_steps[:8]}: {hint}")
        raise ExerciseFailed(f"{where}: values should be {values} (event.value), got {got_values}.")
    return f"reads every (step, value) of the tag from the event file, in {len(cases)} logs."
