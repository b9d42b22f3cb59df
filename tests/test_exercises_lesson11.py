import math

import pytest
import torch
from torch import nn

from helpers import mechanisms
from helpers.exercises import check
from lesson_sources import failure

NAMES = [("11.1", "attention"), ("11.2", "embed_by_hand"), ("11.3", "static_and_contextual"), ("11.4", "LoRALinear"),
         ("11.5", "token_stats"), ("11.6", "prompt_ids"), ("11.7", "read_scalars")]


LESSON = "11_build_it_yourself"  # the conftest fixtures `solved` and `stubs` read this


@pytest.mark.parametrize("exercise_id,name", NAMES)
def test_solutions_pass_and_stubs_are_not_attempted(solved, stubs, exercise_id, name):
    assert check(exercise_id, solved[name]).passed
    if name == "LoRALinear":  # the stub raises in __init__, which the checker calls
        assert not check(exercise_id, stubs[name]).attempted
    else:
        assert not check(exercise_id, stubs[name]).attempted


@pytest.mark.parametrize("exercise_id,name", NAMES)
def test_the_course_versions_pass_their_own_checkers(exercise_id, name):
    """helpers.mechanisms is what the lesson's later cells use: it must be right, judged by the libraries."""
    assert check(exercise_id, getattr(mechanisms, name)).passed


# 11.1 attention
def unscaled(q, k, v, causal=False):
    scores = q @ k.transpose(-2, -1)
    if causal:
        scores = scores.masked_fill(~torch.ones(scores.shape[-2:], dtype=torch.bool).tril(), float("-inf"))
    weights = torch.softmax(scores, -1)
    return weights @ v, weights


def softmax_over_queries(q, k, v, causal=False):
    weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-2)
    return weights @ v, weights


def future_not_past(q, k, v, causal=False):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if causal:
        scores = scores.masked_fill(~torch.ones(scores.shape[-2:], dtype=torch.bool).triu(), float("-inf"))
    weights = torch.softmax(scores, -1)
    return weights @ v, weights


def mask_after_softmax(q, k, v, causal=False):
    weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), -1)
    if causal:
        weights = weights * torch.ones(weights.shape[-2:]).tril()
    return weights @ v, weights


def no_diagonal(q, k, v, causal=False):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if causal:
        scores = scores.masked_fill(~torch.ones(scores.shape[-2:], dtype=torch.bool).tril(-1), float("-inf"))
    weights = torch.softmax(scores, -1)
    return weights @ v, weights


@pytest.mark.parametrize("wrong,message", [
    (unscaled, "divide q k^T by sqrt(d_k)"),
    (softmax_over_queries, "softmax over the last dimension"),
    (future_not_past, "use tril, not triu"),
    (mask_after_softmax, "after the softmax"),
    (no_diagonal, "keep the diagonal"),
    (lambda q, k, v, causal=False: mechanisms.attention(q, k, v, causal)[0], "return a pair"),
])
def test_attention_wrong_answers(wrong, message):
    assert message in failure("11.1", wrong)


# 11.2 embeddings
def no_layernorm(emb, ids, types):
    return emb.word_embeddings(ids) + emb.position_embeddings(torch.arange(ids.shape[1]))[None] + emb.token_type_embeddings(types)


def no_positions(emb, ids, types):
    return emb.LayerNorm(emb.word_embeddings(ids) + emb.token_type_embeddings(types))


def no_segments(emb, ids, types):
    return emb.LayerNorm(emb.word_embeddings(ids) + emb.position_embeddings(torch.arange(ids.shape[1]))[None])


@pytest.mark.parametrize("wrong,message", [
    (no_layernorm, "applies embeddings.LayerNorm"),
    (no_positions, "position embeddings are missing"),
    (no_segments, "segment embeddings are missing"),
    (lambda emb, ids, types: emb.word_embeddings(ids)[:, 0], "(batch, sequence, hidden)"),
])
def test_embedding_wrong_answers(wrong, message):
    assert message in failure("11.2", wrong)


# 11.3 static vs contextual
def static_with_positions(model, tokenizer, sentence, char):
    static, contextual = mechanisms.static_and_contextual(model, tokenizer, sentence, char)
    encoded = tokenizer(sentence, return_tensors="pt")
    position = encoded["input_ids"][0].tolist().index(tokenizer.convert_tokens_to_ids(char))
    with torch.no_grad():
        return model.embeddings(input_ids=encoded["input_ids"])[0, position], contextual


def cls_vector(model, tokenizer, sentence, char):
    static, _ = mechanisms.static_and_contextual(model, tokenizer, sentence, char)
    with torch.no_grad():
        return static, model(**tokenizer(sentence, return_tensors="pt")).last_hidden_state[0, 0]


def sentence_index(model, tokenizer, sentence, char):
    static, _ = mechanisms.static_and_contextual(model, tokenizer, sentence, char)
    with torch.no_grad():
        return static, model(**tokenizer(sentence, return_tensors="pt")).last_hidden_state[0, sentence.index(char)]


@pytest.mark.parametrize("wrong,message", [
    (static_with_positions, "must not depend on the sentence"),
    (cls_vector, "which is [CLS]"),
    (sentence_index, "off by one"),
    (lambda model, tokenizer, sentence, char: mechanisms.static_and_contextual(model, tokenizer, sentence, char)[1],
     "return a pair"),
])
def test_vector_wrong_answers(wrong, message):
    assert message in failure("11.3", wrong)


# 11.4 LoRA
class ScaledByAlpha(mechanisms.LoRALinear):
    def forward(self, x):
        return self.base(x) + (x @ self.lora_A.T @ self.lora_B.T) * self.scaling * self.r


