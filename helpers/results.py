"""Figures a lesson measured, handed to the results page when the lesson runs as a benchmark.

A lesson calls :func:`record_figures` next to the cell that shows a number. In JupyterLab or Colab nothing
happens; when ``scripts/run_lessons.py`` executes the lesson it sets ``COURSE_FIGURES_FILE``, and the figures
land in ``bench/results/lesson_figures.json`` (per profile and lesson), from which ``RESULTS.md`` is generated.
So the page quotes exactly what the code measured, and a test fails if the page drifts from the file.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

FIGURES_ENV_VAR = "COURSE_FIGURES_FILE"


def _plain(value: Any) -> Any:
    """JSON-ready copy: NumPy/torch scalars to Python numbers, tuples to lists, NaN to None."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 6)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    raise TypeError(f"cannot record a {type(value).__name__} as a figure; pass numbers, strings, lists or dicts")


def record_figures(lesson: str, **figures: Any) -> None:
    """Save ``figures`` under ``lesson`` in the file named by ``COURSE_FIGURES_FILE``; a no-op when it is unset."""
    if not isinstance(lesson, str) or not lesson:
        raise ValueError(f"lesson must be a non-empty str such as '02', got {lesson!r}")
    path = os.environ.get(FIGURES_ENV_VAR)
    if not path:
        return
    file = Path(path)
    data = json.loads(file.read_text(encoding="utf-8")) if file.is_file() else {}
    data.setdefault(lesson, {}).update(_plain(figures))
    file.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
