"""Export a sequence classifier to ONNX and run it with ONNX Runtime (CPU), checked against PyTorch.

* :func:`export_onnx` writes ``input_ids`` + ``attention_mask`` -> ``logits`` with dynamic batch and sequence
  axes, so one file serves any batch size and any review length up to the model's position limit.
  torch 2.13 has two exporters: the TorchScript tracer (``dynamo=False``, deprecated: "will be removed") and the
  ``torch.export``-based one (``dynamo=True``, the default, needs ``onnxscript``). Both give the same logits here
  (max difference ~1e-7); the tracer exports course-bert in about 4 s and the new exporter in about 45 s on the
  loaded 2-core CI machine, so the lesson (run in CI on every change) uses the tracer and names the other.
* :func:`ort_session` opens an ``InferenceSession`` with a fixed number of threads and all graph optimisations.
* :func:`quantize_onnx_int8` is ONNX Runtime's dynamic int8 quantization of the MatMul weights.
* :func:`onnx_logits` runs a session on a tokenised batch; :func:`graph_summary` counts a graph's operations.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

INPUT_NAMES = ("input_ids", "attention_mask")
OUTPUT_NAME = "logits"
DEFAULT_OPSET = 18


class _LogitsOnly(torch.nn.Module):
    """Wraps a ``...ForSequenceClassification`` so the exported graph has plain tensor inputs and one output."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits


def export_onnx(model: torch.nn.Module, path: str | Path, dynamo: bool = False, opset: int = DEFAULT_OPSET) -> Path:
    """Export ``model`` (a sequence classifier, float weights) to ``path`` with dynamic batch and sequence axes.

    The model is put in eval mode first (an exporter traces whatever mode it finds: dropout would be baked in) and
    left in eval mode. Returns the path. ``dynamo=True`` uses the ``torch.export``-based exporter.
    """
    if not isinstance(model, torch.nn.Module) or not hasattr(model, "config"):
        raise TypeError(f"export_onnx expects a transformers model, got {type(model).__name__}")
    path = Path(path)
    if path.suffix != ".onnx":
        raise ValueError(f"the file name should end in .onnx, got {path.name!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    wrapper = _LogitsOnly(model.cpu()).eval()
    example_ids = torch.tensor([[101, 2769, 4263, 102, 0], [101, 1962, 4638, 3300, 102]])[:, :5] % model.config.vocab_size
    example_mask = torch.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's deprecation notice and its shape-branch remarks
        if dynamo:
            batch, sequence = torch.export.Dim("batch", max=4096), torch.export.Dim("sequence", max=model.config.max_position_embeddings)
            program = torch.onnx.export(wrapper, (example_ids, example_mask), None, input_names=list(INPUT_NAMES),
                                        output_names=[OUTPUT_NAME], dynamo=True, verbose=False,
                                        dynamic_shapes={"input_ids": {0: batch, 1: sequence},
                                                        "attention_mask": {0: batch, 1: sequence}})
            program.save(str(path))
        else:
            axes = {name: {0: "batch", 1: "sequence"} for name in INPUT_NAMES}
            torch.onnx.export(wrapper, (example_ids, example_mask), str(path), input_names=list(INPUT_NAMES),
                              output_names=[OUTPUT_NAME], dynamic_axes={**axes, OUTPUT_NAME: {0: "batch"}},
                              opset_version=opset, dynamo=False)
    model.eval()
    return path


def ort_session(path: str | Path, threads: int = 1, optimized_path: str | Path | None = None):
    """An ONNX Runtime CPU session for ``path`` using ``threads`` threads, with every graph optimisation on.

    ``optimized_path``: also write the graph as ONNX Runtime optimised it (to see what it fused)."""
    import onnxruntime as ort

    if not Path(path).is_file():
        raise FileNotFoundError(f"no ONNX file at {path}: export one first with export_onnx(model, path)")
    if not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive int, got {threads!r}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only
    if optimized_path is not None:
        options.optimized_model_filepath = str(optimized_path)
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def graph_summary(path: str | Path, top: int = 6) -> str:
    """``"<n> nodes: MatMul 32, ..."``: how many operations an ONNX graph has, the most frequent kinds first."""
    import collections

    import onnx

    counts = collections.Counter(node.op_type for node in onnx.load(str(path)).graph.node)
    common = ", ".join(f"{kind} {count}" for kind, count in counts.most_common(top))
    fused = sorted(kind for kind in counts if kind.startswith(("Fused", "Bias", "Attention", "SkipLayer", "Gelu")))
    return f"{sum(counts.values())} nodes ({common}; fused kinds: {', '.join(fused) or 'none'})"


def onnx_logits(session, batch: dict) -> np.ndarray:
    """Logits for a tokenised batch (torch tensors or NumPy arrays of ``input_ids`` and ``attention_mask``)."""
    feeds = {}
    for name in INPUT_NAMES:
        if name not in batch:
            raise KeyError(f"the batch needs {name!r} (tokenise with return_tensors='pt' or 'np')")
        value = batch[name]
        feeds[name] = (value.numpy() if isinstance(value, torch.Tensor) else np.asarray(value)).astype(np.int64)
    return session.run([OUTPUT_NAME], feeds)[0]


def quantize_onnx_int8(source: str | Path, target: str | Path) -> Path:
    """ONNX Runtime's dynamic int8 quantization (int8 weights, activations quantized per batch) of ``source``."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    # onnxruntime logs "Please consider to run pre-processing before quantization" on the root logger for every
    # model; the advice is optional, and the lesson measures the quantized model's accuracy and speed directly
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8)
    finally:
        root.setLevel(level)
    return Path(target)
