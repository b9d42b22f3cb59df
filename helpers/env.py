"""Where am I running? Versions, device, profile and network state in one call, and the lesson preamble.

Every lesson starts with :func:`start_lesson`: it quiets library logs and progress bars, seeds everything,
picks the profile and device, and prints :func:`environment_summary`, so that a screenshot of a notebook says
which machine and which library versions produced its numbers. :func:`hardware` is the one description of
the machine that benchmarks, checkpoint records and runtime tables store next to their figures.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import warnings
from pathlib import Path

import torch

from .colab import in_colab
from .hub import endpoint, offline_by_setting, probe
from .profiles import Profile, get_device, get_profile, set_seed

_KEY_PACKAGES = ("torch", "transformers", "tokenizers", "datasets", "peft", "accelerate", "snownlp")


def hub_reachable(timeout: float = 1.5) -> bool:
    """Does the Hub endpoint in force (``HF_ENDPOINT`` or huggingface.co) answer like a Hub, within ``timeout`` s?

    One HTTP request through the environment's proxies (see :func:`helpers.hub.probe`), not a bare TCP
    connection: a host that accepts connections but cannot serve files counts as unreachable.
    """
    return probe(timeout=timeout).ok


def is_offline(timeout: float = 1.5) -> bool:
    """Offline if the user said so, or if the Hub cannot be reached."""
    return offline_by_setting() or not hub_reachable(timeout)


def package_version(name: str) -> str:
    """Installed version of a distribution, or ``"not installed"``."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "CPU"


def hardware(device: torch.device | str | None = None) -> str:
    """The machine a figure was measured on, in words: the GPU by name, or the CPU with its core and thread counts.

    ``device`` defaults to CUDA when it is available. Stored with every benchmark, runtime and checkpoint record.
    """
    device = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda})"
    return f"{cpu_model()}, {os.cpu_count()} logical cores, {torch.get_num_threads()} torch threads"


def environment_summary(profile: Profile | None = None, check_network: bool = True) -> dict[str, str]:
    """Versions, hardware, profile and network state, as an ordered dict of strings.

    ``check_network=False`` skips the (up to 1.5 s) request to the Hub and reports only the setting.
    """
    profile = profile or get_profile()
    device = get_device(profile)
    if offline_by_setting():
        network = "offline (HF_HUB_OFFLINE set): course checkpoints only"
    elif not check_network:
        network = "not checked"
    else:
        result = probe(timeout=1.5)
        network = (f"online: Hub checkpoints can be downloaded from {endpoint()}" if result.ok else
                   f"offline ({result.reason}): course checkpoints only")
    summary = {
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        **{name: package_version(name) for name in _KEY_PACKAGES},
        "device": str(device),
        "hardware": hardware(device),
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


def quiet_libraries() -> None:
    """Silence what would bury a lesson's own output: transformers' and datasets' progress bars and info
    logs, and the FutureWarnings that peft and transformers raise about each other's renamed methods."""
    import datasets
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    datasets.disable_progress_bars()
    warnings.filterwarnings("ignore", category=FutureWarning)


def start_lesson(seed: int = 0, check_network: bool = False) -> tuple[Profile, torch.device]:
    """The first cell of every lesson: quiet the libraries, seed, choose profile and device, print the environment.

    Returns ``(profile, device)``. ``check_network=True`` also tries to reach the Hub (up to 1.5 s).
    """
    quiet_libraries()
    set_seed(seed)
    profile = get_profile()
    device = get_device(profile)
    print_environment(profile, check_network=check_network)
    return profile, device
