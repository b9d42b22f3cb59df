"""Lesson 08 exercises: size on disk, the distillation loss, request validation, what a removed head saves.

Every checker runs fixed cases first (each one separates a usual wrong idea from the right one, so the message
names that idea), then random cases drawn from ``seed``.
"""

from __future__ import annotations

import copy
import math
import random as _random
from functools import lru_cache
from typing import Any

import torch

from .core import (ExerciseFailed, NotAttempted, _is_stub_error, as_number, call_answer, describe, expect_callable,
                   register, rng, short, torch_generator)

# ------------------------------------------------------------------ 08.1


def _fixed_weights() -> list[tuple[str, dict[str, torch.Tensor]]]:
    generator = torch.Generator().manual_seed(0)
    big = torch.randn(512, 256, generator=generator)
    return [
        ("fp32", {"dense.weight": big, "dense.bias": torch.zeros(512)}),
        ("fp16", {"dense.weight": big.half(), "dense.bias": torch.zeros(512, dtype=torch.float16)}),
        ("int8", {"dense.weight_int8": (big * 20).clamp(-128, 127).to(torch.int8),
                  "dense.weight_scale": torch.tensor([0.05]), "dense.bias": torch.zeros(512)}),
        ("bf16 + int64", {"embeddings.weight": big[:300, :128].to(torch.bfloat16),
                          "embeddings.position_ids": torch.arange(512)}),
        ("fp32 scalar + fp16", {"logit_scale": torch.tensor(2.5), "head.weight": big[:64].half()}),
    ]


_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.int8, torch.int64)


def _random_weights(seed: int, count: int = 6) -> list[tuple[str, dict[str, torch.Tensor]]]:
    """Dicts of 1-4 contiguous tensors of random dtypes and shapes (0-d to 3-d, up to ~40k elements)."""
    random = rng(seed, "08.1")
    generator = torch_generator(seed, "08.1")
    cases = []
    for number in range(count):
        tensors = {}
        for index in range(random.randint(1, 4)):
            dtype = random.choice(_DTYPES)
            shape = tuple(random.choice((1, 3, 8, 17, 64, 100, 128, 200)) for _ in range(random.randint(0, 3)))
            if dtype.is_floating_point:
                tensor = torch.randn(shape, generator=generator).to(dtype)
            else:
                tensor = torch.randint(-100, 100, shape, generator=generator).to(dtype)
            tensors[f"layer.{index}.{random.choice(('weight', 'bias', 'scale'))}"] = tensor
        dtypes = ", ".join(sorted({str(t.dtype).removeprefix("torch.") for t in tensors.values()}))
        cases.append((f"random set {number + 1} ({dtypes})", tensors))
    return cases


def _show(number: float) -> str:
    """A number as the learner gave it: whole numbers with thousands separators, others with 4 significant digits."""
    return f"{number:,.0f}" if float(number).is_integer() else f"{number:,.4g}"


def _file_size(tensors: dict[str, torch.Tensor]) -> int:
    from safetensors.torch import save

    return len(save(tensors))


def _payload(tensors: dict[str, torch.Tensor]) -> int:
    return sum(t.numel() * t.element_size() for t in tensors.values())


