"""helpers.training and helpers.timing: one weight-decay rule, TrainingArguments per profile, mixed precision,
parameter counts, and timings that synchronise."""

import time

import pytest
import torch
from transformers import BertForSequenceClassification, GPT2LMHeadModel

from helpers.models import bert_config, gpt_config
from helpers.profiles import PROFILES, get_profile
from helpers.timing import Stopwatch, median_seconds, synchronize, time_call
from helpers.training import MixedPrecision, adamw_parameter_groups, count_parameters, training_arguments


def tiny_bert():
    torch.manual_seed(0)
    return BertForSequenceClassification(bert_config(get_profile("smoke"), num_labels=2))


def test_weight_decay_applies_to_matrices_only_in_bert_and_gpt():
    for model in (tiny_bert(), GPT2LMHeadModel(gpt_config(get_profile("smoke")))):
        decayed, plain = adamw_parameter_groups(model, 0.01)
        names = {id(p): n for n, p in model.named_parameters()}
        assert decayed["weight_decay"] == 0.01 and plain["weight_decay"] == 0.0
        assert all("bias" in names[id(p)] or "LayerNorm" in names[id(p)] or "ln_" in names[id(p)] for p in plain["params"])
        assert not any(names[id(p)].endswith("bias") for p in decayed["params"])
        assert {id(p) for p in decayed["params"]} | {id(p) for p in plain["params"]} == {id(p) for p in model.parameters()}


def test_parameter_groups_skip_frozen_parameters_and_set_a_learning_rate():
    model = tiny_bert()
    for p in model.bert.embeddings.parameters():
        p.requires_grad = False
    groups = adamw_parameter_groups(model.bert, 0.1, lr=3e-4)
    frozen = {id(p) for p in model.bert.embeddings.parameters()}
    assert all(id(p) not in frozen for g in groups for p in g["params"])
    assert all(g["lr"] == 3e-4 for g in groups)
    assert adamw_parameter_groups(model.bert.embeddings, 0.1) == []
    with pytest.raises(ValueError, match="weight_decay"):
        adamw_parameter_groups(model, -1.0)


def test_count_parameters_counts_elements_and_rejects_non_modules():
    model = tiny_bert()
    trainable, total = count_parameters(model)
    assert trainable == total == sum(p.numel() for p in model.parameters())
    model.classifier.weight.requires_grad = False
    assert count_parameters(model) == (total - model.classifier.weight.numel(), total)
    with pytest.raises(TypeError, match="torch.nn.Module"):
        count_parameters("model")


@pytest.mark.parametrize("name", ["smoke", "cpu"])
def test_training_arguments_follow_the_profile(name):
    profile = PROFILES[name]
    args = training_arguments(profile, learning_rate=1e-4)
    assert args.per_device_train_batch_size == profile.batch_size
    assert args.per_device_eval_batch_size == profile.eval_batch_size
    assert args.num_train_epochs == profile.epochs and args.learning_rate == 1e-4
    assert args.use_cpu and not args.fp16 and not args.bf16 and args.weight_decay == 0.01
    assert training_arguments(profile, num_train_epochs=7, weight_decay=0.0).num_train_epochs == 7


def test_training_arguments_carry_the_gpu_profiles_precision(monkeypatch):
    # the gpu profile's precision reaches TrainingArguments; building them on a CPU machine is fine as long as
    # fp16/bf16 are not requested, so the check reads the settings dict the helper builds
    import helpers.training as training

    seen = {}
    monkeypatch.setattr(training, "TrainingArguments", lambda **kwargs: seen.update(kwargs) or kwargs)
    for precision in ("fp16", "bf16"):
        gpu = PROFILES["gpu"].__class__(**{**PROFILES["gpu"].as_dict(), "bert": PROFILES["gpu"].bert,
                                           "gpt": PROFILES["gpu"].gpt, "mixed_precision": precision})
        training_arguments(gpu)
        assert seen["fp16"] == (precision == "fp16") and seen["bf16"] == (precision == "bf16")
        assert seen["use_cpu"] is False


def test_mixed_precision_is_a_no_op_on_the_cpu_and_steps_like_plain_adamw():
    torch.manual_seed(0)
    a, b = torch.nn.Linear(4, 2), torch.nn.Linear(4, 2)
    b.load_state_dict(a.state_dict())
    x, y = torch.randn(8, 4), torch.randn(8, 2)
    opt_a, opt_b = torch.optim.AdamW(a.parameters(), lr=0.1), torch.optim.AdamW(b.parameters(), lr=0.1)
    precision = MixedPrecision("fp16", "cpu")
    assert not precision.enabled
    with precision.autocast():
        loss_a = torch.nn.functional.mse_loss(a(x), y)
    precision.step(loss_a, opt_a, a.parameters(), max_grad_norm=1.0)
    loss_b = torch.nn.functional.mse_loss(b(x), y)
    loss_b.backward()
    torch.nn.utils.clip_grad_norm_(b.parameters(), 1.0)
    opt_b.step()
    assert torch.allclose(a.weight, b.weight) and a.weight.grad is None
    with pytest.raises(ValueError, match="mixed_precision"):
        MixedPrecision("fp8", "cpu")


def test_stopwatch_synchronises_cuda_before_reading_the_clock(monkeypatch):
    calls = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: calls.append(device))
    with Stopwatch("cuda") as watch:
        time.sleep(0.01)
    assert len(calls) == 2 and watch.seconds >= 0.01
    synchronize("cpu")  # nothing to wait for on the CPU
    assert len(calls) == 2


def test_time_call_warms_up_then_times_each_repeat():
    calls = []
    times = time_call(lambda: calls.append(1), warmup=2, repeat=3)
    assert len(calls) == 5 and len(times) == 3 and all(t >= 0 for t in times)
    assert median_seconds(lambda: time.sleep(0.002), repeat=3) >= 0.002
    with pytest.raises(ValueError):
        time_call(lambda: None, repeat=0)
    with pytest.raises(TypeError):
        time_call(3)
