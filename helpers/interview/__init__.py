"""The bilingual interview-question bank (面试题库) and ways to drill it.

Questions live in YAML files under ``helpers/interview/questions/``, one file per lesson. Each entry::

    - id: general-pretraining-purpose   # unique, lowercase kebab-case
      lesson: "00"                       # the lesson that demonstrates the answer
      topic: general                     # one of TOPICS
      difficulty: 1                      # 1 easy, 2 medium, 3 hard
      tags: [pretraining, basics]
      constants: ["15%"]                 # optional: numbers quoted that are NOT course measurements
      question: {zh: ..., en: ...}
      answer:   {zh: ..., en: ...}       # a measured figure is a placeholder: {{results/<file>.json:<path>:<format>}}
      choices:                           # optional: multiple choice, exactly one correct
        - text: {zh: ..., en: ...}
          correct: true
          why: {zh: ..., en: ...}        # why this option is right or wrong

:func:`load_bank` reads and validates every file, fills the measured figures in from the snapshot of
``bench/results`` (:mod:`helpers.interview.figures`; ``python -m helpers.interview.figures`` refreshes it) and
shuffles each question's options with a seed; :mod:`helpers.interview.quiz` shows flashcards and quizzes in
Jupyter (ipywidgets, with a plain-text fallback that hides answers until revealed); ``python -m helpers.interview``
drills in a terminal.
"""

from .bank import TOPICS, BankError, Choice, Question, load_bank, mock_interview, parse_entry, select_questions, study_plan

__all__ = ["TOPICS", "BankError", "Choice", "Question", "load_bank", "mock_interview", "parse_entry", "select_questions",
           "study_plan"]
