"""Lesson 03 exercises: count trainable parameters, freeze the bottom k layers, a LoRA config."""

from __future__ import annotations

from typing import Any

from .core import ExerciseFailed, call_answer, expect_callable, register


def _tiny_bert():
    import torch
    from transformers import BertForSequenceClassification

    from ..models import bert_config
    from ..profiles import get_profile

    torch.manual_seed(0)
    return BertForSequenceClassification(bert_config(get_profile("smoke"), num_labels=2, num_hidden_layers=3))


@register("03.1", "count trainable parameters")
def check_count(answer: Any) -> str:
    """``answer(model)`` -> (trainable, total) element counts."""
    expect_callable(answer, "count_parameters")
    model = _tiny_bert()
    for parameter in model.bert.embeddings.parameters():
        parameter.requires_grad = False
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    got = call_answer(answer, model)
    if not (isinstance(got, tuple) and len(got) == 2 and all(isinstance(x, int) for x in got)):
        raise ExerciseFailed(f"return a tuple of two ints (trainable, total); got {got!r}.")
    n_tensors = len(list(model.parameters()))
    if got[1] == n_tensors or got[0] == sum(p.requires_grad for p in model.parameters()):
        raise ExerciseFailed("you counted parameter tensors, not their elements: add up p.numel().")
    if got[1] != total:
        raise ExerciseFailed(f"total is {got[1]:,}; expected {total:,} (every element of every parameter).")
    if got[0] == total:
        raise ExerciseFailed("trainable equals total, but the embeddings of this model are frozen: count only "
                             "parameters with requires_grad=True.")
    if got[0] != trainable:
        raise ExerciseFailed(f"trainable is {got[0]:,}; expected {trainable:,}.")
    return f"{trainable:,} of {total:,} parameters trainable ({trainable / total:.1%}) on the test model."


@register("03.2", "freeze the bottom k layers")
def check_freeze(answer: Any) -> str:
    """``answer(model, k)`` freezes embeddings and encoder layers 0..k-1, in place."""
    expect_callable(answer, "freeze_bottom")
    for k in (0, 2, 3):
        model = _tiny_bert()
        returned = call_answer(answer, model, k)
        target = returned if returned is not None else model
        frozen_layers = [i for i, layer in enumerate(target.bert.encoder.layer)
                         if not any(p.requires_grad for p in layer.parameters())]
        embeddings_frozen = not any(p.requires_grad for p in target.bert.embeddings.parameters())
        if frozen_layers != list(range(k)):
            hint = " You froze the TOP layers; the bottom ones (closest to the input) hold the most general features." \
                if frozen_layers and frozen_layers[-1] == len(target.bert.encoder.layer) - 1 else ""
            raise ExerciseFailed(f"with k={k} the frozen layers are {frozen_layers}; expected {list(range(k))}.{hint}")
        if k > 0 and not embeddings_frozen:
            raise ExerciseFailed(f"with k={k} the embeddings are still trainable; they sit below layer 0, freeze them too.")
        if k == 0 and embeddings_frozen:
            raise ExerciseFailed("with k=0 nothing should be frozen, but the embeddings are.")
        if not all(p.requires_grad for p in target.classifier.parameters()):
            raise ExerciseFailed("the classifier is frozen: the new head must always train.")
    return "k=0, 2 and 3 freeze exactly the embeddings and the lowest k layers; the head trains."


@register("03.3", "a LoRA config for the attention projections")
def check_lora(answer: Any) -> str:
    """``answer()`` -> a peft LoraConfig for sequence classification on the attention projections."""
    from peft import LoraConfig, TaskType, get_peft_model

    expect_callable(answer, "make_lora_config")
    config = call_answer(answer)
    if not isinstance(config, LoraConfig):
        raise ExerciseFailed(f"return a peft.LoraConfig; got {type(config).__name__}.")
    if config.task_type != TaskType.SEQ_CLS:
        raise ExerciseFailed(f"task_type is {config.task_type!r}; use TaskType.SEQ_CLS so peft keeps the "
                             "classification head trainable.")
    targets = set(config.target_modules or [])
    attention = {"query", "key", "value"}
    if not targets or not targets & attention or targets - attention - {"attention.output.dense"}:
        raise ExerciseFailed(f"target_modules is {sorted(targets)}; target the attention projections of BERT's "
                             "self-attention (its modules are named 'query', 'key', 'value').")
    if not 1 <= config.r <= 16:
        raise ExerciseFailed(f"r={config.r}: the point of LoRA is a LOW rank; use 4-16 for a model this size.")
    model = get_peft_model(_tiny_bert(), config)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    lora_trainable = sum(p.numel() for n, p in model.named_parameters() if p.requires_grad and "lora_" in n)
    if lora_trainable == 0:
        raise ExerciseFailed("no LoRA parameters train after get_peft_model; check target_modules.")
    return f"LoRA on {sorted(targets)} with r={config.r}: {trainable:,} of {total:,} parameters train ({trainable / total:.1%})."
