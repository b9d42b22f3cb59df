"""Where am I running? Versions, device, profile and network state in one call.

Every lesson starts with :func:`environment_summary` so that a screenshot of a notebook says which
machine and which library versions produced its numbers.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import socket
import sys

import torch

from .profiles import Profile, get_device, get_profile

HUB_HOST = "huggingface.co"
_OFFLINE_VALUES = {"1", "true", "yes", "on"}
_KEY_PACKAGES = ("torch", "transformers", "tokenizers", "datasets", "peft", "accelerate", "snownlp")


def offline_by_setting() -> bool:
    """True when the user asked for offline mode (``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE``)."""
    return any(
        os.environ.get(var, "").strip().lower() in _OFFLINE_VALUES
        for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def hub_reachable(timeout: float = 1.5) -> bool:
    """Can we open a TCP connection to the Hugging Face Hub? Bounded by ``timeout`` seconds."""
    try:
        with socket.create_connection((HUB_HOST, 443), timeout=timeout):
            return True
    except OSError:
        return False


def is_offline(timeout: float = 1.5) -> bool:
    """Offline if the user said so, or if the Hub cannot be reached."""
    return offline_by_setting() or not hub_reachable(timeout)


def package_version(name: str) -> str:
    """Installed version of a distribution, or ``"not installed"``."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def in_colab() -> bool:
    """True inside Google Colab."""
    return "google.colab" in sys.modules


def environment_summary(profile: Profile | None = None, check_network: bool = True) -> dict[str, str]:
    """Versions, hardware, profile and network state, as an ordered dict of strings.

    ``check_network=False`` skips the (up to 1.5 s) connection attempt and reports only the setting.
    """
    profile = profile or get_profile()
    device = get_device(profile)
    if device.type == "cuda":
        hardware = f"{torch.cuda.get_device_name(0)} (CUDA {torch.version.cuda})"
    else:
        hardware = f"CPU, {os.cpu_count()} logical cores, {torch.get_num_threads()} torch threads"
    if offline_by_setting():
        network = "offline (HF_HUB_OFFLINE set): course checkpoints only"
    elif not check_network:
        network = "not checked"
    elif hub_reachable():
        network = "online: Hub checkpoints can be downloaded"
    else:
        network = "offline (Hub unreachable): course checkpoints only"
    summary = {
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        **{name: package_version(name) for name in _KEY_PACKAGES},
        "device": str(device),
        "hardware": hardware,
        "profile": f"{profile.name} ({profile.description})",
        "network": network,
        "colab": "yes" if in_colab() else "no",
    }
    return summary


def print_environment(profile: Profile | None = None, check_network: bool = True) -> None:
    """Print :func:`environment_summary` as aligned ``key: value`` lines."""
    summary = environment_summary(profile, check_network=check_network)
    width = max(map(len, summary))
    for key, value in summary.items():
        print(f"{key:<{width}} : {value}")
