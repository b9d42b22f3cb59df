"""Measured figures as files: what a lesson run measured, saved where the README and the interview bank read it.

Benchmarks in ``bench/`` write ``bench/results/<name>.json`` themselves. A lesson's own figures (a label-efficiency
curve, a KV-cache speed-up, a controllability rate) are measured by running the lesson, so a lesson ends with::

    from helpers.results import record_lesson_figures
    record_lesson_figures("05", {"kv_cache": {"hand_speedup": ..., "generate_speedup": ...}}, profile)

which writes ``bench/results/lesson05_<profile>.json`` **only when** ``COURSE_RECORD_FIGURES=1`` (set by
``scripts/run_lessons.py``), so a learner's run or a CI smoke run never rewrites the repository's measurements.
The interview bank quotes these files through placeholders (:mod:`helpers.interview.figures`).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from pathlib import Path
from typing import Any

RECORD_ENV_VAR = "COURSE_RECORD_FIGURES"
RESULTS_DIR = Path(__file__).resolve().parents[1] / "bench" / "results"
"""``bench/results`` of the repository this package was installed from (absent in a non-editable install)."""


def lesson_results_name(lesson: str, profile_name: str) -> str:
    """The file name of one lesson's figures in one profile, e.g. ``lesson05_cpu.json``."""
    if not isinstance(lesson, str) or len(lesson) != 2 or not lesson.isdigit():
        raise ValueError(f"lesson must be a two-digit string like '05', got {lesson!r}")
    if profile_name not in ("smoke", "cpu", "gpu"):
        raise ValueError(f"profile must be smoke, cpu or gpu, got {profile_name!r}")
    return f"lesson{lesson}_{profile_name}.json"


def _plain(value: Any, where: str) -> Any:
    """JSON-ready copy of ``value``: numbers become float/int (NumPy and torch scalars too), NaN becomes None."""
    if isinstance(value, dict):
        return {str(key): _plain(item, f"{where}.{key}") for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, (str, bool)) or value is None:
        return value
    if hasattr(value, "item"):  # NumPy / torch scalars
        value = value.item()
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None  # JSON has no NaN; "not measured" reads as null
    raise TypeError(f"{where}: cannot record a {type(value).__name__}; use numbers, strings, lists and dicts")


def record_lesson_figures(lesson: str, figures: dict, profile, directory: Path | str | None = None,
                          force: bool = False) -> Path | None:
    """Save a lesson's measured ``figures`` (a dict) with the hardware and date, when recording is switched on.

    Returns the file written, or ``None`` when recording is off (``COURSE_RECORD_FIGURES`` unset and not
    ``force``) or there is no ``bench/results`` to write to (an installed copy of the course).
    """
    from .env import hardware

    if not isinstance(figures, dict) or not figures:
        raise ValueError("figures must be a non-empty dict of measured values")
    name = lesson_results_name(lesson, getattr(profile, "name", profile))
    if not force and os.environ.get(RECORD_ENV_VAR, "").strip() != "1":
        return None
    record = {
        "lesson": lesson,
        "profile": getattr(profile, "name", profile),
        "hardware": hardware(),
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d"),
        "command": f"python scripts/run_lessons.py --profile {getattr(profile, 'name', profile)} {lesson}",
        "figures": _plain(figures, "figures"),
    }
    folder = Path(directory) if directory is not None else RESULTS_DIR
    if directory is None and not folder.parent.is_dir():
        return None
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(record, indent=2, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
    return path
