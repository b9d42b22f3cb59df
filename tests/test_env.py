import socket

import torch

import pytest

from helpers import env


def test_summary_has_versions_device_profile_and_network(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    summary = env.environment_summary()
    for key in ("python", "torch", "transformers", "datasets", "tokenizers", "device", "profile", "network"):
        assert summary[key], key
    assert summary["profile"].startswith("smoke")
    assert summary["network"].startswith("offline (HF_HUB_OFFLINE set)")


@pytest.mark.parametrize("value,expected", [("1", True), ("true", True), ("ON", True), ("0", False), ("", False)])
def test_offline_setting(monkeypatch, value, expected):
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", value)
    assert env.offline_by_setting() is expected


def test_hub_unreachable_when_connection_fails(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("no route")

    monkeypatch.setattr(socket, "create_connection", refuse)
    assert env.hub_reachable() is False
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    assert env.is_offline() is True


def test_summary_can_skip_network_check(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    assert env.environment_summary(check_network=False)["network"] == "not checked"


def test_print_environment(capsys):
    env.print_environment(check_network=False)
    out = capsys.readouterr().out
    assert "transformers" in out and "profile" in out


def test_missing_package_version():
    assert env.package_version("surely-not-a-real-package-xyz") == "not installed"


def test_hardware_names_the_cpu_cores_and_threads():
    from helpers.env import hardware

    described = hardware("cpu")
    assert "logical cores" in described and f"{torch.get_num_threads()} torch threads" in described


def test_start_lesson_seeds_quiets_and_returns_profile_and_device(monkeypatch, capsys):
    import transformers

    from helpers.env import start_lesson

    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    profile, device = start_lesson(seed=3)
    first = torch.rand(2)
    start_lesson(seed=3)
    assert torch.equal(first, torch.rand(2))
    assert profile.name == "smoke" and device.type == "cpu"
    assert transformers.logging.get_verbosity() == transformers.logging.ERROR
    assert "profile" in capsys.readouterr().out
