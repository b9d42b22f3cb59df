"""The machinery behind :func:`check`: a registry of exercises, uniform feedback, and the tools checkers share.

How every checker works (so that a learner cannot fool it and a right answer is never refused):

* it compares the learner's function with a reference on **fixed edge cases** that separate the usual wrong
  ideas (each named in the checker's docstring) and on **seeded random inputs** (``seed`` picks them; the
  notebook uses seed 0, the property-based tests in ``tests/test_exercise_properties.py`` many others);
* it accepts every correct answer: numbers within a tolerance that fits the input's dtype
  (:func:`tolerance`), results in any floating dtype that holds the right values, any valid tie-break;
* whatever the learner's code does (raise, return the wrong type, print, change its input), the checker raises
  only :class:`ExerciseFailed` (wrong) or :class:`NotAttempted` (still the stub). :func:`run_checker` turns an
  unexpected error inside a checker into an :class:`ExerciseFailed` as a last resort; the tests make sure no
  wrong answer they know of ever needs it.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np


class ExerciseFailed(AssertionError):
    """The learner's answer is wrong. The message says what is wrong and gives a hint."""

    def _render_traceback_(self) -> list[str]:  # IPython hook: show the message, not a traceback
        return [f"\x1b[31m✗ {self}\x1b[0m"]


class NotAttempted(Exception):
    """Raised inside a checker when the learner's function is still the stub."""


@dataclass(frozen=True)
class Exercise:
    """One exercise: its id (``"00.1"``), a title, and a checker ``checker(answer, seed)`` that raises ExerciseFailed."""

    exercise_id: str
    title: str
    checker: Callable[..., str]  # returns a short success message


@dataclass(frozen=True)
class CheckResult:
    """What :func:`check` found. ``attempted`` is False while the answer is still the stub."""

    exercise_id: str
    passed: bool
    attempted: bool
    message: str


_REGISTRY: dict[str, Exercise] = {}

# The start of the message of the last-resort net in run_checker (tests assert that no known answer reaches it).
UNEXPECTED = "the check could not use your answer"


def register(exercise_id: str, title: str) -> Callable[[Callable[..., str]], Callable[..., str]]:
    """Decorator: register ``checker(answer, seed=0)`` under ``exercise_id``."""

    def decorator(checker: Callable[..., str]) -> Callable[..., str]:
        if exercise_id in _REGISTRY:
            raise ValueError(f"exercise {exercise_id} registered twice")
        _REGISTRY[exercise_id] = Exercise(exercise_id, title, checker)
        return checker

    return decorator


def list_exercises() -> list[Exercise]:
    """All registered exercises, in id order."""
    return [_REGISTRY[key] for key in sorted(_REGISTRY)]


def get_exercise(exercise_id: str) -> Exercise:
    """The registered exercise, or a ValueError listing the known ids."""
    if not isinstance(exercise_id, str) or exercise_id not in _REGISTRY:
        known = ", ".join(sorted(_REGISTRY))
        raise ValueError(f"Unknown exercise id {exercise_id!r}. Known exercises: {known}.")
    return _REGISTRY[exercise_id]


def _is_stub_error(error: NotImplementedError) -> bool:
    """A stub raises NotImplementedError("Exercise NN.k: ...") or a bare one; a library's own is an error."""
    text = str(error).strip()
    return not text or text.startswith("Exercise")


def call_answer(function: Callable, *args: Any, hint: str = "") -> Any:
    """Call the learner's function; turn its exceptions into specific feedback.

    ``NotImplementedError`` from the stub means "not attempted yet"; any other exception becomes an
    :class:`ExerciseFailed` that names the input and the error (plus ``hint``, if given).
    """
    try:
        return function(*args)
    except NotImplementedError as error:
        if _is_stub_error(error):
            raise NotAttempted(str(error)) from None
        raise ExerciseFailed(_raised(function, args, error, hint)) from error
    except (ExerciseFailed, NotAttempted):
        raise
    except Exception as error:  # noqa: BLE001 - any learner error becomes feedback
        raise ExerciseFailed(_raised(function, args, error, hint)) from error


def _raised(function: Callable, args: tuple, error: BaseException, hint: str) -> str:
    shown = ", ".join(short(arg) for arg in args)
    name = getattr(function, "__name__", "your function")
    message = f"{name} raised {type(error).__name__}: {error} when called with ({shown})."
    return f"{message} {hint}" if hint else message


def short(value: Any, limit: int = 60) -> str:
    """A one-line description of a value, at most ``limit`` characters (tensors by shape and dtype)."""
    try:
        import torch

        if isinstance(value, torch.Tensor):
            text = f"tensor of shape {tuple(value.shape)}, {value.dtype}"
            return text if value.numel() > 8 else f"{value.tolist()!r} ({value.dtype})"
        if isinstance(value, torch.nn.Module):
            return f"a {type(value).__name__}"
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape}, {value.dtype}"
    if hasattr(value, "get_vocab") and hasattr(value, "encode"):
        return "the tokenizer"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe(value: Any) -> str:
    """The type of a value in words, for "expected X, got Y" messages."""
    try:
        import torch

        if isinstance(value, torch.Tensor):
            return f"a tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
    except ImportError:  # pragma: no cover
        pass
    if isinstance(value, np.ndarray):
        return f"a NumPy array of shape {value.shape} and dtype {value.dtype}"
    return f"a {type(value).__name__} ({short(value, 40)})"


