import subprocess
import sys

import pytest

from helpers.interview import BankError, load_bank, parse_entry, select_questions
from helpers.interview import quiz
from helpers.interview.bank import LANGUAGES, TOPICS, shuffle_choices


@pytest.fixture(scope="module")
def bank():
    return load_bank()


def valid_entry(**changes):
    entry = {
        "id": "demo-question", "lesson": "00", "topic": "general", "difficulty": 2, "tags": ["demo"],
        "question": {"zh": "问题？", "en": "Question?"}, "answer": {"zh": "答案。", "en": "Answer."},
        "choices": [
            {"text": {"zh": "甲", "en": "A"}, "correct": True, "why": {"zh": "对", "en": "right"}},
            {"text": {"zh": "乙", "en": "B"}, "correct": False, "why": {"zh": "错", "en": "wrong"}},
        ],
    }
    entry.update(changes)
    return entry


def test_every_entry_is_bilingual_and_ids_are_unique(bank):
    assert len({q.id for q in bank}) == len(bank)
    for question in bank:
        for lang in LANGUAGES:
            assert question.question[lang] and question.answer[lang]
        assert question.topic in TOPICS


def test_multiple_choice_entries_have_exactly_one_correct_option(bank):
    choice_questions = [q for q in bank if q.is_multiple_choice]
    assert choice_questions
    for question in choice_questions:
        assert sum(c.correct for c in question.choices) == 1
        assert all(c.why["zh"] and c.why["en"] for c in question.choices)


def test_lesson_00_covers_the_seed_general_questions(bank):
    lesson = {q.id for q in select_questions(bank, lesson="00")}
    for needed in ("general-pretraining-purpose", "general-finetuning-purpose",
                   "general-finetuning-vs-transfer-learning", "general-finetuning-dataset-selection"):
        assert needed in lesson


def test_valid_entry_parses():
    question = parse_entry(valid_entry())
    assert question.is_multiple_choice and question.correct_index == 0


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"question": {"zh": "问题？"}}, "'en' text is missing"),
        ({"answer": {"zh": "", "en": "x"}}, "'zh' text is missing"),
        ({"id": "Bad Id"}, "kebab-case"),
        ({"difficulty": 5}, "difficulty"),
        ({"lesson": 0}, "two-digit"),
        ({"topic": "cooking"}, "topic"),
        ({"tags": []}, "tags"),
        ({"surprise": 1}, "unknown fields"),
    ],
)
def test_schema_errors_name_the_problem(changes, message):
    with pytest.raises(BankError, match=message):
        parse_entry(valid_entry(**changes))


def test_two_correct_options_rejected():
    entry = valid_entry()
    entry["choices"][1]["correct"] = True
    with pytest.raises(BankError, match="exactly one option"):
        parse_entry(entry)


def test_option_without_explanation_rejected():
    entry = valid_entry()
    del entry["choices"][0]["why"]
    with pytest.raises(BankError, match="why"):
        parse_entry(entry)


def test_duplicate_ids_across_files_rejected(tmp_path):
    import yaml

    for name in ("a.yaml", "b.yaml"):
        (tmp_path / name).write_text(yaml.safe_dump([valid_entry()], allow_unicode=True), encoding="utf-8")
    with pytest.raises(BankError, match="already used"):
        load_bank(tmp_path)


def test_select_questions_filters_and_is_seeded(bank):
    first = select_questions(bank, lesson="00", n=3, seed=1)
    assert [q.id for q in first] == [q.id for q in select_questions(bank, lesson="00", n=3, seed=1)]
    assert len(first) == 3 and all(q.lesson == "00" for q in first)
    assert all(q.difficulty <= 1 for q in select_questions(bank, max_difficulty=1))
    with pytest.raises(ValueError, match="two-digit"):
        select_questions(bank, lesson="0")
    with pytest.raises(ValueError, match="topic"):
        select_questions(bank, topic="cooking")


def test_plain_text_shows_one_or_both_languages():
    question = parse_entry(valid_entry())
    both = quiz.format_question(question, "both")
    assert "问题？" in both and "Question?" in both and "Correct option: A" in both
    english = quiz.format_question(question, "en", reveal=False)
    assert "问题？" not in english and "Answer." not in english
    with pytest.raises(ValueError, match="lang"):
        quiz.format_question(question, "fr")


def test_plain_fallback_hides_answers_until_asked(monkeypatch, capsys, bank):
    monkeypatch.setenv("COURSE_PLAIN_QUIZ", "1")
    assert quiz.flashcards(bank[:2]) is None
    assert quiz.multiple_choice(bank) is None
    hidden = capsys.readouterr().out
    assert "Q:" in hidden and "A:" not in hidden and "Correct option" not in hidden and "reveal=True" in hidden
    quiz.flashcards(bank[:2], reveal=True)
    quiz.multiple_choice(bank, reveal=True)
    shown = capsys.readouterr().out
    assert "A: " in shown and "Correct option" in shown
    quiz.reveal_answers(bank[:2], lang="en")
    assert capsys.readouterr().out.count("A: ") == 2
    with pytest.raises(ValueError, match="at least one"):
        quiz.reveal_answers([])


def test_widget_text_fallback_hides_answers(monkeypatch, bank):
    monkeypatch.setattr(quiz, "_widgets_wanted", lambda: True)
    plains = []
    monkeypatch.setattr(quiz, "_display", lambda widget, plain: plains.append(plain))
    quiz.flashcards(bank[:3])
    quiz.multiple_choice([q for q in bank if q.is_multiple_choice][:3])
    assert plains and all("A: " not in plain and "Correct option" not in plain for plain in plains)