@register("08.1", "size of weights on disk")
def check_size_on_disk(answer: Any, seed: int = 0) -> str:
    """``answer(tensors)`` -> bytes a safetensors file of these tensors (a dict of name -> tensor) takes.

    Edge cases: fp32, fp16 and int8 weights (4, 2 and 1 byte per element), int8 weights with an fp32 scale and
    bias beside them (every tensor of the dict counts, whatever its dtype), bf16 weights with an int64 buffer
    (2 and 8 bytes), a 0-d fp32 scalar beside fp16 weights. Plus 6 random dicts of 1-4 tensors of random dtypes
    (fp32, fp16, bf16, int8, int64) and shapes (0-d to 3-d).
    Wrong ideas told apart: the number of elements, 4 bytes for every dtype, bits instead of bytes, kilobytes or
    megabytes instead of bytes, only one tensor of the dict counted, a string instead of a number.
    Accepted: any number type (int, float, NumPy, one-element tensor) from the tensors' payload (numel x
    element_size, without the header) up to the real file's size, each end with 1% to spare: the JSON header
    of a safetensors file is small, so writing the file and adding up the tensors both pass.
    """
    expect_callable(answer, "size_on_disk_bytes")
    cases = _fixed_weights() + _random_weights(seed)
    for name, tensors in cases:
        expected, payload = _file_size(tensors), _payload(tensors)
        got = as_number(call_answer(answer, dict(tensors)), f"for the {name} weights, the size you returned")
        if payload - 0.01 * expected <= got <= 1.01 * expected:
            continue
        elements = sum(t.numel() for t in tensors.values())
        sizes = [t.numel() * t.element_size() for t in tensors.values()]

        def near(value: float) -> bool:
            return abs(got - value) <= 0.01 * max(value, 1)

        if len(sizes) > 1 and got in sizes:
            hint = ("you counted only one tensor of the dict: add up every tensor (scales, biases and buffers "
                    "included), each with its own dtype")
        elif near(elements):
            hint = ("that is the number of elements; the size is elements x bytes per element "
                    "(tensor.element_size()), plus a small header")
        elif near(4 * elements):
            hint = ("you counted 4 bytes for every element; each element takes tensor.element_size() bytes: 4 for "
                    "fp32, 2 for fp16 and bf16, 1 for int8, 8 for int64")
        elif near(8 * payload) or near(8 * expected):
            hint = "that is the size in BITS; return bytes (8 bits each)"
        elif any(near(payload / unit) or near(expected / unit) for unit in (1000, 1024, 1e6, 2**20)):
            hint = "return the size in bytes, not kilobytes or megabytes"
        else:
            hint = ("save them with safetensors.torch.save_file to a temporary folder and read the file's size "
                    "(Path(...).stat().st_size), or add up numel() x element_size() over the tensors")
        raise ExerciseFailed(f"for the {name} weights you gave {_show(got)} bytes; the file has {expected:,} "
                             f"({elements:,} elements): {hint}.")
    return (f"{len(cases)} sets of weights sized right: 4, 2, 2, 1 and 8 bytes per fp32, fp16, bf16, int8 and int64 "
            "element, plus a small header.")


# ------------------------------------------------------------------ 08.2
# (batch, classes, temperature, alpha): T = 1 (T² changes nothing), alpha = 1 (soft term only), alpha = 0 (labels
# only, T changes nothing), a batch of one (batchmean = sum), two classes, many classes, T < 1.
_DISTILLATION_CASES = ((8, 3, 1.0, 1.0), (8, 3, 4.0, 1.0), (8, 3, 2.0, 0.0), (8, 3, 2.0, 0.5), (8, 3, 3.0, 0.7),
                       (1, 2, 2.0, 0.3), (5, 10, 0.5, 0.8), (4, 6, 6.0, 0.25))


def _distillation_inputs(random: _random.Random, generator: torch.Generator, batch: int, classes: int):
    student = torch.randn(batch, classes, generator=generator) * random.uniform(0.5, 3.0)
    teacher = torch.randn(batch, classes, generator=generator) * random.uniform(0.5, 4.0)
    labels = torch.randint(0, classes, (batch,), generator=generator)
    return student, teacher, labels


def _as_loss(got: Any, where: str) -> float:
    if not isinstance(got, torch.Tensor) or got.numel() != 1:
        raise ExerciseFailed(f"{where} you returned {describe(got)}; return the loss as a one-element tensor (a "
                             "scalar), so that loss.backward() works.")
    if not got.dtype.is_floating_point:
        raise ExerciseFailed(f"{where} you returned {describe(got)}; the loss is a floating-point tensor.")
    if got.grad_fn is None:
        raise ExerciseFailed(f"{where} the loss has no gradient: compute it with torch operations on the student's "
                             "logits (no .item(), .detach(), torch.tensor(...) or NumPy on them).")
    value = float(got.detach().double())
    if math.isnan(value):
        raise ExerciseFailed(f"{where} the loss is NaN: look for a log of 0 (use log_softmax, not log(softmax)).")
    return value


