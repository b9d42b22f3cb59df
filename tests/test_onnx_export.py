"""ONNX export with dynamic axes, run by ONNX Runtime, equal to PyTorch; int8 in ONNX Runtime."""

import numpy as np
import pytest
import torch
from transformers import BertForSequenceClassification

from helpers.models import bert_config
from helpers.onnx_export import export_onnx, onnx_logits, ort_session, quantize_onnx_int8
from helpers.profiles import get_profile


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(0)
    model = BertForSequenceClassification(bert_config(get_profile("smoke"), num_labels=2))
    model.train()  # export must switch dropout off by itself
    path = export_onnx(model, tmp_path_factory.mktemp("onnx") / "model.onnx")
    return model, path


@pytest.mark.parametrize("batch_size,length,padded", [(1, 1, False), (1, 9, False), (4, 30, True), (33, 64, True)])
def test_any_batch_and_length_matches_pytorch(exported, batch_size, length, padded):
    model, path = exported
    assert not model.training
    generator = torch.Generator().manual_seed(batch_size * 100 + length)
    batch = {"input_ids": torch.randint(5, 5000, (batch_size, length), generator=generator)}
    batch["attention_mask"] = torch.ones_like(batch["input_ids"])
    if padded:
        batch["attention_mask"][0, length // 2:] = 0
    with torch.no_grad():
        expected = model(**batch).logits.numpy()
    got = onnx_logits(ort_session(path), batch)
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() < 1e-4


def test_the_optimised_graph_is_written_and_smaller(exported, tmp_path):
    from helpers.onnx_export import graph_summary

    model, path = exported
    ort_session(path, optimized_path=tmp_path / "optimized.onnx")
    before, after = graph_summary(path), graph_summary(tmp_path / "optimized.onnx")
    assert int(after.split()[0]) < int(before.split()[0]) and "fused kinds" in after


def test_onnx_int8_is_smaller_and_close(exported, tmp_path):
    model, path = exported
    int8 = quantize_onnx_int8(path, tmp_path / "int8.onnx")
    assert int8.stat().st_size < path.stat().st_size
    batch = {"input_ids": np.array([[2, 300, 400, 500, 3]]), "attention_mask": np.ones((1, 5), dtype=np.int64)}
    assert np.abs(onnx_logits(ort_session(int8), batch) - onnx_logits(ort_session(path), batch)).max() < 0.1


def test_errors_say_what_to_do(exported, tmp_path):
    model, path = exported
    with pytest.raises(ValueError, match=r"\.onnx"):
        export_onnx(model, tmp_path / "model.bin")
    with pytest.raises(TypeError, match="transformers model"):
        export_onnx(torch.nn.Linear(2, 2), tmp_path / "x.onnx")
    with pytest.raises(FileNotFoundError, match="export_onnx"):
        ort_session(tmp_path / "missing.onnx")
    with pytest.raises(ValueError, match="threads"):
        ort_session(path, threads=0)
    with pytest.raises(KeyError, match="attention_mask"):
        onnx_logits(ort_session(path), {"input_ids": np.zeros((1, 2), dtype=np.int64)})
