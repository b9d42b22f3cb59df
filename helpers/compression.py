"""Making a fine-tuned classifier smaller and faster (模型压缩), each method measured the same way.

* :func:`size_on_disk`: bytes of a model's weights written as safetensors (the int8 weights of a quantized model
  as int8 tensors plus their scales, see :func:`int8_tensors`), never pickle.
* :func:`quantize_int8`: dynamic int8 quantization (动态量化) of the ``nn.Linear`` layers:
  ``torch.ao.quantization.quantize_dynamic``. torch 2.13 marks ``torch.ao.quantization`` deprecated in favour of
  ``torchao``'s ``quantize_``; the course keeps the torch built-in because it needs no extra package, runs eagerly
  with fbgemm/oneDNN int8 kernels on any x86 CPU, and is what ONNX Runtime's dynamic quantization mirrors.
  :func:`save_int8` / :func:`load_int8` store and restore it in safetensors.
* :func:`magnitude_prune`: unstructured magnitude pruning (非结构化剪枝) with ``torch.nn.utils.prune``.
* :func:`remove_heads`: structured attention-head pruning (结构化剪枝). transformers 5 removed ``prune_heads``
  from ``PreTrainedModel``; this slices the query/key/value rows and the output projection's columns of the
  removed heads with ``transformers.pytorch_utils.prune_linear_layer``, which is what ``prune_heads`` did.
  :func:`head_importance` ranks heads by how much the validation loss rises when each one alone is removed.
* :func:`distillation_loss`, :func:`student_from_checkpoint`, :func:`train_student`: knowledge distillation
  (知识蒸馏) into a shallower student, and the same student trained on labels only, through the same loop.
* :func:`encode`, :func:`latency_ms`, :func:`latency_table`, :func:`logits_by_length`: the batches, the latency
  measurements (one variant, or many interleaved) and the test-set scoring every variant shares.
"""

from __future__ import annotations

import copy
import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import Callable, Iterable, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from datasets import Dataset, Features, Value, concatenate_datasets
from safetensors.torch import load_file, save_file
from torch.nn.utils import prune
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from transformers import BertForSequenceClassification, DataCollatorWithPadding, PreTrainedTokenizerBase
from transformers import get_linear_schedule_with_warmup
from transformers.trainer_pt_utils import LengthGroupedSampler
from transformers.pytorch_utils import prune_linear_layer

from .classification import FineTuneResult, FineTuneSettings, evaluate_classifier
from .models import load_pretrained
from .timing import Stopwatch, median_seconds
from .training import adamw_parameter_groups

_QUANTIZED_LINEAR = None


def _quantized_linear_class():
    global _QUANTIZED_LINEAR
    if _QUANTIZED_LINEAR is None:
        from torch.ao.nn.quantized.dynamic import Linear

        _QUANTIZED_LINEAR = Linear
    return _QUANTIZED_LINEAR


def _check_module(model) -> None:
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"expected a torch.nn.Module (e.g. a BertForSequenceClassification), got {type(model).__name__}")


