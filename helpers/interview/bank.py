"""Reading and validating the interview-question bank."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

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

    @property
    def is_multiple_choice(self) -> bool:
        return bool(self.choices)

    @property
    def correct_index(self) -> int:
        """Index of the correct option (multiple choice only)."""
        return next(i for i, choice in enumerate(self.choices) if choice.correct)


def _bilingual(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise BankError(f"{where}: expected a mapping with 'zh' and 'en', got {type(value).__name__}")
    for lang in LANGUAGES:
        text = value.get(lang)
        if not isinstance(text, str) or not text.strip():
            raise BankError(f"{where}: the {lang!r} text is missing or empty")
    extra = set(value) - set(LANGUAGES)
    if extra:
        raise BankError(f"{where}: unknown language keys {sorted(extra)}")
    return {lang: value[lang].strip() for lang in LANGUAGES}


def parse_entry(raw: Any, source: str = "<entry>") -> Question:
    """Validate one raw YAML entry and turn it into a :class:`Question`."""
    if not isinstance(raw, dict):
        raise BankError(f"{source}: each entry must be a mapping, got {type(raw).__name__}")
    qid = raw.get("id")
    if not isinstance(qid, str) or not _ID.match(qid):
        raise BankError(f"{source}: id {qid!r} must be lowercase kebab-case, e.g. 'general-pretraining-purpose'")
    where = f"{source}:{qid}"
    allowed = {"id", "lesson", "topic", "difficulty", "tags", "question", "answer", "choices"}
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
                text=_bilingual(option.get("text"), f"{where} choice {i} text"),
                correct=option["correct"],
                why=_bilingual(option.get("why"), f"{where} choice {i} why"),
            )
        )
    if choices:
        if not 2 <= len(choices) <= 6:
            raise BankError(f"{where}: a multiple-choice question needs 2 to 6 options, has {len(choices)}")
        n_correct = sum(choice.correct for choice in choices)
        if n_correct != 1:
            raise BankError(f"{where}: exactly one option must be correct, found {n_correct}")
    return Question(
        id=qid,
        lesson=lesson,
        topic=topic,
        difficulty=difficulty,
        tags=tuple(tags),
        question=_bilingual(raw.get("question"), f"{where} question"),
        answer=_bilingual(raw.get("answer"), f"{where} answer"),
        choices=tuple(choices),
    )


def load_bank(directory: Path | str | None = None) -> list[Question]:
    """Every question in every ``*.yaml`` file of the bank, validated, ids unique."""
    folder = Path(directory) if directory is not None else QUESTIONS_DIR
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
            question = parse_entry(raw, path.name)
            if question.id in seen:
                raise BankError(f"{path.name}: id {question.id!r} already used in {seen[question.id]}")
            seen[question.id] = path.name
            questions.append(question)
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
