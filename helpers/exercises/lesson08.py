"""Lesson 08 exercises: size on disk, the distillation loss, request validation, what a removed head saves."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import torch

from .core import ExerciseFailed, call_answer, expect_callable, register


def _weights_cases() -> dict[str, dict[str, torch.Tensor]]:
    generator = torch.Generator().manual_seed(0)
    big = torch.randn(512, 256, generator=generator)
    return {
        "fp32": {"dense.weight": big, "dense.bias": torch.zeros(512)},
        "fp16": {"dense.weight": big.half(), "dense.bias": torch.zeros(512, dtype=torch.float16)},
        "int8": {"dense.weight_int8": (big * 20).clamp(-128, 127).to(torch.int8),
                 "dense.weight_scale": torch.tensor([0.05]), "dense.bias": torch.zeros(512)},
    }


def _file_size(tensors: dict[str, torch.Tensor]) -> int:
    from safetensors.torch import save_file

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "weights.safetensors"
        save_file(tensors, str(path))
        return path.stat().st_size


@register("08.1", "size of weights on disk")
def check_size_on_disk(answer: Any) -> str:
    """``answer(tensors)`` -> bytes a safetensors file of these tensors takes (within 1%: the header is small)."""
    expect_callable(answer, "size_on_disk_bytes")
    cases = _weights_cases()
    for name, tensors in cases.items():
        expected = _file_size(tensors)
        got = call_answer(answer, dict(tensors))
        if isinstance(got, bool) or not isinstance(got, (int, float)):
            raise ExerciseFailed(f"return a number of bytes, got {type(got).__name__}.")
        elements = sum(t.numel() for t in tensors.values())
        if got == elements:
            raise ExerciseFailed(f"for the {name} weights you returned {got:,}, the number of elements; the size is "
                                 "elements x bytes per element (tensor.element_size()), plus a small header.")
        if abs(got - expected) > 0.01 * expected:
            hint = ("each element takes tensor.element_size() bytes: 4 for fp32, 2 for fp16, 1 for int8"
                    if name != "fp32" and abs(got - 4 * elements) < 0.01 * 4 * elements else
                    "save them with safetensors.torch.save_file to a temporary folder and read the file's size "
                    "(Path(...).stat().st_size), or add up numel() x element_size()")
            raise ExerciseFailed(f"for the {name} weights you gave {got:,.0f} bytes; the file has {expected:,}: {hint}.")
    return "fp32, fp16 and int8 weights sized right: 4, 2 and 1 byte per element, plus a small header."


@register("08.2", "the distillation loss")
def check_distillation_loss(answer: Any) -> str:
    """``answer(student_logits, teacher_logits, labels, temperature, alpha)`` -> Hinton's loss (see compression)."""
    from ..compression import distillation_loss

    expect_callable(answer, "distillation_loss")
    generator = torch.Generator().manual_seed(1)
    student = torch.randn(8, 3, generator=generator) * 2
    teacher = torch.randn(8, 3, generator=generator) * 3
    labels = torch.randint(0, 3, (8,), generator=generator)
    for temperature, alpha in ((1.0, 1.0), (4.0, 1.0), (2.0, 0.0), (2.0, 0.5), (3.0, 0.7)):
        leaf = student.clone().requires_grad_(True)
        got = call_answer(answer, leaf, teacher.clone(), labels.clone(), temperature, alpha)
        expected = distillation_loss(student, teacher, labels, temperature, alpha)
        if not isinstance(got, torch.Tensor) or got.numel() != 1:
            raise ExerciseFailed(f"return the loss as a one-element tensor (a scalar), got "
                                 f"{type(got).__name__}{'' if not isinstance(got, torch.Tensor) else tuple(got.shape)}.")
        if got.grad_fn is None:
            raise ExerciseFailed("the loss has no gradient: compute it with torch operations on the student's logits "
                                 "(no .item(), .detach() or NumPy on them).")
        if torch.allclose(got.float(), expected, atol=1e-5):
            continue
        where = (f"with T={temperature:g}, alpha={alpha:g}: you gave {float(got.detach()):.5f}, expected "
                 f"{float(expected):.5f}")
        soft = distillation_loss(student, teacher, None, temperature, 1.0)
        hard = torch.nn.functional.cross_entropy(student, labels)
        reverse = torch.nn.functional.kl_div(torch.log_softmax(teacher / temperature, -1),
                                             torch.log_softmax(student / temperature, -1), log_target=True,
                                             reduction="batchmean") * temperature**2
        if alpha > 0 and torch.allclose(got, alpha * soft / temperature**2 + (1 - alpha) * hard, atol=1e-5):
            raise ExerciseFailed(f"{where}. Multiply the KL term by T² (temperature squared): softening divides its "
                                 "gradients by T², and T² puts them back on the scale of the label loss.")
        if alpha > 0 and torch.allclose(got, alpha * reverse + (1 - alpha) * hard, atol=1e-5):
            raise ExerciseFailed(f"{where}. The KL runs the wrong way: it is KL(teacher || student); in F.kl_div the "
                                 "first argument is the student's log-probabilities, the second the teacher's.")
        if alpha > 0 and torch.allclose(got, alpha * soft / 3 + (1 - alpha) * hard, atol=1e-5):
            raise ExerciseFailed(f"{where}. Average the KL over the batch (reduction='batchmean'), not over every "
                                 "element ('mean' also divides by the number of classes).")
        if torch.allclose(got, (1 - alpha) * soft + alpha * hard, atol=1e-5):
            raise ExerciseFailed(f"{where}. alpha weighs the soft (teacher) term and 1 - alpha the label term; you "
                                 "swapped them.")
        raise ExerciseFailed(f"{where}. Divide both logits by T before the softmax, take "
                             "KL(teacher_T || student_T) x T², and mix it with the cross-entropy on the labels.")
    return "matches alpha·T²·KL(teacher_T‖student_T) + (1-alpha)·CE at five temperature/alpha settings."