@register("08.2", "the distillation loss")
def check_distillation_loss(answer: Any, seed: int = 0) -> str:
    """``answer(student_logits, teacher_logits, labels, temperature, alpha)`` -> Hinton's loss, as a tensor:
    ``alpha * T² * KL(softmax(teacher/T) || softmax(student/T)) + (1 - alpha) * CE(student, labels)``, the KL
    averaged over the batch (``helpers.compression.distillation_loss`` is the reference).

    Edge cases: T = 1 (T² changes nothing), alpha = 1 (the soft term only), alpha = 0 (the labels only), a batch
    of one example (so 'batchmean' and 'sum' agree), two classes, ten classes, T < 1, T = 6. Plus 12 random
    set-ups (batch 1-16, 2-12 classes, T 0.5-8, alpha 0-1, logits of random scales and labels).
    Wrong ideas told apart: no T² on the KL term, the KL the wrong way round (KL(student || teacher)),
    reduction='mean' (also divides by the classes) or 'sum' instead of 'batchmean', alpha and 1 - alpha swapped,
    the teacher (or the student) not divided by T, the cross-entropy on the softened student logits, a Python
    float or a tensor without gradient, a tensor of several numbers.
    Accepted: a one-element tensor (0-d or of shape (1,)) of any floating dtype that carries the gradient, within
    1e-4 relative (1e-5 absolute) of the reference.
    """
    import torch.nn.functional as F

    from ..compression import distillation_loss

    expect_callable(answer, "distillation_loss")
    random = rng(seed, "08.2")
    generator = torch_generator(seed, "08.2")
    cases = list(_DISTILLATION_CASES)
    for _ in range(12):
        alpha = random.choice((0.0, 1.0, round(random.random(), 2), round(random.random(), 2)))
        cases.append((random.randint(1, 16), random.randint(2, 12), round(random.uniform(0.5, 8.0), 2), alpha))
    for batch, classes, temperature, alpha in cases:
        student, teacher, labels = _distillation_inputs(random, generator, batch, classes)
        where = f"with {batch} example(s) of {classes} classes, T={temperature:g}, alpha={alpha:g},"
        leaf = student.clone().requires_grad_(True)
        got = _as_loss(call_answer(answer, leaf, teacher.clone(), labels.clone(), temperature, alpha), where)
        expected = float(distillation_loss(student.double(), teacher.double(), labels, temperature, alpha))

        def near(value: Any) -> bool:
            return math.isclose(got, float(value), rel_tol=1e-4, abs_tol=1e-5)

        if near(expected):
            continue
        student64, teacher64, t = student.double(), teacher.double(), temperature
        kl = F.kl_div(F.log_softmax(student64 / t, -1), F.log_softmax(teacher64 / t, -1), log_target=True,
                      reduction="batchmean")
        soft = kl * t**2
        hard = F.cross_entropy(student64, labels)
        reverse = F.kl_div(F.log_softmax(teacher64 / t, -1), F.log_softmax(student64 / t, -1), log_target=True,
                           reduction="batchmean") * t**2
        teacher_raw = F.kl_div(F.log_softmax(student64 / t, -1), F.log_softmax(teacher64, -1), log_target=True,
                               reduction="batchmean") * t**2
        student_raw = F.kl_div(F.log_softmax(student64, -1), F.log_softmax(teacher64 / t, -1), log_target=True,
                               reduction="batchmean") * t**2
        soft_hard = F.cross_entropy(student64 / t, labels)
        shown = f"{where} you gave {got:.5f}, expected {expected:.5f}."
        if alpha > 0 and near(alpha * kl + (1 - alpha) * hard):
            hint = ("Multiply the KL term by T² (temperature squared): softening divides its gradients by T², and "
                    "T² puts them back on the scale of the label loss.")
        elif alpha > 0 and near(alpha * reverse + (1 - alpha) * hard):
            hint = ("The KL runs the wrong way: it is KL(teacher || student); in F.kl_div the first argument is the "
                    "student's log-probabilities, the second the teacher's.")
        elif alpha > 0 and near(alpha * soft / classes + (1 - alpha) * hard):
            hint = ("Average the KL over the batch (reduction='batchmean'), not over every element ('mean' also "
                    "divides by the number of classes).")
        elif alpha > 0 and near(alpha * soft * batch + (1 - alpha) * hard):
            hint = "Average the KL over the batch (reduction='batchmean'); 'sum' adds it up over the examples."
        elif near((1 - alpha) * soft + alpha * hard):
            hint = "alpha weighs the soft (teacher) term and 1 - alpha the label term; you swapped them."
        elif alpha < 1 and near(alpha * soft + (1 - alpha) * soft_hard):
            hint = ("The label term is the cross-entropy of the student's RAW logits (T = 1); only the soft term "
                    "divides by T.")
        elif alpha > 0 and near(alpha * teacher_raw + (1 - alpha) * hard):
            hint = "Soften the teacher too: divide BOTH logits by T before the (log-)softmax."
        elif alpha > 0 and near(alpha * student_raw + (1 - alpha) * hard):
            hint = "Soften the student too: divide BOTH logits by T before the (log-)softmax."
        else:
            hint = ("Divide both logits by T before the softmax, take KL(teacher_T || student_T) x T², and mix it "
                    "with the cross-entropy on the labels: alpha x soft + (1 - alpha) x hard.")
        raise ExerciseFailed(f"{shown} {hint}")
    return (f"matches alpha·T²·KL(teacher_T‖student_T) + (1-alpha)·CE in {len(cases)} set-ups (T = 1, alpha = 0 "
            "and 1, one example, 2 to 12 classes).")