# ---------------------------------------------------------------------------------------------- size on disk
def int8_tensors(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Every weight of ``model`` as plain tensors: float tensors as they are, each dynamically quantized Linear
    as ``<name>.weight_int8`` (int8), ``<name>.weight_scale`` / ``<name>.weight_zero_point`` and ``<name>.bias``.

    This is what a safetensors file of the quantized model holds (the packed fbgemm format is an in-memory detail).
    """
    _check_module(model)
    quantized = _quantized_linear_class()
    tensors: dict[str, torch.Tensor] = {}
    quantized_names = set()
    for name, module in model.named_modules():
        if isinstance(module, quantized):
            weight = module.weight()
            if weight.qscheme() not in (torch.per_tensor_affine, torch.per_tensor_symmetric):
                raise ValueError(f"{name}: only per-tensor int8 weights are supported, got {weight.qscheme()}")
            tensors[f"{name}.weight_int8"] = weight.int_repr().contiguous()
            tensors[f"{name}.weight_scale"] = torch.tensor([weight.q_scale()], dtype=torch.float32)
            tensors[f"{name}.weight_zero_point"] = torch.tensor([weight.q_zero_point()], dtype=torch.int32)
            bias = module.bias()
            if bias is not None:
                tensors[f"{name}.bias"] = bias.detach().contiguous()
            quantized_names.add(name)
    seen: dict[int, str] = {}
    for key, value in model.state_dict().items():
        if not isinstance(value, torch.Tensor) or value.is_quantized:
            continue
        if any(key.startswith(name + ".") for name in quantized_names):
            continue  # a quantized layer's output scale / zero point buffers: not weights
        if value.numel() and value.data_ptr() in seen:
            continue  # a tied weight is stored once
        if value.numel():
            seen[value.data_ptr()] = key
        tensors[key] = value.detach().contiguous()
    return tensors


def size_on_disk(model: torch.nn.Module) -> int:
    """Bytes of ``model``'s weights saved as one safetensors file (quantized Linear layers as int8)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.safetensors"
        save_file(int8_tensors(model), str(path))
        return path.stat().st_size


def parameter_count(model: torch.nn.Module) -> int:
    """Number of weights, counting each int8 weight of a quantized layer once (like its float original)."""
    return sum(t.numel() for key, t in int8_tensors(model).items()
               if not key.endswith((".weight_scale", ".weight_zero_point")))


# ------------------------------------------------------------------------------------------- quantization
def quantize_int8(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of ``model`` with every ``nn.Linear`` dynamically quantized to int8 (weights int8, per tensor;
    activations quantized on the fly per batch). CPU inference only; ``model`` itself is unchanged."""
    _check_module(model)
    with warnings.catch_warnings():  # torch 2.13 announces the move to torchao (see the module docstring)
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(copy.deepcopy(model).cpu().eval(), {torch.nn.Linear},
                                                      dtype=torch.qint8)


def save_int8(model: torch.nn.Module, path: str | Path) -> int:
    """Save a :func:`quantize_int8` model's weights to a safetensors file; returns its size in bytes."""
    tensors = int8_tensors(model)
    if not any(key.endswith(".weight_int8") for key in tensors):
        raise ValueError("this model has no int8 layers: quantize it with quantize_int8(model) first")
    save_file(tensors, str(path))
    return Path(path).stat().st_size


def load_int8(float_model: torch.nn.Module, path: str | Path) -> torch.nn.Module:
    """Rebuild a quantized model from :func:`save_int8`'s file: quantize a copy of ``float_model`` (same
    architecture; its weights are replaced) and load the stored int8 weights, scales and the float tensors."""
    tensors = load_file(str(path))
    integer_keys = {key for key in tensors if key.endswith((".weight_int8", ".weight_scale", ".weight_zero_point"))}
    if not integer_keys:
        raise ValueError(f"{path} holds no int8 weights: save it with save_int8(quantize_int8(model), path)")
    quantized_layers = {key.rsplit(".", 1)[0] for key in integer_keys}
    float_tensors = {key: value for key, value in tensors.items()
                     if key not in integer_keys and key.rsplit(".", 1)[0] not in quantized_layers}
    skeleton = copy.deepcopy(float_model).cpu()
    _, unexpected = skeleton.load_state_dict(float_tensors, strict=False)
    if unexpected:
        raise ValueError(f"{path} holds tensors this model does not have: {unexpected[:5]}")
    model = quantize_int8(skeleton)
    quantized = _quantized_linear_class()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, module in model.named_modules():
            if isinstance(module, quantized):
                if name not in quantized_layers:
                    raise ValueError(f"{path} has no int8 weights for layer {name}: was it saved by save_int8 from "
                                     "a model with this architecture?")
                weight = torch._make_per_tensor_quantized_tensor(
                    tensors[f"{name}.weight_int8"], float(tensors[f"{name}.weight_scale"][0]),
                    int(tensors[f"{name}.weight_zero_point"][0]))
                module.set_weight_bias(weight, tensors.get(f"{name}.bias"))
    return model.eval()


# ---------------------------------------------------------------------------------------------- precision
def cpu_flags() -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where that file does not exist)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def half_precision_support() -> dict[str, str]:
    """What this CPU offers for bf16 and fp16 matrix products, from its feature flags (measure before trusting)."""
    flags = cpu_flags()
    bf16 = [f for f in ("amx_bf16", "avx512_bf16") if f in flags]
    fp16 = [f for f in ("amx_fp16", "avx512_fp16") if f in flags]
    return {
        "bf16": f"native ({', '.join(bf16)})" if bf16 else "emulated (no avx512_bf16/amx_bf16)",
        "fp16": f"native ({', '.join(fp16)})" if fp16 else "emulated (no avx512_fp16/amx_fp16)",
    }


# ------------------------------------------------------------------------------------- unstructured pruning
def prunable_weights(model: torch.nn.Module) -> list[tuple[torch.nn.Module, str]]:
    """``(module, "weight")`` for every ``nn.Linear`` inside the encoder (attention and feed-forward)."""
    _check_module(model)
    return [(module, "weight") for name, module in model.named_modules()
            if isinstance(module, torch.nn.Linear) and ".encoder." in f".{name}."]


def magnitude_prune(model: torch.nn.Module, amount: float) -> torch.nn.Module:
    """A copy of ``model`` with the ``amount`` share of smallest-magnitude encoder Linear weights set to zero.

    Global L1 (magnitude) pruning across all those layers with ``torch.nn.utils.prune.global_unstructured``, then
    ``prune.remove`` to make it permanent (the zeros stay in the ordinary dense weight tensors).
    """
    if not isinstance(amount, (int, float)) or isinstance(amount, bool) or not 0 <= amount < 1:
        raise ValueError(f"amount must be a share of weights in [0, 1), got {amount!r}")
    pruned = copy.deepcopy(model)
    targets = prunable_weights(pruned)
    if amount > 0:
        prune.global_unstructured(targets, pruning_method=prune.L1Unstructured, amount=float(amount))
        for module, name in targets:
            prune.remove(module, name)
    return pruned


def sparsity(model: torch.nn.Module) -> float:
    """Share of exactly-zero weights among the encoder's Linear weights."""
    weights = [getattr(module, name) for module, name in prunable_weights(model)]
    zeros = sum(int((w == 0).sum()) for w in weights)
    return zeros / sum(w.numel() for w in weights)


# ------------------------------------------------------------------------------------------ head removal
def _attention(model: torch.nn.Module, layer: int):
    encoder = getattr(getattr(model, "bert", model), "encoder", None)
    if encoder is None or not hasattr(encoder, "layer"):
        raise TypeError("remove_heads expects a BERT model (BertForSequenceClassification or BertModel)")
    if not isinstance(layer, int) or isinstance(layer, bool) or not 0 <= layer < len(encoder.layer):
        raise ValueError(f"layer must be an int in [0, {len(encoder.layer)}), got {layer!r}")
    return encoder.layer[layer].attention


def heads_left(model: torch.nn.Module) -> list[list[int]]:
    """For each layer, the original indices of the attention heads still there."""
    encoder = getattr(model, "bert", model).encoder
    return [list(getattr(layer.attention.self, "kept_heads", range(layer.attention.self.num_attention_heads)))
            for layer in encoder.layer]


def remove_heads(model: torch.nn.Module, heads: Mapping[int, Iterable[int]]) -> torch.nn.Module:
    """Remove attention heads in place: ``heads`` maps a layer index to the (original) head indices to drop.

    Each head owns ``head_size`` consecutive rows of the query, key and value weights and the same columns of the
    attention output projection; they are sliced away, so the layer really computes fewer heads. A layer keeps at
    least one head. Returns ``model``. (Saving it needs the smaller shapes: reload by slicing a fresh copy again.)
    """
    if not isinstance(heads, Mapping):
        raise TypeError("heads must map a layer index to head indices, e.g. {0: [1, 3], 2: [0]}")
    for layer, drop in heads.items():
        attention = _attention(model, layer)
        self_attention = attention.self
        kept = list(getattr(self_attention, "kept_heads", range(self_attention.num_attention_heads)))
        drop = set(drop)
        bad = [h for h in drop if not isinstance(h, (int, np.integer)) or h not in kept]
        if bad:
            raise ValueError(f"layer {layer}: cannot remove heads {sorted(map(str, bad))}; the heads left are {kept}")
        keep = [h for h in kept if h not in drop]
        if not keep:
            raise ValueError(f"layer {layer}: removing every head leaves nothing to attend with; keep at least one "
                             "(to drop a whole layer, use a shallower model, e.g. a distilled student)")
        if len(keep) == len(kept):
            continue
        size = self_attention.attention_head_size
        index = torch.cat([torch.arange(position * size, (position + 1) * size)
                           for position, h in enumerate(kept) if h in keep])
        self_attention.query = prune_linear_layer(self_attention.query, index)
        self_attention.key = prune_linear_layer(self_attention.key, index)
        self_attention.value = prune_linear_layer(self_attention.value, index)
        attention.output.dense = prune_linear_layer(attention.output.dense, index, dim=1)
        self_attention.num_attention_heads = len(keep)
        self_attention.all_head_size = len(keep) * size
        self_attention.kept_heads = keep
    return model


@torch.no_grad()
def head_importance(model: BertForSequenceClassification, tokenizer: PreTrainedTokenizerBase, texts: list[str],
                    labels, max_length: int, progress: bool = True) -> np.ndarray:
    """``[layers, heads]``: how much the mean cross-entropy on ``texts`` rises when that head alone is removed."""
    labels = torch.as_tensor(np.asarray(labels))
    if len(labels) != len(texts):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")

    def loss(candidate: torch.nn.Module) -> float:
        logits = logits_by_length(torch_runner(candidate), tokenizer, texts, max_length)
        return float(F.cross_entropy(torch.from_numpy(logits), labels))

    base = loss(model)
    layers, per_layer = model.config.num_hidden_layers, model.config.num_attention_heads
    scores = np.zeros((layers, per_layer))
    cells = [(layer, head) for layer in range(layers) for head in range(per_layer)]
    for layer, head in tqdm(cells, desc="head importance", disable=not progress, leave=False):
        scores[layer, head] = loss(remove_heads(copy.deepcopy(model), {layer: [head]})) - base
    return scores


def least_important_heads(importance: np.ndarray, count: int) -> dict[int, list[int]]:
    """The ``count`` heads whose removal costs least, never all the heads of one layer, as ``{layer: [heads]}``."""
    layers, per_layer = importance.shape
    if not 0 <= count <= layers * (per_layer - 1):
        raise ValueError(f"count must be in [0, {layers * (per_layer - 1)}] (each layer keeps a head), got {count}")
    chosen: dict[int, list[int]] = {}
    for flat in np.argsort(importance, axis=None, kind="stable"):
        if sum(map(len, chosen.values())) == count:
            break
        layer, head = divmod(int(flat), per_layer)
        if len(chosen.get(layer, [])) < per_layer - 1:
            chosen.setdefault(layer, []).append(head)
    return chosen


# ------------------------------------------------------------------------------------------- distillation
IGNORE_LABEL = -100  # the label of a transfer-set row: text without a label, scored by the teacher


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor | None = None,
                      temperature: float = 2.0, alpha: float = 0.5) -> torch.Tensor:
    """Hinton et al.'s loss: ``alpha * T² * KL(teacher_T || student_T) + (1 - alpha) * CE(student, labels)``.

    ``teacher_T`` and ``student_T`` are the softmax of the logits divided by the temperature ``T``; the KL term is
    averaged over the batch. Multiplying it by ``T²`` keeps its gradients the same size whatever ``T`` is (they
    scale as 1/T²), so ``alpha`` means the same at every temperature. ``alpha=1`` (or no labels): soft targets only.
    Rows labelled ``-100`` are unlabelled text the teacher scored (a transfer set): they count in the soft term only,
    and the cross-entropy averages over the labelled rows (0 when a batch has none).
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(f"student logits {tuple(student_logits.shape)} and teacher logits "
                         f"{tuple(teacher_logits.shape)} must have the same shape")
    soft = F.kl_div(F.log_softmax(student_logits / temperature, dim=-1),
                    F.log_softmax(teacher_logits.detach() / temperature, dim=-1),
                    log_target=True, reduction="batchmean") * temperature**2
    if labels is None or alpha == 1:
        return soft
    labelled = labels != IGNORE_LABEL
    if not labelled.any():
        return alpha * soft
    return alpha * soft + (1 - alpha) * F.cross_entropy(student_logits[labelled], labels[labelled])


def student_from_checkpoint(name_or_path: str | Path, num_layers: int, **kwargs) -> BertForSequenceClassification:
    """A ``num_layers``-layer classifier initialised from the bottom layers of a pretrained BERT checkpoint."""
    if not isinstance(num_layers, int) or num_layers < 1:
        raise ValueError(f"num_layers must be a positive int, got {num_layers!r}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_pretrained(BertForSequenceClassification, name_or_path, num_labels=2, num_hidden_layers=num_layers,
                               **kwargs)


def student_from_teacher(teacher: BertForSequenceClassification, layers: Iterable[int]) -> BertForSequenceClassification:
    """A shallower copy of a fine-tuned BERT classifier: its embeddings, pooler and head, and only the encoder
    ``layers`` given (e.g. ``(0, 2)``: every other layer, as DistilBERT was built from BERT)."""
    layers = list(layers)
    total = teacher.config.num_hidden_layers
    if not layers or any(not isinstance(i, int) or not 0 <= i < total for i in layers):
        raise ValueError(f"layers must be a non-empty list of indices in [0, {total}), got {layers!r}")
    config = copy.deepcopy(teacher.config)
    config.num_hidden_layers = len(layers)
    student = BertForSequenceClassification(config)
    state = {key: value for key, value in teacher.state_dict().items() if ".encoder.layer." not in key}
    for new, old in enumerate(layers):
        prefix = f"bert.encoder.layer.{old}."
        state.update({f"bert.encoder.layer.{new}." + key[len(prefix):]: value
                      for key, value in teacher.state_dict().items() if key.startswith(prefix)})
    student.load_state_dict(state)
    return student


class _WithTeacherLogits:
    """Pads a batch with the tokenizer and stacks the rows' teacher logits alongside."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase):
        self.pad = DataCollatorWithPadding(tokenizer)

    def __call__(self, rows: list[dict]) -> dict:
        teacher = [row.pop("teacher_logits") for row in rows] if "teacher_logits" in rows[0] else None
        batch = self.pad(rows)
        if teacher is not None:
            batch["teacher_logits"] = torch.as_tensor(np.array(teacher), dtype=torch.float32)
        return batch


