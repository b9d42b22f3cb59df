import socket

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
