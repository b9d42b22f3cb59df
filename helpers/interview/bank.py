"""Reading and validating the interview-question bank.

Measured figures in the answers are placeholders filled from the package's figures snapshot
(:mod:`helpers.interview.figures`). The options of every multiple-choice question are shuffled with a seed, per
question, so the correct one is not always where the author wrote it; each option keeps its explanation.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping

import yaml

from .figures import FigureError, fill, read_snapshot

QUESTIONS_DIR = Path(__file__).resolve().parent / "questions"  # the YAML files, one per lesson
LANGUAGES = ("zh", "en")
TOPICS = (
    "general", "pretraining", "classification", "fine-tuning", "peft", "overfitting",
    "generation", "ner", "deployment", "scaling",
)
_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_LESSON = re.compile(r"^\d\d$")


class BankError(ValueError):
    """An entry of the bank breaks the schema; the message names the entry and the field."""


@dataclass(frozen=True)
class Choice:
    """One option of a multiple-choice question."""

    text: dict[str, str]
    correct: bool
    why: dict[str, str]


@dataclass(frozen=True)
class Question:
    """One interview question with its answer in Chinese and English."""

    id: str
    lesson: str
    topic: str
    difficulty: int
    tags: tuple[str, ...]
    question: dict[str, str]
    answer: dict[str, str]
    choices: tuple[Choice, ...] = ()
    constants: tuple[str, ...] = ()  # numbers quoted that are not course measurements (paper values, definitions)

    @property
    def is_multiple_choice(self) -> bool:
        return bool(self.choices)

    @property
    def correct_index(self) -> int:
        """Index of the correct option (multiple choice only)."""
        return next(i for i, choice in enumerate(self.choices) if choice.correct)


def _bilingual(value: Any, where: str, figures: Mapping[str, Any] | None = None) -> dict[str, str]:
    if not isinstance(value, dict):
        raise BankError(f"{where}: expected a mapping with 'zh' and 'en', got {type(value).__name__}")
    for lang in LANGUAGES:
        text = value.get(lang)
        if not isinstance(text, str) or not text.strip():
            raise BankError(f"{where}: the {lang!r} text is missing or empty")
    extra = set(value) - set(LANGUAGES)
    if extra:
        raise BankError(f"{where}: unknown language keys {sorted(extra)}")
    try:
        return {lang: fill(value[lang].strip(), lang, figures if figures is not None else {}, where)
                for lang in LANGUAGES}
    except FigureError as error:
        raise BankError(str(error)) from None


def parse_entry(raw: Any, source: str = "<entry>", figures: Mapping[str, Any] | None = None) -> Question:
    """Validate one raw YAML entry and turn it into a :class:`Question`.

    Placeholders of measured figures are filled from ``figures`` (default: the package's snapshot).
    """
    if figures is None:
        figures = read_snapshot()
    if not isinstance(raw, dict):
        raise BankError(f"{source}: each entry must be a mapping, got {type(raw).__name__}")
    qid = raw.get("id")
    if not isinstance(qid, str) or not _ID.match(qid):
        raise BankError(f"{source}: id {qid!r} must be lowercase kebab-case, e.g. 'general-pretraining-purpose'")
    where = f"{source}:{qid}"
    allowed = {"id", "lesson", "topic", "difficulty", "tags", "question", "answer", "choices", "constants"}
    unknown = set(raw) - allowed
    if unknown:
        raise BankError(f"{where}: unknown fields {sorted(unknown)}")
    lesson = raw.get("lesson")
    if not isinstance(lesson, str) or not _LESSON.match(lesson):
        raise BankError(f"{where}: lesson must be a two-digit string like \"00\", got {lesson!r}")
    topic = raw.get("topic")
    if topic not in TOPICS:
        raise BankError(f"{where}: topic {topic!r} is not one of {TOPICS}")
    difficulty = raw.get("difficulty")
    if difficulty not in (1, 2, 3) or isinstance(difficulty, bool):
        raise BankError(f"{where}: difficulty must be 1, 2 or 3, got {difficulty!r}")
    tags = raw.get("tags")
    if not isinstance(tags, list) or not tags or not all(isinstance(t, str) and _ID.match(t) for t in tags):
        raise BankError(f"{where}: tags must be a non-empty list of lowercase words")
    choices_raw = raw.get("choices", [])
    if not isinstance(choices_raw, list):
        raise BankError(f"{where}: choices must be a list")
    choices = []
    for i, option in enumerate(choices_raw):
        if not isinstance(option, dict) or not isinstance(option.get("correct"), bool):
            raise BankError(f"{where}: choice {i} needs text, correct (true/false) and why")
        choices.append(
            Choice(
                text=_bilingual(option.get("text"), f"{where} choice {i} text", figures),
                correct=option["correct"],
                why=_bilingual(option.get("why"), f"{where} choice {i} why", figures),
            )
        )
    if choices:
        if not 2 <= len(choices) <= 6:
            raise BankError(f"{where}: a multiple-choice question needs 2 to 6 options, has {len(choices)}")
        n_correct = sum(choice.correct for choice in choices)
        if n_correct != 1:
            raise BankError(f"{where}: exactly one option must be correct, found {n_correct}")
    constants = raw.get("constants", [])
    if not isinstance(constants, list) or not all(isinstance(c, str) and c.strip() for c in constants):
        raise BankError(f"{where}: constants must be a list of the literal numbers (as strings) that are not "
                        "course measurements, e.g. ['15%', '80%']")
    return Question(
        id=qid,
        lesson=lesson,
        topic=topic,
        difficulty=difficulty,
        tags=tuple(tags),
        question=_bilingual(raw.get("question"), f"{where} question", figures),
        answer=_bilingual(raw.get("answer"), f"{where} answer", figures),
        choices=tuple(choices),
        constants=tuple(constants),
    )


def shuffle_choices(question: Question, seed: int = 0) -> Question:
    """The same question with its options in a seeded random order (each keeps its explanation).

    The order depends on ``seed`` and the question's id only, so it is the same on every machine and run, and
    differs from question to question.
    """
    if not question.choices:
        return question
    order = list(range(len(question.choices)))
    random.Random(f"{seed}:{question.id}").shuffle(order)
    return replace(question, choices=tuple(question.choices[i] for i in order))


def load_bank(directory: Path | str | None = None, option_seed: int | None = 0) -> list[Question]:
    """Every question in every ``*.yaml`` file of the bank, validated, ids unique, figures filled in.

    ``option_seed`` shuffles the options of each multiple-choice question (:func:`shuffle_choices`); ``None``
    keeps the order written in the YAML.
    """
    if option_seed is not None and (not isinstance(option_seed, int) or isinstance(option_seed, bool)):
        raise ValueError(f"option_seed must be an int or None, got {option_seed!r}")
    folder = Path(directory) if directory is not None else QUESTIONS_DIR
    figures = read_snapshot()
    files = sorted(folder.glob("*.yaml"))
    if not files:
        raise BankError(f"no *.yaml files in {folder}")
    questions: list[Question] = []
    seen: dict[str, str] = {}
    for path in files:
        entries = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(entries, list):
            raise BankError(f"{path.name}: the file must hold a YAML list of entries")
        for raw in entries:
            question = parse_entry(raw, path.name, figures)
            if question.id in seen:
                raise BankError(f"{path.name}: id {question.id!r} already used in {seen[question.id]}")
            seen[question.id] = path.name
            questions.append(question if option_seed is None else shuffle_choices(question, option_seed))
    return questions


def select_questions(
    questions: list[Question],
    lesson: str | None = None,
    topic: str | None = None,
    max_difficulty: int | None = None,
    n: int | None = None,
    seed: int | None = None,
) -> list[Question]:
    """Filter by lesson, topic and difficulty; optionally draw ``n`` at random (seeded)."""
    if lesson is not None and (not isinstance(lesson, str) or not _LESSON.match(lesson)):
        raise ValueError(f"lesson must be a two-digit string like '00', got {lesson!r}")
    if topic is not None and topic not in TOPICS:
        raise ValueError(f"topic {topic!r} is not one of {TOPICS}")
    chosen = [
        q for q in questions
        if (lesson is None or q.lesson == lesson)
        and (topic is None or q.topic == topic)
        and (max_difficulty is None or q.difficulty <= max_difficulty)
    ]
    if seed is not None:
        random.Random(seed).shuffle(chosen)
    if n is not None:
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        chosen = chosen[:n]
    return chosen


def mock_interview(questions: list[Question], n: int = 10, seed: int = 0,
                   max_difficulty: int | None = None) -> list[Question]:
    """A mock interview: ``n`` questions drawn round-robin across topics (seeded), easy to hard.

    Drawing topic by topic keeps one well-stocked topic from filling the whole interview.
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    pool = [q for q in questions if max_difficulty is None or q.difficulty <= max_difficulty]
    if not pool:
        raise ValueError("no questions match; raise max_difficulty")
    rng = random.Random(seed)
    by_topic: dict[str, list[Question]] = {}
    for question in pool:
        by_topic.setdefault(question.topic, []).append(question)
    for items in by_topic.values():
        rng.shuffle(items)
    topics = sorted(by_topic)
    rng.shuffle(topics)
    chosen: list[Question] = []
    while len(chosen) < min(n, len(pool)):
        for topic in topics:
            if by_topic[topic] and len(chosen) < n:
                chosen.append(by_topic[topic].pop())
    return sorted(chosen, key=lambda q: (q.difficulty, q.lesson))


def study_plan(questions: list[Question]) -> list[dict]:
    """Per topic: which lessons demonstrate it and how many questions (by difficulty) it has."""
    plan: dict[str, dict] = {}
    for question in questions:
        row = plan.setdefault(question.topic, {"topic": question.topic, "lessons": set(), "questions": 0,
                                               "easy": 0, "medium": 0, "hard": 0, "multiple choice": 0})
        row["lessons"].add(question.lesson)
        row["questions"] += 1
        row[("easy", "medium", "hard")[question.difficulty - 1]] += 1
        row["multiple choice"] += question.is_multiple_choice
    return [{**row, "lessons": ", ".join(sorted(row["lessons"]))} for row in
            sorted(plan.values(), key=lambda r: min(r["lessons"]))]
