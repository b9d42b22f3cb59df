"""Flashcards and multiple-choice quizzes for the interview bank.

In Jupyter they are ipywidgets (language switch, reveal button, scored multiple choice). Where
widgets cannot render, in a terminal, on GitHub, or in a notebook executed by CI, the same content
is shown as plain text: every widget is displayed with a ``text/plain`` fallback that holds the
questions and options. Answers stay hidden in plain text until asked for: call the same function again with
``reveal=True``, or :func:`reveal_answers` with the same questions.
"""

from __future__ import annotations

import os
from typing import Iterable

from .bank import Question, load_bank, select_questions

LANG_CHOICES = ("zh", "en", "both")
_LANG_LABEL = {"zh": "中文", "en": "English"}


def _check_lang(lang: str) -> str:
    if lang not in LANG_CHOICES:
        raise ValueError(f"lang must be one of {LANG_CHOICES}, got {lang!r}")
    return lang


def _langs(lang: str) -> tuple[str, ...]:
    return ("zh", "en") if _check_lang(lang) == "both" else (lang,)


def _bilingual_text(texts: dict[str, str], lang: str, indent: str = "") -> str:
    return "\n".join(f"{indent}{texts[code]}" for code in _langs(lang))


def format_question(question: Question, lang: str = "both", reveal: bool = True) -> str:
    """A question as plain text: header, question, options (if any) and, with ``reveal``, the answer."""
    stars = "★" * question.difficulty + "☆" * (3 - question.difficulty)
    lines = [f"[{question.id}] lesson {question.lesson} · {question.topic} · {stars}"]
    lines.append(_bilingual_text(question.question, lang, "Q: "))
    for i, choice in enumerate(question.choices):
        lines.append(f"  {chr(65 + i)}. " + " / ".join(choice.text[code] for code in _langs(lang)))
    if reveal:
        if question.is_multiple_choice:
            lines.append(f"Correct option: {chr(65 + question.correct_index)}")
            for i, choice in enumerate(question.choices):
                lines.append(_bilingual_text(choice.why, lang, f"  {chr(65 + i)} {'✓' if choice.correct else '✗'} "))
        lines.append(_bilingual_text(question.answer, lang, "A: "))
    return "\n".join(lines)


def plain_questions(questions: Iterable[Question], lang: str = "both", reveal: bool = False) -> str:
    """The plain-text version of a deck: questions and options; answers only with ``reveal``."""
    deck = list(questions)
    text = "\n\n".join(format_question(q, lang, reveal=reveal) for q in deck)
    if not reveal:
        text += ("\n\n(Answers hidden. Answer aloud first, then call the same function with reveal=True, or "
                 "reveal_answers(questions). 答案已隐藏：先自己回答，再用 reveal=True 显示。)")
    return text


def reveal_answers(questions: Iterable[Question], lang: str = "both") -> None:
    """Print the answers (and, for multiple choice, why each option is right or wrong) of ``questions``."""
    deck = list(questions)
    _check_lang(lang)
    if not deck:
        raise ValueError("reveal_answers needs at least one question")
    print(plain_questions(deck, lang, reveal=True))


def _widgets_wanted() -> bool:
    """True inside a Jupyter kernel, unless COURSE_PLAIN_QUIZ=1 asks for text."""
    if os.environ.get("COURSE_PLAIN_QUIZ", "").strip() == "1":
        return False
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def _display(widget, plain: str) -> None:
    """Display ``widget`` with ``plain`` as its text/plain fallback."""
    from IPython.display import display

    bundle = widget._repr_mimebundle_()
    bundle["text/plain"] = plain
    display(bundle, raw=True)