_GOOD_PAYLOADS = [
    ({"texts": ["物流很快。", "太差了"]}, ["物流很快。", "太差了"]),
    ({"text": "还不错"}, ["还不错"]),
    ({"texts": ["好" * 20]}, ["好" * 20]),
    ({"texts": ["a"] * 4}, ["a"] * 4),
]
_BAD_PAYLOADS = [
    ({"texts": []}, "an empty list of texts"),
    ({"texts": ["好", 3]}, "a number among the texts"),
    ({"texts": [None]}, "null as a text"),
    ({"text": ""}, "an empty text"),
    ({"texts": ["   "]}, "a text of only spaces"),
    ({"texts": "好评"}, '"texts" as a string instead of a list'),
    ({"texts": ["好"] * 5}, "5 texts when the limit is 4"),
    ({"text": "好" * 21}, "a 21-character text when the limit is 20"),
    ({}, "neither text nor texts"),
    ({"review": "好"}, "an unknown field"),
    (["好"], "a JSON array instead of an object"),
    ("好", "a bare string instead of an object"),
    (None, "null instead of an object"),
]


@register("08.3", "validating a request")
def check_validate_texts(answer: Any) -> str:
    """``answer(payload, max_texts, max_chars)`` -> list of texts, or ``ValueError`` for anything else."""
    expect_callable(answer, "validate_texts")
    for payload, expected in _GOOD_PAYLOADS:
        got = call_answer(answer, payload, 4, 20)
        if got != expected:
            raise ExerciseFailed(f"for {payload!r} return {expected!r}, got {got!r}.")
    for payload, what in _BAD_PAYLOADS:
        try:
            got = answer(payload, 4, 20)
        except NotImplementedError:
            raise
        except ValueError as error:
            if not str(error).strip():
                raise ExerciseFailed(f"for {what} you raised ValueError without a message: say what is wrong and what "
                                     "to send instead (the client reads it).") from None
            continue
        except Exception as error:  # noqa: BLE001 - any other exception is the learner's bug
            raise ExerciseFailed(f"for {what} ({payload!r}) you raised {type(error).__name__}: {error}. Check the input "
                                 "and raise ValueError yourself: any other exception reaching the service becomes a "
                                 "500 error instead of a 4xx that tells the client what to fix.") from None
        raise ExerciseFailed(f"for {what} ({payload!r}) you returned {got!r}; raise ValueError with a message instead.")
    return f"accepts {len(_GOOD_PAYLOADS)} good requests and rejects {len(_BAD_PAYLOADS)} bad ones with ValueError."


def _removed_by_one_head(hidden_size: int, head_size: int) -> int:
    from transformers import BertConfig, BertForSequenceClassification

    from ..compression import remove_heads

    config = BertConfig(vocab_size=50, hidden_size=hidden_size, num_attention_heads=hidden_size // head_size,
                        intermediate_size=2 * hidden_size, num_hidden_layers=1, max_position_embeddings=16)
    model = BertForSequenceClassification(config)
    before = sum(p.numel() for p in model.parameters())
    remove_heads(model, {0: [0]})
    return before - sum(p.numel() for p in model.parameters())


@register("08.4", "parameters saved by removing one head")
def check_head_parameters(answer: Any) -> str:
    """``answer(hidden_size, head_size)`` -> parameters removed with one attention head (counted on a real model)."""
    expect_callable(answer, "head_parameters")
    for hidden_size, head_size in ((256, 64), (32, 16), (768, 64)):
        expected = _removed_by_one_head(hidden_size, head_size)
        got = call_answer(answer, hidden_size, head_size)
        if got == expected:
            continue
        qkv = 3 * (hidden_size * head_size + head_size)
        if got == 3 * hidden_size * head_size + hidden_size * head_size:
            hint = "you left out the biases: query, key and value each lose head_size bias entries too"
        elif got == qkv:
            hint = "you left out the output projection: it loses the head's head_size input columns (hidden x head_size)"
        elif got == 3 * hidden_size * head_size:
            hint = "count the biases of query, key and value and the output projection's columns as well"
        else:
            hint = "the head owns head_size rows (and biases) of query, key and value, and head_size columns of the output"
        raise ExerciseFailed(f"for hidden {hidden_size}, head size {head_size} you said {got}, removing a head from a "
                             f"real BertForSequenceClassification frees {expected}: {hint}.")
    return "matches the parameters freed by removing a head from real models (hidden 32, 256, 768)."