# ------------------------------------------------------------------ 08.3
# (payload, max_texts, max_chars, expected texts)
_GOOD_PAYLOADS = [
    ({"texts": ["物流很快。", "太差了"]}, 4, 20, ["物流很快。", "太差了"]),
    ({"text": "还不错"}, 4, 20, ["还不错"]),
    ({"texts": ["好" * 20]}, 4, 20, ["好" * 20]),  # exactly max_chars: the limit is inclusive
    ({"texts": ["a"] * 4}, 4, 20, ["a"] * 4),  # exactly max_texts
    ({"texts": ["  还行 "]}, 4, 20, ["  还行 "]),  # spaces around a real text: not blank, returned as sent
    ({"texts": ["好评"] * 6}, 8, 3, ["好评"] * 6),  # other limits than the lesson's
]
# (payload, max_texts, max_chars, what is wrong with it)
_BAD_PAYLOADS = [
    ({"texts": []}, 4, 20, "an empty list of texts"),
    ({"texts": ["好", 3]}, 4, 20, "a number among the texts"),
    ({"texts": [None]}, 4, 20, "null as a text"),
    ({"text": ""}, 4, 20, "an empty text"),
    ({"texts": ["   "]}, 4, 20, "a text of only spaces"),
    ({"text": "\u3000\t\n"}, 4, 20, "a text of only whitespace (a full-width space, a tab, a newline)"),
    ({"texts": "好评"}, 4, 20, '"texts" as a string instead of a list'),
    ({"text": ["好评"]}, 4, 20, '"text" holding a list instead of a string'),
    ({"text": "好", "texts": ["好"]}, 4, 20, 'both "text" and "texts"'),
    ({"texts": ["好"] * 5}, 4, 20, "5 texts when the limit is 4"),
    ({"text": "好" * 21}, 4, 20, "a 21-character text when the limit is 20"),
    ({"text": "好好好"}, 2, 2, "a 3-character text when the limit is 2"),
    ({}, 4, 20, "neither text nor texts"),
    ({"review": "好"}, 4, 20, "an unknown field"),
    ({"texts": ["好"], "lang": "zh"}, 4, 20, "an unknown field beside texts"),
    (["好"], 4, 20, "a JSON array instead of an object"),
    ("好", 4, 20, "a bare string instead of an object"),
    (None, 4, 20, "null instead of an object"),
]
_CHARS = "好差很服务质量物流快还行不错a1!？。 "
_BLANKS = " \t\n\u3000"
_NOT_TEXTS = (3, 2.5, None, True, ["好"], {"text": "好"})


