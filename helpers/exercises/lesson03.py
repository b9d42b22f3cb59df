"""Lesson 03 exercises: count trainable parameters, freeze the bottom k layers, a LoRA config."""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from .core import ExerciseFailed, call_answer, describe, expect_callable, register, rng


def _tiny_bert(num_layers: int = 3, seed: int = 0):
    import torch
    from transformers import BertForSequenceClassification

    from ..models import bert_config
    from ..profiles import get_profile

    torch.manual_seed(seed)
    return BertForSequenceClassification(bert_config(get_profile("smoke"), num_labels=2,
                                                     num_hidden_layers=num_layers, hidden_size=16,
                                                     intermediate_size=32, num_attention_heads=2))


def _tiny_gpt(seed: int = 0):
    import torch
    from transformers import GPT2LMHeadModel

    from ..models import gpt_config
    from ..profiles import get_profile

    torch.manual_seed(seed)
    return GPT2LMHeadModel(gpt_config(get_profile("smoke"), n_embd=16, n_layer=2, n_head=2))


def _shared_weight_net():
    """A plain torch module with one Linear used twice and a BatchNorm (whose running statistics are buffers)."""
    import torch

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.shared = torch.nn.Linear(6, 6)
            self.norm = torch.nn.BatchNorm1d(6)
            self.head = torch.nn.Linear(6, 2)
            self.head_again = self.head  # the same module registered twice: its parameters count once

        def forward(self, x):
            return self.head(self.norm(self.shared(self.shared(x))))

    return Net()


def _count_models(seed: int) -> Iterator[tuple[str, Any]]:
    """The test models, built one at a time (a wrong answer fails on the first without building the rest)."""
    random = rng(seed, "03.1")
    frozen_embeddings = _tiny_bert(2, seed)
    for parameter in frozen_embeddings.bert.embeddings.parameters():
        parameter.requires_grad = False
    yield "a BERT with frozen embeddings", frozen_embeddings
    gpt = _tiny_gpt(seed)  # lm_head.weight is tied to the token embeddings: one tensor, counted once
    gpt.transformer.wpe.weight.requires_grad = False
    yield "a GPT-2 with tied input/output embeddings", gpt
    net = _shared_weight_net()
    net.head.bias.requires_grad = False
    yield "a small network with a shared layer and BatchNorm buffers", net
    random_freeze = _tiny_bert(2, seed + 1)
    for parameter in random_freeze.parameters():
        parameter.requires_grad = random.random() < 0.5
    yield "a BERT with a random half frozen", random_freeze
    all_frozen = _tiny_bert(1, seed)
    for parameter in all_frozen.parameters():
        parameter.requires_grad = False
    yield "a fully frozen BERT", all_frozen
    yield "a fully trainable BERT", _tiny_bert(1, seed)


@register("03.1", "count trainable parameters")
def check_count(answer: Any, seed: int = 0) -> str:
    """``answer(model)`` -> (trainable, total) element counts.

    Models: a BERT with frozen embeddings, one with a random half of its tensors frozen (the seed picks them),
    a fully frozen one (trainable 0), a fully trainable one, a GPT-2 whose output layer is tied to its input
    embeddings (one tensor, counted once), and a plain torch module with a layer registered twice and BatchNorm
    buffers (buffers are not parameters). Wrong ideas told apart: counting tensors instead of elements,
    ignoring requires_grad, counting ``state_dict()`` (tied weights twice, buffers too), (total, trainable) in
    the wrong order. Accepted: a tuple or a list of two ints (Python or NumPy).
    """
    expect_callable(answer, "count_parameters")
    for name, model in _count_models(seed):
        parameters = list(model.parameters())
        total = sum(p.numel() for p in parameters)
        trainable = sum(p.numel() for p in parameters if p.requires_grad)
        got = call_answer(answer, model)
        if not (isinstance(got, (tuple, list)) and len(got) == 2
                and all(isinstance(x, (int, np.integer)) and not isinstance(x, bool) for x in got)):
            raise ExerciseFailed(f"return a tuple of two ints (trainable, total); got {describe(got)}.")
        got_trainable, got_total = int(got[0]), int(got[1])
        if (got_trainable, got_total) == (trainable, total):
            continue
        if (got_total, got_trainable) == (trainable, total) and trainable != total:
            raise ExerciseFailed(f"for {name} you returned ({got_trainable:,}, {got_total:,}): the order is "
                                 "(trainable, total).")
        if got_total == len(parameters) or (got_trainable == sum(p.requires_grad for p in parameters) and trainable):
            raise ExerciseFailed("you counted parameter tensors, not their elements: add up p.numel().")
        state_total = sum(t.numel() for t in model.state_dict().values())
        duplicated = sum(p.numel() for _, p in model.named_parameters(remove_duplicate=False))
        if got_total in (state_total, duplicated) and got_total != total:
            raise ExerciseFailed(f"for {name} your total {got_total:,} counts a shared (tied) tensor twice, or buffers "
                                 f"(state_dict() lists both); expected {total:,}. Count model.parameters(), which "
                                 "lists each parameter once.")
        if got_total != total:
            raise ExerciseFailed(f"for {name} total is {got_total:,}; expected {total:,} (every element of every "
                                 "parameter, each shared tensor once).")
        if got_trainable == total != trainable:
            raise ExerciseFailed(f"for {name} trainable equals total, but part of it is frozen: count only "
                                 "parameters with requires_grad=True.")
        raise ExerciseFailed(f"for {name} trainable is {got_trainable:,}; expected {trainable:,}.")
    return "right on frozen, partly frozen and tied-weight models, and on a plain torch module."


