"""The machinery behind :func:`check`: a registry of exercises and uniform feedback."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


class ExerciseFailed(AssertionError):
    """The learner's answer is wrong. The message says what is wrong and gives a hint."""

    def _render_traceback_(self) -> list[str]:  # IPython hook: show the message, not a traceback
        return [f"\x1b[31m✗ {self}\x1b[0m"]


@dataclass(frozen=True)
class Exercise:
    """One exercise: its id (``"00.1"``), a title, and a checker that raises ExerciseFailed."""

    exercise_id: str
    title: str
    checker: Callable[[Any], str]  # returns a short success message


@dataclass(frozen=True)
class CheckResult:
    """What :func:`check` found. ``attempted`` is False while the answer is still the stub."""

    exercise_id: str
    passed: bool
    attempted: bool
    message: str


_REGISTRY: dict[str, Exercise] = {}


def register(exercise_id: str, title: str) -> Callable[[Callable[[Any], str]], Callable[[Any], str]]:
    """Decorator: register ``checker`` under ``exercise_id``."""

    def decorator(checker: Callable[[Any], str]) -> Callable[[Any], str]:
        if exercise_id in _REGISTRY:
            raise ValueError(f"exercise {exercise_id} registered twice")
        _REGISTRY[exercise_id] = Exercise(exercise_id, title, checker)
        return checker

    return decorator


def list_exercises() -> list[Exercise]:
    """All registered exercises, in id order."""
    return [_REGISTRY[key] for key in sorted(_REGISTRY)]


class NotAttempted(Exception):
    """Raised inside a checker when the learner's function is still the stub."""


def call_answer(function: Callable, *args: Any) -> Any:
    """Call the learner's function; turn its exceptions into specific feedback.

    ``NotImplementedError`` means "not attempted yet"; any other exception becomes an
    :class:`ExerciseFailed` that names the input and the error.
    """
    try:
        return function(*args)
    except NotImplementedError as error:
        raise NotAttempted(str(error)) from None
    except ExerciseFailed:
        raise
    except Exception as error:  # noqa: BLE001 - any learner error becomes feedback
        shown = ", ".join(_short(arg) for arg in args)
        raise ExerciseFailed(
            f"your function raised {type(error).__name__}: {error} when called with ({shown})."
        ) from error


def _short(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check(exercise_id: str, answer: Any) -> CheckResult:
    """Check ``answer`` for exercise ``exercise_id`` and print the outcome.

    Raises :class:`ExerciseFailed` for a wrong answer (so a solutions notebook fails loudly in CI),
    returns a :class:`CheckResult` otherwise.
    """
    if not isinstance(exercise_id, str) or exercise_id not in _REGISTRY:
        known = ", ".join(sorted(_REGISTRY))
        raise ValueError(f"Unknown exercise id {exercise_id!r}. Known exercises: {known}.")
    exercise = _REGISTRY[exercise_id]
    if answer is ...:
        message = f"Exercise {exercise_id} ({exercise.title}): not attempted yet. Replace the ... with your answer."
        print(f"○ {message}")
        return CheckResult(exercise_id, passed=False, attempted=False, message=message)
    try:
        success = exercise.checker(answer)
    except NotAttempted:
        message = (
            f"Exercise {exercise_id} ({exercise.title}): not attempted yet. Replace the "
            "`raise NotImplementedError` line with your code, run the cell, then this check again."
        )
        print(f"○ {message}")
        return CheckResult(exercise_id, passed=False, attempted=False, message=message)
    except ExerciseFailed as failure:
        raise ExerciseFailed(f"Exercise {exercise_id} ({exercise.title}): {failure}") from None
    message = f"Exercise {exercise_id} ({exercise.title}): correct. {success}"
    print(f"✓ {message}")
    return CheckResult(exercise_id, passed=True, attempted=True, message=message)


def expect_callable(answer: Any, name: str) -> None:
    """Fail with a clear message unless ``answer`` is a function."""
    if not callable(answer):
        raise ExerciseFailed(
            f"expected the function `{name}` itself, got a {type(answer).__name__}. "
            f"Pass the function without calling it: check(..., {name})."
        )