def run_checker(exercise_id: str, answer: Any, seed: int = 0) -> str:
    """Run one checker on ``answer`` with random inputs drawn from ``seed``; return its success message.

    Raises :class:`ExerciseFailed` or :class:`NotAttempted` only. A checker that trips over something
    unforeseen in the answer still gives the learner an :class:`ExerciseFailed` (starting with
    :data:`UNEXPECTED`) instead of a traceback from inside the checker.
    """
    exercise = get_exercise(exercise_id)
    try:
        return exercise.checker(answer, seed=seed)
    except (ExerciseFailed, NotAttempted):
        raise
    except Exception as error:  # noqa: BLE001 - the last-resort net: never a raw traceback for a learner's answer
        raise ExerciseFailed(
            f"{UNEXPECTED} ({type(error).__name__}: {error}). Check that your function returns what the "
            "exercise asks for: the type, the shape, the keys."
        ) from error


def check(exercise_id: str, answer: Any) -> CheckResult:
    """Check ``answer`` for exercise ``exercise_id`` and print the outcome.

    Raises :class:`ExerciseFailed` for a wrong answer (so a solutions notebook fails loudly in CI),
    returns a :class:`CheckResult` otherwise.
    """
    exercise = get_exercise(exercise_id)
    if answer is ...:
        message = f"Exercise {exercise_id} ({exercise.title}): not attempted yet. Replace the ... with your answer."
        print(f"○ {message}")
        return CheckResult(exercise_id, passed=False, attempted=False, message=message)
    try:
        success = run_checker(exercise_id, answer)
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
            f"expected the function `{name}` itself, got {describe(answer)}. "
            f"Pass the function without calling it: check(..., {name})."
        )


def rng(seed: int, salt: str = "") -> random.Random:
    """A ``random.Random`` for a checker's random cases: the same (seed, salt) always gives the same cases."""
    return random.Random(f"{seed}/{salt}")


def torch_generator(seed: int, salt: str = ""):
    """A ``torch.Generator`` seeded from (seed, salt), for random tensors."""
    import torch

    return torch.Generator().manual_seed(rng(seed, salt).randrange(2**62))


def tolerance(dtype: Any) -> float:
    """Relative/absolute tolerance that a correct computation in ``dtype`` meets (float16 is coarse)."""
    import torch

    names = {torch.float16: 1e-2, torch.bfloat16: 5e-2, torch.float32: 1e-4, torch.float64: 1e-7}
    if dtype in names:
        return names[dtype]
    return {np.float16: 1e-2, np.float32: 1e-4, np.float64: 1e-7}.get(getattr(dtype, "type", dtype), 1e-4)


def as_number(value: Any, what: str) -> float:
    """``value`` as a Python float (int, float, NumPy scalar, one-element tensor or array), else ExerciseFailed.

    NaN is refused with its own message: no exercise has NaN as its answer, and ``abs(nan - x) > tol`` is False.
    """
    if isinstance(value, bool):
        raise ExerciseFailed(f"{what} is {value!r}, a bool; expected a number.")
    try:
        import torch

        if isinstance(value, torch.Tensor):
            if value.numel() != 1:
                raise ExerciseFailed(f"{what} is {describe(value)}; expected a single number.")
            value = value.detach().cpu().double().item()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(value, np.ndarray):
        if value.size != 1:
            raise ExerciseFailed(f"{what} is {describe(value)}; expected a single number.")
        value = value.reshape(()).item()
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_)):
        if math.isnan(float(value)):
            raise ExerciseFailed(f"{what} is NaN (not a number): look for a division by zero or a log of 0.")
        return float(value)
    raise ExerciseFailed(f"{what} is {describe(value)}; expected a number.")


def as_bool(value: Any, what: str) -> bool:
    """``value`` as a bool when it is one (Python or NumPy bool, or a one-element bool tensor), else ExerciseFailed."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    try:
        import torch

        if isinstance(value, torch.Tensor) and value.dtype == torch.bool and value.numel() == 1:
            return bool(value.item())
    except ImportError:  # pragma: no cover
        pass
    raise ExerciseFailed(f"{what} is {describe(value)}; return True or False.")


def as_int_list(value: Any, what: str) -> list[int]:
    """A flat list of Python ints from a list/tuple of integers, a 1-D integer tensor or array."""
    try:
        import torch

        if isinstance(value, torch.Tensor):
            if value.dtype.is_floating_point or value.dtype == torch.bool or value.dim() != 1:
                raise ExerciseFailed(f"{what} is {describe(value)}; expected a flat list of int token ids.")
            return [int(v) for v in value.tolist()]
    except ImportError:  # pragma: no cover
        pass
    if isinstance(value, np.ndarray):
        if value.ndim != 1 or not np.issubdtype(value.dtype, np.integer):
            raise ExerciseFailed(f"{what} is {describe(value)}; expected a flat list of int token ids.")
        return [int(v) for v in value.tolist()]
    if not isinstance(value, (list, tuple)):
        raise ExerciseFailed(f"{what} is {describe(value)}; expected a list of ints.")
    result = []
    for item in value:
        if isinstance(item, (bool, np.bool_)) or not isinstance(item, (int, np.integer)):
            raise ExerciseFailed(f"{what} holds {short(item)} ({type(item).__name__}); expected only ints (token ids).")
        result.append(int(item))
    return result


def close(a: float, b: float, tol: float) -> bool:
    """``a`` and ``b`` agree within ``tol``, absolutely or relatively; NaN never agrees."""
    if math.isnan(a) or math.isnan(b):
        return False
    return abs(a - b) <= tol * max(1.0, abs(b))
