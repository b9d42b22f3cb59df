import time

import pytest
import torch
from transformers import BertForMaskedLM, BertForSequenceClassification, GPT2LMHeadModel

from helpers import models
from helpers.integrity import CheckpointIntegrityError, RECORD_NAME
from helpers.models import (
    HubModelUnavailable,
    bert_config,
    gpt_config,
    load_pretrained,
    load_tokenizer,
    resolve_source,
)
from helpers.profiles import get_profile
from helpers.tokenization import load_course_tokenizer


@pytest.fixture(scope="module")
def tokenizer():
    return load_course_tokenizer()


def test_configs_follow_the_profile(tokenizer):
    cpu = get_profile("cpu")
    bert = bert_config(cpu)
    gpt = gpt_config(cpu)
    assert (bert.num_hidden_layers, bert.hidden_size) == (cpu.bert.num_layers, cpu.bert.hidden_size)
    assert (gpt.n_layer, gpt.n_embd) == (cpu.gpt.num_layers, cpu.gpt.hidden_size)
    assert bert.vocab_size == gpt.vocab_size == len(tokenizer)
    assert gpt.eos_token_id == tokenizer.sep_token_id and bert.pad_token_id == tokenizer.pad_token_id
    assert bert_config(cpu, num_hidden_layers=2).num_hidden_layers == 2


def test_models_run_a_forward_pass(tokenizer):
    batch = tokenizer(["这本书很好", "酒店太差了，不推荐"], padding=True, return_tensors="pt")
    torch.manual_seed(0)
    bert = BertForSequenceClassification(bert_config(get_profile("smoke"), num_labels=2)).eval()
    gpt = GPT2LMHeadModel(gpt_config(get_profile("smoke"))).eval()
    with torch.no_grad():
        assert bert(**batch).logits.shape == (2, 2)
        out = gpt(input_ids=batch["input_ids"], labels=batch["input_ids"])
    assert out.logits.shape == (*batch["input_ids"].shape, len(tokenizer))
    assert torch.isfinite(out.loss)


def test_save_and_load_a_local_checkpoint(tmp_path, tokenizer):
    torch.manual_seed(0)
    model = BertForMaskedLM(bert_config(get_profile("smoke"))).eval()
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    reloaded = load_pretrained(BertForMaskedLM, tmp_path).eval()
    batch = tokenizer(["今天天气不错"], return_tensors="pt")
    with torch.no_grad():
        assert torch.equal(model(**batch).logits, reloaded(**batch).logits)


def test_pickle_weights_are_refused(tmp_path):
    model = BertForMaskedLM(bert_config(get_profile("smoke")))
    model.save_pretrained(tmp_path, safe_serialization=False) if _accepts_safe_serialization() else _write_bin(model, tmp_path)
    (tmp_path / "model.safetensors").unlink(missing_ok=True)
    with pytest.raises(OSError):
        load_pretrained(BertForMaskedLM, tmp_path)


def _accepts_safe_serialization():
    import inspect

    return "safe_serialization" in inspect.signature(BertForMaskedLM.save_pretrained).parameters


def _write_bin(model, folder):
    model.config.save_pretrained(folder)
    torch.save(model.state_dict(), folder / "pytorch_model.bin")