def flashcards(questions: Iterable[Question], lang: str = "both", reveal: bool = False):
    """A flashcard deck widget: question first, answer on demand, language switch, prev/next.

    Returns the widget (or ``None`` when printing plain text instead: answers only with ``reveal=True``).
    """
    deck = list(questions)
    _check_lang(lang)
    if not deck:
        raise ValueError("flashcards needs at least one question")
    plain = plain_questions(deck, lang, reveal)
    if not _widgets_wanted():
        print(plain)
        return None
    import ipywidgets as w

    state = {"index": 0, "revealed": False}
    language = w.ToggleButtons(options=[("中文", "zh"), ("English", "en"), ("中/EN", "both")], value=lang)
    card = w.HTML()
    reveal_button = w.Button(description="Show answer 显示答案", button_style="info", layout=w.Layout(width="auto"))
    previous = w.Button(description="◀ Prev")
    following = w.Button(description="Next ▶")
    position = w.Label()

    def render(*_):
        question = deck[state["index"]]
        text = format_question(question, language.value, reveal=state["revealed"])
        card.value = ("<div style='white-space: pre-wrap; font-size: 14px; line-height: 1.5; max-width: 60em'>"
                      + _escape(text) + "</div>")
        position.value = f"{state['index'] + 1} / {len(deck)}"

    def on_reveal(_):
        state["revealed"] = not state["revealed"]
        render()

    def move(step):
        def handler(_):
            state["index"] = (state["index"] + step) % len(deck)
            state["revealed"] = False
            render()
        return handler

    reveal_button.on_click(on_reveal)
    previous.on_click(move(-1))
    following.on_click(move(1))
    language.observe(render, names="value")
    render()
    box = w.VBox([language, card, w.HBox([previous, reveal_button, following, position])])
    _display(box, plain)
    return box


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def multiple_choice(questions: Iterable[Question], lang: str = "both", reveal: bool = False):
    """A scored multiple-choice quiz widget; each answer shows why every option is right or wrong.

    In plain text (no widgets) the correct options and explanations are printed only with ``reveal=True``.
    """
    items = [q for q in questions if q.is_multiple_choice]
    _check_lang(lang)
    if not items:
        raise ValueError("multiple_choice needs at least one multiple-choice question")
    plain = plain_questions(items, lang, reveal)
    if not _widgets_wanted():
        print(plain)
        return None
    import ipywidgets as w

    score = {"answered": set(), "right": set()}
    score_label = w.Label(value=f"Score 得分: 0 / {len(items)}")
    rows = []
    for question in items:
        # Long option texts go in the HTML above; the radio buttons carry only the letters, because
        # ipywidgets radio labels do not wrap and long ones overlap each other.
        option_lines = "".join(
            f"<div style='margin: 2px 0 2px 1em'><b>{chr(65 + i)}.</b> "
            + "<br>".join(_escape(c.text[code]) for code in _langs(lang)) + "</div>"
            for i, c in enumerate(question.choices)
        )
        prompt = w.HTML("<b>" + _escape(_bilingual_text(question.question, lang)).replace("\n", "<br>") + "</b>"
                        + option_lines)
        radio = w.RadioButtons(options=[(chr(65 + i), i) for i in range(len(question.choices))], value=None,
                               orientation="horizontal", description="Answer 答案:")
        button = w.Button(description="Check 提交")
        feedback = w.HTML()

        def on_check(_, question=question, radio=radio, feedback=feedback):
            if radio.value is None:
                feedback.value = "Pick an option first. 请先选择一个选项。"
                return
            chosen = question.choices[radio.value]
            mark = "✓ Correct 正确" if chosen.correct else f"✗ Not quite 不对: the answer is {chr(65 + question.correct_index)}"
            why = "<br>".join(
                f"{chr(65 + i)} {'✓' if c.correct else '✗'} " + _escape(" / ".join(c.why[code] for code in _langs(lang)))
                for i, c in enumerate(question.choices)
            )
            feedback.value = f"<b>{mark}</b><br>{why}"
            score["answered"].add(question.id)
            (score["right"].add if chosen.correct else score["right"].discard)(question.id)
            score_label.value = f"Score 得分: {len(score['right'])} / {len(items)} ({len(score['answered'])} answered)"

        button.on_click(on_check)
        rows.append(w.VBox([prompt, radio, button, feedback]))
    box = w.VBox(rows + [score_label])
    _display(box, plain)
    return box


def show_lesson_questions(lesson: str, lang: str = "both", reveal: bool = False) -> list[Question]:
    """Everything for one lesson: flashcards for all its questions, then its multiple-choice quiz.

    Without widgets the answers are hidden; ``show_lesson_questions(lesson, reveal=True)`` (or
    ``reveal_answers(questions)`` on the list it returns) prints them.
    """
    questions = select_questions(load_bank(), lesson=lesson)
    if not questions:
        raise ValueError(f"no interview questions for lesson {lesson!r} yet")
    flashcards(questions, lang, reveal)
    if any(q.is_multiple_choice for q in questions):
        multiple_choice(questions, lang, reveal)
    return questions