def with_transfer_set(labelled: Dataset, pool: Dataset, size: int | None = None, seed: int = 0) -> Dataset:
    """``labelled`` followed by up to ``size`` rows of ``pool`` (all when None) that are not in it, unlabelled.

    Distillation's practical advantage (Hinton et al. 2015; DistilBERT, TinyBERT): the teacher can score text that
    nobody labelled, and its soft targets on that text teach the student more than the labelled set alone can.
    The added rows keep their text, lose their label (``IGNORE_LABEL``), and are never validation or test rows
    when ``pool`` is the training split.
    """
    if "text" not in labelled.column_names or "text" not in pool.column_names:
        raise ValueError("labelled and pool need a 'text' column (raw reviews, before tokenization)")
    seen = set(labelled["text"])
    extra = pool.filter(lambda row: row["text"] not in seen)
    extra = extra.shuffle(seed=seed)
    if size is not None:
        if size < 0:
            raise ValueError(f"size must be >= 0 or None, got {size}")
        extra = extra.select(range(min(size, len(extra))))
    features = Features({"text": Value("string"), "label": Value("int64")})  # a ClassLabel has no -100
    extra = extra.select_columns(["text", "label"]).cast(features).map(lambda row: {"label": IGNORE_LABEL})
    return concatenate_datasets([labelled.select_columns(["text", "label"]).cast(features), extra])


