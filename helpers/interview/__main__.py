"""Drill interview questions in a terminal: ``python -m helpers.interview --lesson 00 --lang both``.

Each question is shown; press Enter to see the answer (or type A-D for multiple choice); ``q`` quits.
Without an interactive terminal (no stdin, a pipe, CI) it prints the selected questions first and their answers
after all of them, so reading top to bottom you meet each question before its answer. ``--list`` prints each
question with its answer.
"""

from __future__ import annotations

import argparse
import sys

from .bank import TOPICS, load_bank, select_questions
from .quiz import LANG_CHOICES, format_question


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m helpers.interview", description=__doc__.splitlines()[0])
    parser.add_argument("--lesson", help="two-digit lesson number, e.g. 00")
    parser.add_argument("--topic", choices=TOPICS)
    parser.add_argument("--max-difficulty", type=int, choices=(1, 2, 3))
    parser.add_argument("-n", type=int, help="how many questions (drawn at random)")
    parser.add_argument("--seed", type=int, default=0, help="seed for the random draw (default 0)")
    parser.add_argument("--option-seed", type=int, default=0,
                        help="seed for the order of multiple-choice options (default 0)")
    parser.add_argument("--lang", choices=LANG_CHOICES, default="both")
    parser.add_argument("--list", action="store_true", help="print questions and answers, no drill")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        questions = select_questions(
            load_bank(option_seed=args.option_seed), lesson=args.lesson, topic=args.topic, max_difficulty=args.max_difficulty,
            n=args.n, seed=args.seed,
        )
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not questions:
        print("No questions match these filters.", file=sys.stderr)
        return 1
    if args.list:
        for number, question in enumerate(questions, 1):
            print(f"\n--- {number}/{len(questions)} ---")
            print(format_question(question, args.lang, reveal=True))
        return 0
    if not (sys.stdin is not None and sys.stdin.isatty()):
        for number, question in enumerate(questions, 1):
            print(f"\n--- {number}/{len(questions)} ---")
            print(format_question(question, args.lang, reveal=False))
        print("\n=== Answers 答案 ===")
        for number, question in enumerate(questions, 1):
            print(f"\n--- {number}/{len(questions)} ---")
            print(format_question(question, args.lang, reveal=True).split("\n", 1)[1])
        return 0
    right = asked = 0
    for number, question in enumerate(questions, 1):
        print(f"\n--- {number}/{len(questions)} ---")
        print(format_question(question, args.lang, reveal=False))
        try:
            reply = input("Your answer (A-D), Enter to reveal, q to quit: " if question.is_multiple_choice
                          else "Enter to reveal, q to quit: ").strip()
        except EOFError:
            break
        if reply.lower() == "q":
            break
        if question.is_multiple_choice and reply:
            asked += 1
            if reply.upper() == chr(65 + question.correct_index):
                right += 1
                print("✓ correct 正确")
            else:
                print("✗ not quite 不对")
        print(format_question(question, args.lang, reveal=True).split("\n", 1)[1])
    if asked:
        print(f"\nMultiple choice score: {right}/{asked}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