def _random_text(random: _random.Random, length: int) -> str:
    """``length`` characters, spaces only inside (never blank)."""
    inner = "".join(random.choice(_CHARS) for _ in range(max(0, length - 2)))
    ends = "".join(random.choice(_CHARS.strip()) for _ in range(min(length, 2)))
    return ends[:1] + inner + ends[1:]


def _random_payloads(seed: int) -> tuple[list, list]:
    """12 good requests and 12 bad ones (each a good one spoiled in one way), with random limits."""
    random = rng(seed, "08.3")
    good, bad = [], []
    for _ in range(12):
        max_texts, max_chars = random.randint(1, 8), random.randint(1, 30)
        texts = [_random_text(random, random.choice((random.randint(1, max_chars), max_chars)))
                 for _ in range(random.choice((random.randint(1, max_texts), max_texts)))]
        payload = {"text": texts[0]} if len(texts) == 1 and random.random() < 0.5 else {"texts": list(texts)}
        good.append((payload, max_texts, max_chars, texts))
        kind = random.randrange(6)
        spoiled = copy.deepcopy(payload)
        where = random.randrange(len(texts))
        if kind == 0:
            spoiled = {"texts": texts + [_random_text(random, 1)] * random.randint(max_texts + 1 - len(texts),
                                                                                   max_texts + 3 - len(texts))}
            what = f"{len(spoiled['texts'])} texts when the limit is {max_texts}"
        elif kind == 1:
            long = _random_text(random, max_chars + random.randint(1, 5))
            what = f"a {len(long)}-character text when the limit is {max_chars}"
            spoiled = {"text": long} if "text" in payload else {"texts": texts[:where] + [long] + texts[where + 1:]}
        elif kind == 2:
            blank = "".join(random.choice(_BLANKS) for _ in range(random.randint(0, 3)))
            what = f"a blank text {blank!r}"
            spoiled = {"text": blank} if "text" in payload else {"texts": texts[:where] + [blank] + texts[where + 1:]}
        elif kind == 3:
            value = random.choice(_NOT_TEXTS)
            what = f"{value!r} ({type(value).__name__}) as a text"
            spoiled = {"text": value} if "text" in payload else {"texts": texts[:where] + [value] + texts[where + 1:]}
        elif kind == 4:
            spoiled[random.choice(("lang", "model", "id", "Texts"))] = "zh"
            what = "an unknown field"
        else:
            spoiled, kind_name = random.choice((([texts], "array"), (texts[0], "string"), (len(texts), "number"),
                                                (None, "null")))
            what = f"a JSON {kind_name} instead of an object"
        bad.append((spoiled, max_texts, max_chars, what))
    return good, bad


def _call_validate(answer: Any, payload: Any, max_texts: int, max_chars: int) -> tuple[Any, ValueError | None]:
    """(result, None), or (None, the ValueError raised); any other exception is the learner's bug (a 500)."""
    try:
        return answer(copy.deepcopy(payload), max_texts, max_chars), None
    except NotImplementedError as error:
        if _is_stub_error(error):
            raise NotAttempted(str(error)) from None
        raise ExerciseFailed(_five_hundred(payload, max_texts, max_chars, error)) from None
    except (ExerciseFailed, NotAttempted):
        raise
    except ValueError as error:
        return None, error
    except Exception as error:  # noqa: BLE001 - any other exception is the learner's bug
        raise ExerciseFailed(_five_hundred(payload, max_texts, max_chars, error)) from None


def _five_hundred(payload: Any, max_texts: int, max_chars: int, error: BaseException) -> str:
    return (f"for {short(payload)} (max_texts={max_texts}, max_chars={max_chars}) you raised {type(error).__name__}: "
            f"{error}. Check the input and raise ValueError yourself: any other exception reaching the service "
            "becomes a 500 error instead of a 4xx that tells the client what to fix.")


