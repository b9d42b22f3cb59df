import random

import numpy as np
import pytest
import torch

from helpers.profiles import (
    PROFILES,
    VALID_PROFILES,
    ProfileError,
    get_device,
    get_profile,
    parse_profile_name,
    set_seed,
)


@pytest.mark.parametrize("name", ["smoke", "cpu"])
def test_known_profiles_parse(name):
    assert get_profile(name).name == name


def test_environment_variable_chooses_profile(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "cpu")
    assert get_profile().name == "cpu"


@pytest.mark.parametrize("value", [None, "", "   "])
def test_unset_gives_machine_default(monkeypatch, value):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert parse_profile_name(value) == "cpu"


@pytest.mark.parametrize("value", ["fast", "CPU", "Smoke", "cpu2", "gpu "+"x"])
def test_unknown_profile_lists_valid_ones(value):
    with pytest.raises(ProfileError) as info:
        get_profile(value)
    message = str(info.value)
    assert repr(value) in message
    for name in VALID_PROFILES:
        assert name in message


def test_unknown_profile_from_environment(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "turbo")
    with pytest.raises(ProfileError, match="smoke, cpu, gpu"):
        get_profile()


def test_non_string_profile_is_rejected():
    with pytest.raises(ProfileError, match="must be a string"):
        parse_profile_name(3)


def test_gpu_profile_without_cuda_says_what_to_do(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ProfileError, match="COURSE_PROFILE=cpu"):
        get_profile("gpu")


@pytest.mark.parametrize("capability, expected", [((7, 5), "fp16"), ((7, 0), "fp16"), ((8, 0), "bf16"),
                                                  ((8, 9), "bf16"), ((9, 0), "bf16")])
def test_gpu_profile_picks_bf16_only_on_native_hardware(monkeypatch, capability, expected):
    # a T4 (7.5) answers True to is_bf16_supported() through emulation: it must still get fp16
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *args, **kwargs: capability)
    assert get_profile("gpu").mixed_precision == expected
    assert get_profile("cpu").mixed_precision is None


def test_profiles_grow_from_smoke_to_gpu():
    smoke, cpu, gpu = PROFILES["smoke"], PROFILES["cpu"], PROFILES["gpu"]
    assert smoke.pretrain_steps < cpu.pretrain_steps < gpu.pretrain_steps
    assert smoke.bert.hidden_size < cpu.bert.hidden_size
    assert gpu.mixed_precision in ("fp16", "bf16") and cpu.mixed_precision is None
    for profile in PROFILES.values():
        assert profile.bert.hidden_size % profile.bert.num_heads == 0
        assert profile.gpt.hidden_size % profile.gpt.num_heads == 0
        assert profile.max_length <= profile.bert.max_positions


def test_device_follows_profile():
    assert get_device(get_profile("cpu")).type == "cpu"


def test_set_seed_makes_runs_repeatable():
    set_seed(123)
    first = (random.random(), np.random.rand(), torch.rand(3))
    set_seed(123)
    second = (random.random(), np.random.rand(), torch.rand(3))
    assert first[0] == second[0] and first[1] == second[1]
    assert torch.equal(first[2], second[2])


@pytest.mark.parametrize("seed", [-1, 1.5, "0", None, True])
def test_set_seed_rejects_bad_seeds(seed):
    with pytest.raises(ValueError, match="non-negative int"):
        set_seed(seed)
