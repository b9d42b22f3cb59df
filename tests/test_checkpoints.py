"""The shipped course checkpoints: files match their training record, they load, and they work."""

import json

import pytest
import torch
from safetensors import safe_open
from transformers import BertForMaskedLM, GPT2LMHeadModel

from helpers.models import COURSE_CHECKPOINTS, load_pretrained
from helpers.checkpoints import RECORD_NAME, evaluate, file_hashes, main, pretraining_texts
from helpers.tokenization import load_course_tokenizer

KINDS = {"course-bert": ("bert", BertForMaskedLM), "course-gpt": ("gpt", GPT2LMHeadModel)}


def record_of(name):
    return json.loads((COURSE_CHECKPOINTS[name] / RECORD_NAME).read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", sorted(KINDS))
def test_record_matches_the_files(name):
    folder = COURSE_CHECKPOINTS[name]
    record = record_of(name)
    assert record["files"] == file_hashes(folder), "checkpoint files changed without a new training record"
    assert set(record["files"]) == {p.name for p in folder.iterdir() if p.name != RECORD_NAME}  # every file
    assert record["kind"] == KINDS[name][0]
    for key in ("steps", "tokens", "epochs", "seconds"):
        assert record["totals"][key] > 0
    for run in record["runs"]:
        for key in ("hardware", "git_commit", "final_train_loss", "loss_curve", "settings", "started"):
            assert run[key], key
    assert record["heldout"]["news"] and record["heldout"]["reviews"]


@pytest.mark.parametrize("name", sorted(KINDS))
def test_weights_are_small_fp16_safetensors(name):
    path = COURSE_CHECKPOINTS[name] / "model.safetensors"
    assert path.stat().st_size < 20 * 2**20
    with safe_open(str(path), framework="pt") as weights:
        dtypes = {weights.get_slice(key).get_dtype() for key in weights.keys()}
    assert dtypes == {"F16"}


@pytest.mark.parametrize("name", sorted(KINDS))
def test_checkpoint_loads_and_runs_a_forward_pass(name):
    kind, model_class = KINDS[name]
    model = load_pretrained(model_class, name).eval()
    assert next(model.parameters()).dtype == torch.float32  # stored fp16, computed fp32
    tokenizer = load_course_tokenizer(COURSE_CHECKPOINTS[name])
    assert tokenizer.get_vocab() == load_course_tokenizer().get_vocab()
    batch = tokenizer(["中国人民", "这本书很好"], padding=True, return_tensors="pt")
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    assert logits.shape == (*batch["input_ids"].shape, len(tokenizer)) and torch.isfinite(logits).all()


@pytest.mark.parametrize("name", sorted(KINDS))
def test_recorded_heldout_figures_reproduce(name):
    kind, model_class = KINDS[name]
    record = record_of(name)
    model = load_pretrained(model_class, name)
    texts = pretraining_texts()
    texts = {"heldout_news": texts["heldout_news"], "heldout_reviews": texts["heldout_news"][:50]}
    figures = evaluate(kind, model, load_course_tokenizer(), texts, record["data"]["block_size"])
    assert figures["news"]["loss"] == pytest.approx(record["heldout"]["news"]["loss"], abs=1e-3)


def test_pretrain_script_writes_a_consistent_checkpoint(tmp_path, capsys):
    out = tmp_path / "bert"
    assert main(["bert", "--steps", "2", "--block-size", "32", "--batch-size", "4", "--from-scratch",
                 "--heldout-limit", "40", "--out", str(out)]) == 0
    record = json.loads((out / RECORD_NAME).read_text(encoding="utf-8"))
    assert record["files"] == file_hashes(out)
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= set(record["files"])
    assert record["totals"]["steps"] == 2 and record["totals"]["tokens"] == 2 * 4 * 32
    assert 0 <= record["heldout"]["news"]["masked_accuracy"] <= 1
    assert len(record["runs"]) == 1 and record["runs"][0]["resumed_from"] is None


@pytest.mark.parametrize("cuda, capability, choice, expected", [
    (False, None, "auto", None),  # the CPU trains in fp32 whatever is asked
    (False, None, "bf16", None),
    (True, (9, 0), "auto", "bf16"),  # H100
    (True, (7, 5), "auto", "fp16"),  # T4: bf16 only emulated
    (True, (9, 0), "fp32", None),
    (True, (7, 5), "fp16", "fp16"),
])
def test_pretraining_precision_follows_the_gpu(monkeypatch, cuda, capability, choice, expected):
    from helpers.checkpoints import training_precision

    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    if capability is not None:
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *args, **kwargs: capability)
    assert training_precision(choice) == expected