class RandomB(mechanisms.LoRALinear):
    def __init__(self, base, r, alpha):
        super().__init__(base, r, alpha)
        nn.init.normal_(self.lora_B)


class BaseNotFrozen(mechanisms.LoRALinear):
    def __init__(self, base, r, alpha):
        super().__init__(base, r, alpha)
        base.weight.requires_grad = True


class Transposed(mechanisms.LoRALinear):
    def __init__(self, base, r, alpha):
        super().__init__(base, r, alpha)
        self.lora_A = nn.Parameter(torch.zeros(base.in_features, r))
        self.lora_B = nn.Parameter(torch.zeros(r, base.out_features))


class MergeWithoutScaling(mechanisms.LoRALinear):
    def merge(self):
        merged = super().merge()
        with torch.no_grad():
            merged.weight.copy_(self.base.weight + self.lora_B @ self.lora_A)
        return merged


class MergeInPlace(mechanisms.LoRALinear):
    def merge(self):
        with torch.no_grad():
            self.base.weight += self.scaling * self.lora_B @ self.lora_A
        return self.base


@pytest.mark.parametrize("wrong,message", [
    (ScaledByAlpha, "scales the update by alpha / r"),
    (RandomB, "initialise B to zeros"),
    (BaseNotFrozen, "freeze the base layer"),
    (Transposed, "lora_A must be (r, in_features)"),
    (MergeWithoutScaling, "W + (alpha / r) * B @ A"),
    (MergeInPlace, "in place"),
    (mechanisms.LoRALinear(nn.Linear(2, 2), 1, 1), "pass the class"),
])
def test_lora_wrong_answers(wrong, message):
    assert message in failure("11.4", wrong)


# 11.5 token statistics
def with_special_tokens(tokenizer, texts):
    ids = [tokenizer(t)["input_ids"] for t in texts]
    n = sum(map(len, ids))
    return {"tokens_per_text": n / len(texts), "unk_rate": sum(i == tokenizer.unk_token_id for r in ids for i in r) / n}


def unk_per_character(tokenizer, texts):
    stats = mechanisms.token_stats(tokenizer, texts)
    ids = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    unknown = sum(i == tokenizer.unk_token_id for r in ids for i in r)
    return {**stats, "unk_rate": unknown / sum(map(len, texts))}


@pytest.mark.parametrize("wrong,message", [
    (with_special_tokens, "counted [CLS] and [SEP]"),
    (unk_per_character, "share of TOKENS"),
    (lambda tokenizer, texts: list(mechanisms.token_stats(tokenizer, texts).values()), "return a dict"),
])
def test_token_stats_wrong_answers(wrong, message):
    assert message in failure("11.5", wrong)


# 11.6 cloze prompt
def truncate_everything(review, tokenizer, max_length):
    return tokenizer(review + mechanisms.CLOZE_TEMPLATE, truncation=True, max_length=max_length)["input_ids"]


def template_first(review, tokenizer, max_length):
    template = tokenizer(mechanisms.CLOZE_TEMPLATE, add_special_tokens=False)["input_ids"]
    body = tokenizer(review, add_special_tokens=False)["input_ids"][: max_length - 2 - len(template)]
    return [tokenizer.cls_token_id] + template + body + [tokenizer.sep_token_id]


def no_special_tokens(review, tokenizer, max_length):
    return mechanisms.prompt_ids(review, tokenizer, max_length)[1:-1]


@pytest.mark.parametrize("wrong,message", [
    (truncate_everything, "never the template"),
    (template_first, "AFTER the review"),
    (no_special_tokens, "start with [CLS]"),
    (lambda review, tokenizer, max_length: mechanisms.prompt_ids(review, tokenizer, 10_000), "truncate the review"),
])
def test_prompt_wrong_answers(wrong, message):
    assert message in failure("11.6", wrong)


# 11.7 TensorBoard scalars
def wall_times(logdir, tag):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(logdir).Reload().Scalars(tag)
    return [e.wall_time for e in events], [e.value for e in events]


def last_only(logdir, tag):
    steps, values = mechanisms.read_scalars(logdir, tag)
    return steps[-1:], values[-1:]


@pytest.mark.parametrize("wrong,message", [
    (wall_times, "wall_time is the clock time"),
    (last_only, "not only the last one"),
    (lambda logdir, tag: mechanisms.read_scalars(logdir, "train/learning_rate"), "another tag"),
    (lambda logdir, tag: dict(zip(*mechanisms.read_scalars(logdir, tag))), "return a pair"),
])
def test_read_scalars_wrong_answers(wrong, message):
    assert message in failure("11.7", wrong)


def test_mechanisms_refuse_bad_input(tmp_path):
    from helpers.models import load_tokenizer

    tokenizer = load_tokenizer("course-bert")
    with pytest.raises(TypeError, match="wraps an nn.Linear"):
        mechanisms.LoRALinear(nn.Conv1d(2, 2, 1), 2, 4)
    with pytest.raises(ValueError, match="positive int"):
        mechanisms.LoRALinear(nn.Linear(2, 2), 0, 4)
    with pytest.raises(ValueError, match="at least one text"):
        mechanisms.token_stats(tokenizer, [])
    with pytest.raises(ValueError, match="raise max_length"):
        mechanisms.prompt_ids("好", tokenizer, 5)
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(tmp_path))
    writer.add_scalar("a", 1.0, 0)
    writer.close()
    with pytest.raises(KeyError, match="no scalar 'b'"):
        mechanisms.read_scalars(tmp_path, "b")