def _same_texts(got: Any, expected: list[str]) -> bool:
    """``got`` is a list or tuple of exactly the ``expected`` strings, in order."""
    return (isinstance(got, (list, tuple)) and len(got) == len(expected)
            and all(isinstance(a, str) and a == b for a, b in zip(got, expected)))


@register("08.3", "validating a request")
def check_validate_texts(answer: Any, seed: int = 0) -> str:
    """``answer(payload, max_texts, max_chars)`` -> the list of texts, or ``ValueError`` (with a message) otherwise.

    Good requests: ``{"text": str}`` or ``{"texts": [str, ...]}`` with 1 to ``max_texts`` texts, each non-blank
    and at most ``max_chars`` characters. Edge cases: exactly ``max_texts`` texts and a text of exactly
    ``max_chars`` characters (the limits are inclusive), a text with spaces around it (returned as sent), limits
    other than the lesson's; bad: an empty list, a number or null among the texts, an empty text, texts of only
    spaces or of other whitespace (full-width space, tab, newline), ``"texts"`` as a string, ``"text"`` holding a
    list, both fields, too many texts, a text too long, no field, unknown fields (alone or beside ``texts``), a
    JSON array, string or null instead of an object. Plus 12 random good requests with random limits, and 12
    bad ones, each a good one spoiled in one way.
    Wrong ideas told apart: no type check (``.strip()`` on a number raises AttributeError: a 500 for the client),
    no blank check, blanks tested with ``strip(" ")`` only, limits off by one (``>=``), limits fixed at the
    lesson's values instead of the arguments, ``"text"`` allowed to hold a list, both fields accepted, a
    ValueError without a message, the payload returned as it came.
    Accepted: a list or tuple of the texts, in order; any ValueError subclass with a message for a bad request.
    """
    expect_callable(answer, "validate_texts")
    random_good, random_bad = _random_payloads(seed)
    good, bad = _GOOD_PAYLOADS + random_good, _BAD_PAYLOADS + random_bad
    for payload, max_texts, max_chars, expected in good:
        limits = f"max_texts={max_texts}, max_chars={max_chars}"
        got, error = _call_validate(answer, payload, max_texts, max_chars)
        if error is not None:
            wider, wider_error = _call_validate(answer, payload, max_texts + 1, max_chars + 1)
            if wider_error is None and _same_texts(wider, expected):
                hint = (f"the limits are inclusive: {max_texts} text(s) and {max_chars} character(s) per text are "
                        "allowed (use >, not >=)")
            elif "text" in payload and _call_validate(answer, {"texts": expected}, max_texts, max_chars)[1] is None:
                hint = 'a single review comes as {"text": "..."}: accept it and return [text]'
            else:
                hint = "use the limits passed as arguments, and reject only what breaks them"
            raise ExerciseFailed(f"{short(payload)} ({limits}) is a valid request, but you raised ValueError: "
                                 f"{error}. {hint[0].upper()}{hint[1:]}.")
        if not _same_texts(got, expected):
            raise ExerciseFailed(f"for {short(payload)} ({limits}) return the texts {short(expected)}, got "
                                 f"{short(got)}.")
    for payload, max_texts, max_chars, what in bad:
        got, error = _call_validate(answer, payload, max_texts, max_chars)
        if error is None:
            raise ExerciseFailed(f"for {what} ({short(payload)}, max_texts={max_texts}, max_chars={max_chars}) you "
                                 f"returned {short(got)}; raise ValueError with a message instead.")
        if not str(error).strip():
            raise ExerciseFailed(f"for {what} you raised ValueError without a message: say what is wrong and what "
                                 "to send instead (the client reads it).")
    return f"accepts {len(good)} good requests and rejects {len(bad)} bad ones with a ValueError that says why."


# ------------------------------------------------------------------ 08.4
# (hidden_size, head_size): the lesson's model, tiny and BERT-base sizes, head size 1 (weights = biases), two heads,
# odd sizes.
_HEAD_CASES = ((256, 64), (32, 16), (768, 64), (128, 1), (64, 32), (21, 7))


