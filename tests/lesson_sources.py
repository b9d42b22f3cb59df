"""Test utilities: build lesson notebooks in memory and pull solved exercise functions out of them."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from scripts import build_lessons

ROOT = Path(__file__).resolve().parents[1]


@lru_cache(maxsize=None)
def exercise_namespace(lesson_stem: str, target: str = "solutions") -> dict:
    """Execute the cells tagged ``exercise`` of one lesson (solved or stub version); return their names."""
    notebook = build_lessons.build(ROOT / "lessons" / f"{lesson_stem}.py", target)
    namespace: dict = {}
    for cell in notebook.cells:
        if cell.cell_type == "code" and "exercise" in cell.metadata.get("tags", []):
            exec(compile(cell.source, f"<{lesson_stem} exercise>", "exec"), namespace)
    return namespace


def failure(exercise_id: str, answer) -> str:
    """The message check() raises for a wrong answer (the test fails if it does not raise)."""
    import pytest

    from helpers.exercises import ExerciseFailed, check

    with pytest.raises(ExerciseFailed) as info:
        check(exercise_id, answer)
    return str(info.value)