def test_options_are_shuffled_per_question_and_keep_their_explanations(bank):
    written = {q.id: q for q in load_bank(option_seed=None)}
    moved = 0
    for question in (q for q in bank if q.is_multiple_choice):
        original = written[question.id]
        assert sorted(map(repr, question.choices)) == sorted(map(repr, original.choices))  # each why stays with its option
        assert question.choices[question.correct_index] == original.choices[original.correct_index]
        moved += question.choices != original.choices
    assert moved >= 20
    assert [q.choices for q in load_bank()] == [q.choices for q in bank]  # seeded: the same every time
    assert [q.choices for q in load_bank(option_seed=1)] != [q.choices for q in bank]
    with pytest.raises(ValueError, match="option_seed"):
        load_bank(option_seed="0")


def test_correct_options_are_spread_over_the_positions(bank):
    from collections import Counter

    four = [q for q in bank if len(q.choices) == 4]
    assert len(four) >= 30
    positions = Counter(q.correct_index for q in four)
    assert all(0.1 <= positions[i] / len(four) <= 0.4 for i in range(4)), positions
    assert (positions[0] + positions[1]) / len(four) <= 0.65, positions
    # over many seeds every position is equally likely
    shares = Counter()
    for seed in range(20):
        shares.update(shuffle_choices(q, seed).correct_index for q in four)
    total = sum(shares.values())
    assert all(abs(shares[i] / total - 0.25) < 0.05 for i in range(4)), shares


def test_flashcard_widget_reveals_and_moves(monkeypatch):
    monkeypatch.setattr(quiz, "_widgets_wanted", lambda: True)
    shown = []
    monkeypatch.setattr(quiz, "_display", lambda widget, plain: shown.append(plain))
    deck = [parse_entry(valid_entry()), parse_entry(valid_entry(id="second-question"))]
    box = quiz.flashcards(deck, lang="en")
    language, card, buttons = box.children
    previous, reveal, following, position = buttons.children
    assert "Answer." not in card.value and position.value == "1 / 2"
    reveal.click()
    assert "Answer." in card.value
    following.click()
    assert "second-question" in card.value and "Answer." not in card.value
    language.value = "zh"
    assert "问题？" in card.value
    assert "Question?" in shown[0]  # the text/plain fallback holds the content


def test_multiple_choice_widget_scores(monkeypatch):
    monkeypatch.setattr(quiz, "_widgets_wanted", lambda: True)
    monkeypatch.setattr(quiz, "_display", lambda widget, plain: None)
    box = quiz.multiple_choice([parse_entry(valid_entry())], lang="both")
    row, score = box.children
    prompt, radio, button, feedback = row.children
    button.click()
    assert "Pick an option" in feedback.value
    radio.value = 1
    button.click()
    assert "Not quite" in feedback.value and score.value.startswith("Score 得分: 0 / 1")
    radio.value = 0
    button.click()
    assert "Correct" in feedback.value and score.value.startswith("Score 得分: 1 / 1")


def test_errors_for_empty_selections():
    with pytest.raises(ValueError, match="at least one"):
        quiz.flashcards([])
    with pytest.raises(ValueError, match="multiple-choice"):
        quiz.multiple_choice([parse_entry(valid_entry(choices=[]))])
    with pytest.raises(ValueError, match="no interview questions"):
        quiz.show_lesson_questions("98")


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "helpers.interview", *args], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=120)


def test_terminal_drill_works_without_stdin_and_puts_answers_after_questions():
    result = run_cli("--lesson", "00", "-n", "2", "--lang", "en")
    assert result.returncode == 0, result.stderr
    questions, answers = result.stdout.split("=== Answers")
    assert questions.count("Q: ") == 2 and "A: " not in questions
    assert answers.count("A: ") == 2
    listed = run_cli("--lesson", "00", "-n", "2", "--lang", "en", "--list")
    assert listed.returncode == 0 and listed.stdout.count("A: ") == 2 and "=== Answers" not in listed.stdout


def test_terminal_drill_rejects_bad_lesson():
    result = run_cli("--lesson", "0")
    assert result.returncode == 2 and "two-digit" in result.stderr


def test_mock_interview_spreads_over_topics_and_is_seeded(bank):
    from helpers.interview import mock_interview

    drawn = mock_interview(bank, n=8, seed=3)
    assert len(drawn) == 8 and len({q.id for q in drawn}) == 8
    assert len({q.topic for q in drawn}) >= min(5, len({q.topic for q in bank}))
    assert [q.id for q in drawn] == [q.id for q in mock_interview(bank, n=8, seed=3)]
    assert [q.difficulty for q in drawn] == sorted(q.difficulty for q in drawn)
    assert all(q.difficulty == 1 for q in mock_interview(bank, n=5, max_difficulty=1))
    assert len(mock_interview(bank, n=10_000)) == len(bank)
    with pytest.raises(ValueError, match="positive int"):
        mock_interview(bank, n=0)


def test_study_plan_counts_every_question(bank):
    from helpers.interview import study_plan

    plan = study_plan(bank)
    assert sum(row["questions"] for row in plan) == len(bank)
    assert all(row["easy"] + row["medium"] + row["hard"] == row["questions"] for row in plan)
    assert {row["topic"] for row in plan} == {q.topic for q in bank}