@lru_cache(maxsize=256)
def _removed_by_one_head(hidden_size: int, head_size: int) -> int:
    """Parameters that ``remove_heads`` frees in a real (meta-device, so instant) BertForSequenceClassification."""
    from transformers import BertConfig, BertForSequenceClassification

    from ..compression import remove_heads

    config = BertConfig(vocab_size=50, hidden_size=hidden_size, num_attention_heads=hidden_size // head_size,
                        intermediate_size=2 * hidden_size, num_hidden_layers=1, max_position_embeddings=16)
    with torch.device("meta"):  # shapes only: no memory, no initialisation
        model = BertForSequenceClassification(config)
    before = sum(p.numel() for p in model.parameters())
    remove_heads(model, {0: [0]})
    return before - sum(p.numel() for p in model.parameters())


def _head_formula(hidden_size: int, head_size: int) -> int:
    return 3 * (hidden_size * head_size + head_size) + hidden_size * head_size


@register("08.4", "parameters saved by removing one head")
def check_head_parameters(answer: Any, seed: int = 0) -> str:
    """``answer(hidden_size, head_size)`` -> parameters removed with one attention head, counted on a real model
    (a one-layer BertForSequenceClassification before and after ``helpers.compression.remove_heads``).

    Edge cases: the lesson's model (256, 64), a tiny one (32, 16), BERT-base (768, 64), head size 1 (the weights
    and biases of a head are then the same size), two heads (64, 32), odd sizes (21, 7). Plus 10 random sizes
    (head size 1-128, 2-16 heads).
    Wrong ideas told apart: the biases of query, key and value left out, the output projection left out, only the
    query/key/value weights, the output projection's bias counted (it stays: one entry per output), the
    arguments swapped, the whole attention layer instead of one head, a string instead of a number.
    Accepted: any number type (int, float, NumPy, one-element tensor) equal to the count.
    """
    expect_callable(answer, "head_parameters")
    random = rng(seed, "08.4")
    cases = list(_HEAD_CASES)
    for _ in range(10):
        head_size = random.choice((1, 2, 3, 4, 8, 12, 16, 32, 48, 64, 96, 128))
        cases.append((head_size * random.randint(2, 16), head_size))
    for hidden_size, head_size in cases:
        expected = _removed_by_one_head(hidden_size, head_size)
        got = as_number(call_answer(answer, hidden_size, head_size),
                        f"for hidden {hidden_size}, head size {head_size} the count you returned")
        if got == expected:
            continue
        h, d = hidden_size, head_size
        if got == 4 * h * d:
            hint = "you left out the biases: query, key and value each lose head_size bias entries too"
        elif got == 3 * (h * d + d):
            hint = ("you left out the output projection: it loses the head's head_size input columns "
                    "(hidden_size x head_size)")
        elif got == 3 * h * d:
            hint = "count the biases of query, key and value and the output projection's columns as well"
        elif got in (expected + d, expected + h):
            hint = ("the output projection loses columns (its inputs), not rows: its bias has one entry per output "
                    "and stays")
        elif got == _head_formula(d, h) and h != d:
            hint = "you swapped the arguments: the order is (hidden_size, head_size)"
        elif got in (4 * h * h + 4 * h, 4 * h * h + 3 * h, 4 * h * h):
            hint = "that is the whole attention layer; one head owns only head_size of its hidden_size dimensions"
        else:
            hint = ("the head owns head_size rows (and biases) of query, key and value, and head_size columns of the "
                    "output projection")
        raise ExerciseFailed(f"for hidden {hidden_size}, head size {head_size} you said {_show(got)}; removing a "
                             f"head from a real BertForSequenceClassification frees {expected}: {hint}.")
    hidden = [hidden_size for hidden_size, _ in cases]
    return (f"matches the parameters freed by removing a head from real models of {len(cases)} sizes "
            f"(hidden {min(hidden)} to {max(hidden)}).")
