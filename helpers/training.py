"""Training set-up written once: optimizer parameter groups, mixed precision, ``TrainingArguments``, parameter counts.

Every training path of the course (lesson 02's hand-written loop, :func:`helpers.classification.train_classifier`,
:func:`helpers.pretraining.pretrain`, layer-wise learning rates, and every ``Trainer``) takes these from here, so
two runs that a lesson compares are regularised and sized the same way.

* :func:`adamw_parameter_groups`: weight decay on weight matrices only. Biases and LayerNorm scales are 1-D;
  shrinking them towards zero has no regularising meaning (a LayerNorm scale of 0 switches a feature off), so
  BERT, GPT-2 and ``Trainer`` all leave them out. The rule "decay a parameter iff it has 2 or more dimensions"
  says exactly that for BERT and GPT-2.
* :class:`MixedPrecision`: ``torch.autocast`` for the profile's precision, plus a gradient scaler for fp16
  (fp16's narrow exponent range underflows small gradients; bf16 has fp32's range and needs none).
* :func:`training_arguments`: ``TrainingArguments`` sized by a profile (batch sizes, epochs, device, precision).
* :func:`count_parameters`: ``(trainable, total)`` parameter counts.
"""

from __future__ import annotations

import contextlib
import tempfile
from typing import Iterable

import torch
from transformers import TrainingArguments

from .profiles import Profile


def count_parameters(model: torch.nn.Module) -> tuple[int, int]:
    """``(trainable, total)`` numbers of parameter elements; trainable ones have ``requires_grad=True``."""
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"count_parameters expects a torch.nn.Module, got {type(model).__name__}")
    total = sum(p.numel() for p in model.parameters())
    return sum(p.numel() for p in model.parameters() if p.requires_grad), total


def decays(parameter: torch.nn.Parameter) -> bool:
    """Whether weight decay applies: weight matrices and embeddings yes, biases and LayerNorm parameters no."""
    return parameter.ndim >= 2


def adamw_parameter_groups(
    parameters: torch.nn.Module | Iterable[torch.nn.Parameter], weight_decay: float, lr: float | None = None
) -> list[dict]:
    """AdamW groups: trainable matrices with ``weight_decay``, trainable 1-D parameters without.

    ``parameters`` is a module or an iterable of parameters; frozen ones are left out. ``lr`` (optional) sets a
    learning rate for both groups (layer-wise learning rates build one pair of groups per layer). Empty groups
    are dropped.
    """
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
    params = parameters.parameters() if isinstance(parameters, torch.nn.Module) else parameters
    trainable = [p for p in params if p.requires_grad]
    groups = [
        {"params": [p for p in trainable if decays(p)], "weight_decay": weight_decay},
        {"params": [p for p in trainable if not decays(p)], "weight_decay": 0.0},
    ]
    if lr is not None:
        for group in groups:
            group["lr"] = lr
    return [group for group in groups if group["params"]]


class MixedPrecision:
    """Autocast and (for fp16) gradient scaling for a hand-written loop, from a profile's ``mixed_precision``.

    On the CPU, or with ``mixed_precision=None``, both are no-ops and the loop runs in fp32::

        precision = MixedPrecision(profile.mixed_precision, device)
        with precision.autocast():
            loss = model(**batch).loss
        precision.step(loss, optimizer, model.parameters(), max_grad_norm=1.0)
    """

    def __init__(self, mixed_precision: str | None, device: torch.device | str):
        if mixed_precision not in (None, "fp16", "bf16"):
            raise ValueError(f"mixed_precision must be None, 'fp16' or 'bf16', got {mixed_precision!r}")
        self.device = torch.device(device)
        self.enabled = mixed_precision is not None and self.device.type == "cuda"
        self.dtype = torch.bfloat16 if mixed_precision == "bf16" else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.enabled and mixed_precision == "fp16")

    def autocast(self) -> contextlib.AbstractContextManager:
        """Run the forward pass (and loss) under autocast; a no-op when disabled."""
        if not self.enabled:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)

    def step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer, parameters: Iterable[torch.nn.Parameter],
             max_grad_norm: float | None = 1.0, backward: bool = True, zero_grad: bool = True) -> None:
        """Backward (scaled for fp16), clip the true gradient norm, optimizer step, then zero the gradients
        (``zero_grad=False`` keeps them for a hook that reads them after the step, e.g. AdaLoRA's rank allocator)."""
        if backward:
            self.scaler.scale(loss).backward()
        self.scaler.unscale_(optimizer)  # clip what the gradients really are, not their scaled version
        if max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(list(parameters), max_grad_norm)
        self.scaler.step(optimizer)
        self.scaler.update()
        if zero_grad:
            optimizer.zero_grad(set_to_none=True)

    def backward(self, loss: torch.Tensor) -> None:
        """Backward only (scaled for fp16): for a second loss before :meth:`step` with ``backward=False``."""
        self.scaler.scale(loss).backward()


def training_arguments(profile: Profile, output_dir: str | None = None, **overrides) -> TrainingArguments:
    """``TrainingArguments`` for a profile: its batch sizes, epochs, device and mixed precision.

    Everything else is ``Trainer``'s default except: weight decay 0.01 (biases and LayerNorm excluded by
    ``Trainer`` itself, the same rule as :func:`adamw_parameter_groups`), no reporting to external services,
    seed 0, and a fresh temporary ``output_dir`` unless one is given. ``overrides`` win over all of these.
    """
    settings = dict(
        output_dir=output_dir or tempfile.mkdtemp(prefix="course-trainer-"),
        num_train_epochs=profile.epochs,
        per_device_train_batch_size=profile.batch_size,
        per_device_eval_batch_size=profile.eval_batch_size,
        weight_decay=0.01,
        report_to="none",
        seed=0,
        use_cpu=profile.name != "gpu",
        fp16=profile.mixed_precision == "fp16",
        bf16=profile.mixed_precision == "bf16",
    )
    settings.update(overrides)
    return TrainingArguments(**settings)
