"""Exercise checkers: one call tells a learner whether an answer is right, and if not, exactly why.

Usage in a lesson::

    from helpers.exercises import check
    check("00.1", unk_characters)

Three outcomes:

* the answer is still the stub (it raises ``NotImplementedError`` or is ``...``): a short note is
  printed and nothing fails, so "run all" on a fresh notebook still reaches the end;
* the answer is wrong: :class:`ExerciseFailed` is raised with what was wrong (type, shape, the value
  at which position) and a hint. In Jupyter it shows as one clean message, not a traceback;
* the answer is right: a confirmation is printed.

Each lesson's checkers live in ``helpers/exercises/lessonNN.py`` and register themselves here.
"""

from __future__ import annotations

from .core import CheckResult, Exercise, ExerciseFailed, check, list_exercises, register

# Importing the lesson modules registers their exercises.
from . import lesson00, lesson01, lesson02, lesson03, lesson04, lesson05, lesson06, lesson07, lesson09, lesson11  # noqa: E402,F401

__all__ = ["CheckResult", "Exercise", "ExerciseFailed", "check", "list_exercises", "register"]
