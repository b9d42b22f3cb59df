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

Intentional duplicates: where writing a function is the exercise, the lesson's solution and the helper the
other lessons import hold the same logic on purpose (the checker compares the two). These pairs are:
00.1 ``helpers.tokenization.unk_rate``-style [UNK] lookup; 01.1 ``helpers.pretraining.mask_tokens``;
01.3 ``helpers.pretraining.pack_blocks``; 03.1 ``helpers.training.count_parameters``;
03.2 ``helpers.finetune_strategies.freeze_bottom_layers``; 04.3 ``helpers.regularization.FGM``;
05.1-05.3 transformers' logits processors; 06.1 ``helpers.control_codes.control_example``; 06.2 ``helpers.text_metrics.distinct_n``;
06.3 ``helpers.text_metrics.copies_stretch``; 07.1/07.2 ``helpers.ner.spans_to_bio`` / ``bio_to_spans``;
07.4 the checker's own span-counting F1 (a library-free reference next to seqeval's);
09.3 ``helpers.scaling.zero_bytes_per_device``; 11.x ``helpers.mechanisms``.
"""

from __future__ import annotations

from .core import CheckResult, Exercise, ExerciseFailed, check, list_exercises, register

# Importing the lesson modules registers their exercises.
from . import lesson00, lesson01, lesson02, lesson03, lesson04, lesson05, lesson06, lesson07, lesson08, lesson09, lesson11  # noqa: E402,F401

__all__ = ["CheckResult", "Exercise", "ExerciseFailed", "check", "list_exercises", "register"]