def _frozen(module) -> bool:
    return not any(p.requires_grad for p in module.parameters())


def _partly_frozen(module) -> bool:
    flags = [p.requires_grad for p in module.parameters()]
    return any(flags) and not all(flags)


@register("03.2", "freeze the bottom k layers")
def check_freeze(answer: Any, seed: int = 0) -> str:
    """``answer(model, k)`` freezes embeddings and encoder layers 0..k-1, in place; everything else trains.

    Cases: a 3-layer model with k = 0..3, a 1-layer model with k = 0 and 1, and a 12-layer model with k = 2 and a
    random k (matching parameter names with ``f"layer.{i}"`` also catches layer.10 and layer.11 there).
    Checked: the embeddings are frozen exactly when k > 0; layers 0..k-1 entirely frozen; every other layer and
    the classifier entirely trainable. The hints name the mistake: the top layers instead of the bottom ones,
    one layer too many or too few, a partly frozen layer, name matching that also catches layers 10 and 11.
    The pooler is not checked (either is fine). Accepted: returning the model or None.
    """
    expect_callable(answer, "freeze_bottom")
    random = rng(seed, "03.2")
    cases = [(3, 2), (3, 0), (3, 1), (3, 3), (1, 0), (1, 1), (12, 2), (12, random.randint(3, 12))]
    for num_layers, k in cases:
        model = _tiny_bert(num_layers, seed)
        returned = call_answer(answer, model, k)
        target = returned if hasattr(returned, "bert") else model
        layers = list(target.bert.encoder.layer)
        frozen = [i for i, layer in enumerate(layers) if _frozen(layer)]
        partly = [i for i, layer in enumerate(layers) if _partly_frozen(layer)]
        where = f"with k={k} on a {num_layers}-layer model"
        if not all(p.requires_grad for p in target.classifier.parameters()):
            raise ExerciseFailed(f"{where} the classifier is frozen: the new head must always train.")
        if partly:
            raise ExerciseFailed(f"{where} layer(s) {partly} are only partly frozen: set requires_grad=False on every "
                                 "parameter of each of the lowest k layers (model.bert.encoder.layer[:k]).")
        if frozen != list(range(k)):
            if k and frozen == list(range(num_layers - k, num_layers)) and k < num_layers:
                hint = (" You froze the TOP layers; the bottom ones (closest to the input, layer[:k]) hold the most "
                        "general features.")
            elif frozen == list(range(k + 1)):
                hint = " That is one layer too many: layers 0..k-1 are k layers, model.bert.encoder.layer[:k]."
            elif k and frozen == list(range(k - 1)):
                hint = " That is one layer too few: layers 0..k-1 are k layers, model.bert.encoder.layer[:k]."
            elif any(i >= 10 for i in frozen) and frozen[: k] == list(range(k)):
                hint = (f" Layers {[i for i in frozen if i >= k]} were frozen too: matching names such as 'layer.1' "
                        "also matches 'layer.10' and 'layer.11'. Loop over model.bert.encoder.layer[:k] instead.")
            else:
                hint = ""
            raise ExerciseFailed(f"{where} the frozen layers are {frozen}; expected {list(range(k))}.{hint}")
        embeddings_frozen = _frozen(target.bert.embeddings)
        if _partly_frozen(target.bert.embeddings):
            raise ExerciseFailed(f"{where} the embeddings are only partly frozen (word, position, token-type "
                                 "embeddings and their LayerNorm): freeze all of model.bert.embeddings.")
        if k > 0 and not embeddings_frozen:
            raise ExerciseFailed(f"{where} the embeddings are still trainable; they sit below layer 0, freeze them too.")
        if k == 0 and embeddings_frozen:
            raise ExerciseFailed("with k=0 nothing should be frozen, but the embeddings are.")
    return f"{len(cases)} cases (1, 3 and 12 layers, k from 0 to all) freeze exactly the embeddings and the lowest k layers."