def train_student(student: BertForSequenceClassification, train: Dataset, validation: Dataset,
                  tokenizer: PreTrainedTokenizerBase, settings: FineTuneSettings,
                  teacher_logits: np.ndarray | None = None, temperature: float = 2.0, alpha: float = 0.5,
                  group_by_length: bool = True, progress: bool = True) -> FineTuneResult:
    """Train ``student`` on ``train``: on labels only (``teacher_logits=None``, plain cross-entropy) or with
    :func:`distillation_loss` against the teacher's logits for the same rows (``teacher_logits[i]`` for row ``i``).
    With teacher logits, ``train`` may also hold rows labelled ``IGNORE_LABEL``: unlabelled text that only the
    teacher's soft targets teach (a transfer set, see :func:`with_transfer_set`).

    Everything else is the loop of :func:`helpers.classification.train_classifier`: AdamW with decay on matrices
    only, warmup and linear decay, clipping, validation each epoch, the best epoch's weights restored.
    ``group_by_length`` batches reviews of similar length together (``Trainer``'s ``LengthGroupedSampler``, random
    within groups of 50 batches): far less padding, so about twice as fast on these reviews (``bench/padding.py``).
    """
    if teacher_logits is None and IGNORE_LABEL in set(train["label"]):
        raise ValueError(f"rows labelled {IGNORE_LABEL} (unlabelled text) need teacher_logits: a student trained on "
                         "labels only cannot learn from them; drop them or pass the teacher's logits")
    if teacher_logits is not None:
        teacher_logits = np.asarray(teacher_logits, dtype=np.float32)
        if teacher_logits.shape != (len(train), student.config.num_labels):
            raise ValueError(f"teacher_logits must have shape ({len(train)}, {student.config.num_labels}), one row "
                             f"per training example; got {teacher_logits.shape}")
        train = train.add_column("teacher_logits", teacher_logits.tolist())
    columns = [c for c in ("input_ids", "attention_mask", "token_type_ids", "label", "teacher_logits")
               if c in train.column_names]
    torch.manual_seed(settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)
    sampler = (LengthGroupedSampler(settings.batch_size, lengths=[len(ids) for ids in train["input_ids"]],
                                    generator=generator) if group_by_length else None)
    loader = DataLoader(train.with_format(columns=columns), batch_size=settings.batch_size, shuffle=sampler is None,
                        sampler=sampler, collate_fn=_WithTeacherLogits(tokenizer), generator=generator)
    device = next(student.parameters()).device
    optimizer = torch.optim.AdamW(adamw_parameter_groups(student, settings.weight_decay), lr=settings.learning_rate)
    total = settings.epochs * len(loader)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(settings.warmup_fraction * total), total)
    result, best_state, best_accuracy = FineTuneResult(), None, -1.0
    start = time.perf_counter()
    for epoch in range(1, settings.epochs + 1):
        student.train()
        losses = []
        for batch in tqdm(loader, desc=f"student epoch {epoch}", disable=not progress, leave=False):
            batch = {key: value.to(device) for key, value in batch.items()}
            labels, teacher = batch.pop("labels"), batch.pop("teacher_logits", None)
            logits = student(**batch).logits
            loss = (F.cross_entropy(logits, labels) if teacher is None
                    else distillation_loss(logits, teacher, labels, temperature, alpha))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(student.parameters(), settings.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss.item())
        metrics = evaluate_classifier(student, validation, tokenizer, settings.eval_batch_size)
        result.history.append({"epoch": epoch, "train_loss": float(np.mean(losses)),
                               "validation_accuracy": metrics["accuracy"], "validation_loss": metrics["loss"],
                               "seconds": time.perf_counter() - start})
        if metrics["accuracy"] > best_accuracy:
            best_accuracy, result.best_epoch = metrics["accuracy"], epoch
            best_state = copy.deepcopy(student.state_dict())
    student.load_state_dict(best_state)
    student.eval()
    result.best_validation_accuracy, result.seconds = best_accuracy, time.perf_counter() - start
    return result