def test_hub_name_offline_by_setting_fails_fast(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(HubModelUnavailable) as info:
        load_pretrained(BertForSequenceClassification, "bert-base-chinese", num_labels=2)
    assert time.perf_counter() - start < 10
    message = str(info.value)
    assert "'course-bert'" in message and "HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) is set" in message


def test_gpt_hub_name_points_to_course_gpt(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(HubModelUnavailable, match="model variable to 'course-gpt'"):
        load_pretrained(GPT2LMHeadModel, "uer/gpt2-chinese-cluecorpussmall")
    with pytest.raises(HubModelUnavailable, match="model variable to 'course-bert'"):
        load_tokenizer("bert-base-chinese")


@pytest.mark.parametrize("bad,error", [(None, TypeError), (3, TypeError), ("", ValueError),
                                       ("   ", ValueError), ("../not/a folder", ValueError),
                                       ("a" * 100_000 + " b", ValueError)])
def test_bad_names_get_clear_errors(bad, error):
    with pytest.raises(error, match="course-bert|Hub name|Empty|model name"):
        resolve_source(bad)


def test_unsafe_options_are_refused(tmp_path):
    with pytest.raises(ValueError, match="no remote code"):
        load_pretrained(BertForMaskedLM, tmp_path, trust_remote_code=True)


def test_model_class_must_be_a_transformers_model():
    with pytest.raises(TypeError, match="transformers model class"):
        load_pretrained(dict, "course-bert")


def test_missing_course_checkpoint_says_how_to_rebuild(monkeypatch, tmp_path):
    monkeypatch.setitem(models.COURSE_CHECKPOINTS, "course-bert", tmp_path / "nothing-here")
    with pytest.raises(FileNotFoundError, match="lesson 01"):
        load_pretrained(BertForMaskedLM, "course-bert")


def test_course_alias_gives_the_course_tokenizer(tokenizer):
    assert load_tokenizer("course-bert").get_vocab() == tokenizer.get_vocab()
    assert load_tokenizer("course-gpt").get_vocab() == tokenizer.get_vocab()


def _tampered_copy(tmp_path, monkeypatch, name="course-gpt"):
    import shutil

    folder = tmp_path / name
    shutil.copytree(models.CHECKPOINTS_DIR / name, folder)
    monkeypatch.setitem(models.COURSE_CHECKPOINTS, name, folder)
    return folder


@pytest.mark.parametrize("filename", ["tokenizer_config.json", "generation_config.json", "config.json"])
def test_a_changed_file_of_a_course_checkpoint_is_named(tmp_path, monkeypatch, filename):
    folder = _tampered_copy(tmp_path, monkeypatch)
    with open(folder / filename, "a", encoding="utf-8") as handle:
        handle.write("\n")
    with pytest.raises(CheckpointIntegrityError, match=f"{filename} has SHA-256"):
        load_pretrained(GPT2LMHeadModel, "course-gpt")
    with pytest.raises(CheckpointIntegrityError, match=filename):
        load_tokenizer("course-gpt")


def test_a_missing_or_extra_file_or_record_is_named(tmp_path, monkeypatch):
    folder = _tampered_copy(tmp_path, monkeypatch)
    (folder / "generation_config.json").unlink()
    with pytest.raises(CheckpointIntegrityError, match="missing generation_config.json"):
        load_pretrained(GPT2LMHeadModel, "course-gpt")
    folder = _tampered_copy(tmp_path / "second", monkeypatch)
    (folder / "notes.txt").write_text("added later")
    (folder / ".ipynb_checkpoints").mkdir()  # hidden: ignored
    with pytest.raises(CheckpointIntegrityError, match="notes.txt, which its training record does not vouch for"):
        load_pretrained(GPT2LMHeadModel, "course-gpt")
    (folder / "notes.txt").unlink()
    load_pretrained(GPT2LMHeadModel, "course-gpt")
    (folder / RECORD_NAME).unlink()
    with pytest.raises(CheckpointIntegrityError, match="has no training_record.json"):
        load_pretrained(GPT2LMHeadModel, "course-gpt")


def test_a_folder_path_is_not_verified(tmp_path, monkeypatch):
    folder = _tampered_copy(tmp_path, monkeypatch)
    (folder / RECORD_NAME).unlink()
    load_pretrained(GPT2LMHeadModel, folder)  # your own folder: no record needed


def test_complete_record_adds_missing_hashes_but_never_revouches_a_changed_file(tmp_path, monkeypatch):
    import json

    from helpers.integrity import complete_record, verify_folder

    folder = _tampered_copy(tmp_path, monkeypatch)
    record = json.loads((folder / RECORD_NAME).read_text(encoding="utf-8"))
    del record["files"]["tokenizer_config.json"]  # as written by the code that hashed only three files
    (folder / RECORD_NAME).write_text(json.dumps(record), encoding="utf-8")
    with pytest.raises(CheckpointIntegrityError, match="tokenizer_config.json"):
        verify_folder(folder)
    assert complete_record(folder) == ["tokenizer_config.json"]
    verify_folder(folder)
    (folder / "config.json").write_text("{}")
    with pytest.raises(CheckpointIntegrityError, match="config.json does not match"):
        complete_record(folder)


def test_parameter_estimate_is_close_to_the_real_count():
    from helpers.models import estimate_parameters

    for config in (bert_config(get_profile("cpu")), gpt_config(get_profile("cpu")),
                   BertForSequenceClassification.config_class(vocab_size=21128)):  # bert-base-chinese's shape
        real = sum(p.numel() for p in (BertForMaskedLM if config.model_type == "bert" else GPT2LMHeadModel)(config)
                   .base_model.parameters())
        assert abs(estimate_parameters(config) - real) / real < 0.03, config.model_type


def test_gpu_profile_shrinks_for_a_base_sized_model_only(monkeypatch):
    import dataclasses

    from helpers import models as models_module
    from helpers.profiles import PROFILES

    gpu = dataclasses.replace(PROFILES["gpu"], mixed_precision="fp16")
    assert models_module.profile_for_model(gpu, "course-bert") is gpu
    monkeypatch.setattr(models_module, "load_config", lambda name: BertForSequenceClassification.config_class(vocab_size=21128))
    sized = models_module.profile_for_model(gpu, "bert-base-chinese")
    assert sized.batch_size == 32 and sized.max_length == 128 and sized.train_examples == PROFILES["cpu"].train_examples
    assert sized.mixed_precision == "fp16" and "resized" in sized.description
    assert models_module.profile_for_model(PROFILES["cpu"], "bert-base-chinese") is PROFILES["cpu"]
    monkeypatch.setattr(models_module, "load_config", lambda name: bert_config(get_profile("cpu")))
    assert models_module.profile_for_model(gpu, "some/small-model") is gpu
