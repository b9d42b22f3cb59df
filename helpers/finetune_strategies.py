"""Fine-tuning strategies for a BERT classifier: what to train, at which learning rate, and PEFT adapters.

* :func:`freeze_encoder` trains only the head (pooler + classifier): a probe of the frozen representation;
* :func:`freeze_bottom_layers` freezes the embeddings and the lowest ``k`` encoder layers;
* :func:`layerwise_lr_groups` gives each layer its own learning rate, decaying from top to bottom (LLRD);
* :func:`peft_model` wraps the model with LoRA, prefix tuning, AdaLoRA or IA3 from the ``peft`` library;
* :func:`saved_size` measures what a strategy costs on disk (:func:`helpers.training.count_parameters` counts
  what it trains).
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import torch
from peft import AdaLoraConfig, IA3Config, LoraConfig, PeftModel, PrefixTuningConfig, TaskType, get_peft_model
from transformers import BertForSequenceClassification

from .training import adamw_parameter_groups

PEFT_METHODS = ("lora", "prefix", "adalora", "ia3")


def _check_bert(model: torch.nn.Module) -> None:
    if not isinstance(model, BertForSequenceClassification):
        raise TypeError(f"expected a BertForSequenceClassification, got {type(model).__name__}")


def freeze_encoder(model: BertForSequenceClassification) -> BertForSequenceClassification:
    """Freeze embeddings and every encoder layer; pooler and classifier stay trainable."""
    _check_bert(model)
    for parameter in model.bert.embeddings.parameters():
        parameter.requires_grad = False
    for parameter in model.bert.encoder.parameters():
        parameter.requires_grad = False
    return model


def freeze_bottom_layers(model: BertForSequenceClassification, k: int) -> BertForSequenceClassification:
    """Freeze the embeddings and encoder layers ``0 .. k-1`` (``k=0`` freezes nothing)."""
    _check_bert(model)
    n_layers = len(model.bert.encoder.layer)
    if not isinstance(k, int) or not 0 <= k <= n_layers:
        raise ValueError(f"k must be an int between 0 and {n_layers}, got {k!r}")
    if k > 0:
        for parameter in model.bert.embeddings.parameters():
            parameter.requires_grad = False
    for layer in model.bert.encoder.layer[:k]:
        for parameter in layer.parameters():
            parameter.requires_grad = False
    return model


def layerwise_lr_groups(model: BertForSequenceClassification, base_lr: float, decay: float = 0.8,
                        weight_decay: float = 0.01) -> list[dict]:
    """AdamW parameter groups: head at ``base_lr``, layer i from the top at ``base_lr * decay**i``,
    embeddings lowest. Lower layers hold general features and move less. Weight decay follows the same rule
    as every other run (:func:`helpers.training.adamw_parameter_groups`), so only the learning rates differ."""
    _check_bert(model)
    if not 0 < decay <= 1:
        raise ValueError(f"decay must be in (0, 1], got {decay}")
    layers = list(model.bert.encoder.layer)
    blocks = [(model.bert.embeddings, base_lr * decay ** len(layers))]
    blocks += [(layer, base_lr * decay ** (len(layers) - 1 - i)) for i, layer in enumerate(layers)]
    head = [p for n, p in model.named_parameters() if not n.startswith(("bert.embeddings", "bert.encoder"))]
    groups = [group for module, lr in blocks for group in adamw_parameter_groups(module, weight_decay, lr)]
    return groups + adamw_parameter_groups(head, weight_decay, base_lr)


# The course BERT was pretrained without a pooler (no NSP), so its pooler starts random: it must train
# along with the classifier, or every PEFT method would classify a frozen random projection.
HEAD_MODULES = ["classifier", "pooler"]


def peft_config(method: str, total_steps: int = 1000):
    """The course's settings for each PEFT method (attention projections for LoRA-style adapters)."""
    if method == "lora":
        return LoraConfig(task_type=TaskType.SEQ_CLS, r=8, lora_alpha=16, lora_dropout=0.1,
                          target_modules=["query", "value"], modules_to_save=HEAD_MODULES)
    if method == "prefix":
        return PrefixTuningConfig(task_type=TaskType.SEQ_CLS, num_virtual_tokens=20, modules_to_save=HEAD_MODULES)
    if method == "adalora":
        return AdaLoraConfig(task_type=TaskType.SEQ_CLS, init_r=12, target_r=4, target_modules=["query", "value"],
                             total_step=total_steps, tinit=total_steps // 10, tfinal=total_steps // 5,
                             modules_to_save=HEAD_MODULES)
    if method == "ia3":
        return IA3Config(task_type=TaskType.SEQ_CLS, target_modules=["key", "value", "output.dense"],
                         feedforward_modules=["output.dense"], modules_to_save=HEAD_MODULES)
    raise ValueError(f"unknown PEFT method {method!r}; choose one of {PEFT_METHODS}")


def peft_model(model: BertForSequenceClassification, method: str, total_steps: int = 1000) -> PeftModel:
    """Wrap ``model`` with a PEFT adapter; only the adapter and the classification head train."""
    _check_bert(model)
    return get_peft_model(model, peft_config(method, total_steps))


def saved_size(model: torch.nn.Module) -> int:
    """Bytes that ``save_pretrained`` writes: the adapter alone for a PEFT model, everything otherwise.

    AdaLoRA prunes some matrices to rank 0; peft then warns that zero-sized LoRA tensors look like unsharded
    DeepSpeed/FSDP weights. Here they are simply pruned, so that one warning is silenced.
    """
    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*LoRA tensor\(s\) have invalid shape")
        model.save_pretrained(folder)
        return sum(path.stat().st_size for path in Path(folder).rglob("*") if path.is_file())