# ---------------------------------------------------------------------------------------------- latency
def encode(tokenizer: PreTrainedTokenizerBase, texts: list[str], max_length: int) -> dict[str, torch.Tensor]:
    """One padded batch of ``texts`` (truncated to ``max_length`` tokens) as tensors."""
    if isinstance(texts, str) or not texts:
        raise ValueError("encode expects a non-empty list of texts")
    return dict(tokenizer(list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt"))


def latency_ms(run: Callable[[dict], object], batches: list[dict], repeat: int = 5, warmup: int = 1) -> float:
    """Median milliseconds per batch of ``run(batch)`` over ``batches`` (each pass runs all of them once).

    Timed with :func:`helpers.timing.median_seconds` (warm-up passes first, then the median of ``repeat`` passes);
    with one batch per review this is the batch-1 latency averaged over the reviews' real lengths.
    """
    if not batches:
        raise ValueError("latency_ms needs at least one batch")

    def one_pass() -> None:
        for batch in batches:
            run(batch)

    return 1000 * median_seconds(one_pass, "cpu", warmup=warmup, repeat=repeat) / len(batches)


def latency_table(runners: Mapping[str, Callable[[dict], object]], batch_sets: Mapping[str, list[dict]],
                  repeat: int = 5, warmup: int = 1) -> dict[str, dict[str, float]]:
    """Median milliseconds per batch for every runner on every set of batches, measured **interleaved**.

    Each round times every runner once on every set (a :class:`helpers.timing.Stopwatch` around one pass over the
    set's batches), after ``warmup`` untimed rounds, so a slow spell on a shared machine hits all variants alike
    instead of whichever happened to be measured then. Returns ``{runner: {set: median ms per batch}}``.
    """
    if repeat < 1 or warmup < 0 or not runners or not batch_sets or not all(batch_sets.values()):
        raise ValueError("need runners, non-empty batch sets, repeat >= 1 and warmup >= 0")
    times: dict[str, dict[str, list[float]]] = {name: {kind: [] for kind in batch_sets} for name in runners}
    for round_index in range(warmup + repeat):
        for name, run in runners.items():
            for kind, batches in batch_sets.items():
                with Stopwatch("cpu") as watch:
                    for batch in batches:
                        run(batch)
                if round_index >= warmup:
                    times[name][kind].append(1000 * watch.seconds / len(batches))
    return {name: {kind: float(np.median(values)) for kind, values in kinds.items()} for name, kinds in times.items()}


def logits_by_length(run: Callable[[dict], object], tokenizer: PreTrainedTokenizerBase, texts: list[str],
                     max_length: int, batch_size: int = 64) -> np.ndarray:
    """Logits of ``run`` for every text, in the order given, computed in batches of similar length.

    Sorting by length before batching leaves little padding, so scoring the 1,736 test reviews takes a fraction
    of the time of batches in random order; the predictions are the same (the attention mask hides padding).
    ``run`` is any ``batch -> logits`` function (a PyTorch model via :func:`torch_runner`, an ONNX Runtime session).
    """
    if isinstance(texts, str) or not len(texts):
        raise ValueError("logits_by_length expects a non-empty list of texts")
    order = np.argsort([len(text) for text in texts], kind="stable")
    outputs = np.zeros((len(texts), 0), dtype=np.float32)
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        logits = run(encode(tokenizer, [texts[i] for i in chunk], max_length))
        logits = logits.float().numpy() if isinstance(logits, torch.Tensor) else np.asarray(logits, dtype=np.float32)
        if outputs.shape[1] == 0:
            outputs = np.zeros((len(texts), logits.shape[1]), dtype=np.float32)
        outputs[chunk] = logits
    return outputs


def torch_runner(model: torch.nn.Module) -> Callable[[dict], torch.Tensor]:
    """``run(batch) -> logits`` (as float32, on the CPU) for a PyTorch model, under ``torch.inference_mode``.

    The batch is moved to the model's device first, so the same runner scores with a GPU copy of a model.
    """
    model.eval()
    device = next(model.parameters()).device

    def run(batch: dict) -> torch.Tensor:
        with torch.inference_mode():
            return model(**{key: value.to(device) for key, value in batch.items()}).logits.float().cpu()

    return run


def num_threads_note() -> str:
    """``"<n> torch thread(s)"``: printed next to every latency figure."""
    n = torch.get_num_threads()
    return f"{n} torch thread{'s' if n != 1 else ''} (OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')})"