_ATTENTION = ("query", "key", "value")


@register("03.3", "a LoRA config for the attention projections")
def check_lora(answer: Any, seed: int = 0) -> str:
    """``answer()`` -> a peft LoraConfig for sequence classification on the attention projections.

    The config is applied to a small BERT with ``get_peft_model`` and the result is checked, not the spelling:
    LoRA must wrap at least one of BERT's self-attention projections (query, key, value; the attention output
    projection is also allowed) and nothing else (not the feed-forward ``dense`` layers, not the pooler), the
    rank must be low (1-64), and the classification head must train (``TaskType.SEQ_CLS`` does that).
    Wrong ideas told apart: the feed-forward layers, every 'dense' layer, no task type (frozen head), a high
    rank, a dict instead of a LoraConfig, module names of another architecture ('q_proj').
    Accepted: target_modules as a list, a set or a regular expression; any alpha and dropout; no task type
    if ``modules_to_save=["classifier"]`` trains the head.
    """
    from peft import LoraConfig, get_peft_model

    expect_callable(answer, "make_lora_config")
    config = call_answer(answer)
    if not isinstance(config, LoraConfig):
        raise ExerciseFailed(f"return a peft.LoraConfig; got {describe(config)}.")
    rank = config.r
    if not isinstance(rank, int) or not 1 <= rank <= 64:
        raise ExerciseFailed(f"r={rank!r}: the point of LoRA is a LOW rank; use 4-16 for a model this size.")
    try:
        model = get_peft_model(_tiny_bert(2, seed), config)
    except (ValueError, TypeError, KeyError, RuntimeError) as error:
        raise ExerciseFailed(f"get_peft_model could not apply your config to BERT ({type(error).__name__}: {error}). "
                             "BERT's attention projections are named 'query', 'key', 'value'.") from error
    wrapped = sorted({name for name, module in model.named_modules() if hasattr(module, "lora_A")
                      and len(getattr(module, "lora_A", {})) > 0})
    allowed = [name for name in wrapped if name.split(".")[-1] in _ATTENTION or name.endswith("attention.output.dense")]
    others = [name for name in wrapped if name not in allowed]
    if not wrapped or others or not any(name.split(".")[-1] in _ATTENTION for name in wrapped):
        shown = sorted({name.split("bert.")[-1].split("layer.")[-1] for name in others})[:4]
        raise ExerciseFailed(f"LoRA wraps {len(wrapped)} modules{' including ' + str(shown) if shown else ''}; target "
                             "the attention projections of BERT's self-attention (its modules are named 'query', "
                             "'key', 'value'), and nothing else.")
    classifier_trains = any(p.requires_grad for n, p in model.named_parameters() if "classifier" in n)
    if not classifier_trains:
        raise ExerciseFailed(f"task_type is {config.task_type!r}: the new classification head would stay frozen. Use "
                             "task_type=TaskType.SEQ_CLS so peft trains the head.")
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    targets = sorted({name.split(".")[-1] for name in wrapped})
    return f"LoRA on {targets} with r={rank}: {trainable:,} of {total:,} parameters of the test model train."
