"""Measured figures in the interview bank: written as references to the files that hold them, never typed.

An answer that quotes a course measurement writes a placeholder instead of the number::

    {{results/baselines.json:results[labels=500].tfidf_logistic_regression:.1%}}   -> 71.1%
    {{checkpoints/course-bert:heldout.news.masked_accuracy:.1%}}                   -> 38.5%
    {{results/course_facts.json:tokenizer.vocab_size:,}}                            -> 5,366

``source:path:format``. The source is ``results/<file>.json`` (a file in ``bench/results``) or
``checkpoints/<name>`` (the training record of a course checkpoint); the path walks the JSON with dots, and
``[key=value]`` picks the element of a list whose ``key`` equals ``value`` (``[2]`` picks by position); the
format is a Python format spec (``.1%``, ``,``, ``.2f``; empty: as stored).

The bank is read on machines without the repository (Colab installs only the package), so the values are kept
in a snapshot shipped with the package, ``figures.json``, which :func:`helpers.interview.bank.load_bank` fills
the placeholders from. ``tests/test_interview_figures.py`` fails when the snapshot and the measurement files
disagree; ``python -m helpers.interview.figures`` rewrites the snapshot from them. So when a result is
remeasured, the bank's answers change with it, and a figure that no file holds cannot be quoted.

A lesson's own figures (``results/lessonNN_<profile>.json``, written by :func:`helpers.results.record_lesson_figures`)
may not have been measured yet; their placeholders then read "not measured yet" instead of a number.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any, Iterable, Mapping

PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # helpers/
REPOSITORY_ROOT = PACKAGE_ROOT.parent
SNAPSHOT = Path(__file__).resolve().parent / "figures.json"
PLACEHOLDER = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")
_SEGMENT = re.compile(r"^([^\[\]]*)((?:\[[^\[\]]+\])*)$")
_SELECTOR = re.compile(r"\[([^\[\]]+)\]")
_LESSON_RECORD = re.compile(r"^lesson\d\d_(smoke|cpu|gpu)\.json$")
NOT_MEASURED = {"zh": "（尚未测量）", "en": "(not measured yet)"}


class FigureError(ValueError):
    """A placeholder names a file, key or format that does not work; the message names the placeholder."""


def parse_placeholder(body: str) -> tuple[str, str, str]:
    """``"results/x.json:a.b:.1%"`` -> ``("results/x.json", "a.b", ".1%")`` (the format may be empty)."""
    parts = body.split(":", 2)
    if len(parts) < 2 or not parts[0] or not parts[1]:
        raise FigureError(f"{{{{{body}}}}}: write a placeholder as {{{{source:path:format}}}}, "
                          "e.g. {{results/baselines.json:results[labels=500].tfidf_logistic_regression:.1%}}")
    source, path = parts[0].strip(), parts[1].strip()
    fmt = parts[2].strip() if len(parts) == 3 else ""
    if not (source.startswith("results/") and source.endswith(".json")) and not source.startswith("checkpoints/"):
        raise FigureError(f"{{{{{body}}}}}: the source must be results/<file>.json or checkpoints/<name>")
    return source, path, fmt


def key_of(body: str) -> str:
    """The snapshot key of a placeholder: its source and path, without the format."""
    source, path, _ = parse_placeholder(body)
    return f"{source}:{path}"


def source_file(source: str, root: Path = REPOSITORY_ROOT) -> Path:
    """The file a source names, under the repository ``root``."""
    if source.startswith("results/"):
        return root / "bench" / "results" / source.removeprefix("results/")
    return root / "helpers" / "assets" / "checkpoints" / source.removeprefix("checkpoints/") / "training_record.json"


def lookup(data: Any, path: str, where: str = "") -> Any:
    """Walk ``data`` along ``path`` (dots between keys, ``[key=value]`` or ``[index]`` into lists)."""
    value = data
    for segment in path.split("."):
        match = _SEGMENT.match(segment)
        if not match:
            raise FigureError(f"{where}: cannot read the path segment {segment!r}")
        name, selectors = match.group(1), _SELECTOR.findall(match.group(2))
        if name:
            if not isinstance(value, dict) or name not in value:
                known = sorted(value)[:12] if isinstance(value, dict) else type(value).__name__
                raise FigureError(f"{where}: no key {name!r} at {segment!r} (found: {known})")
            value = value[name]
        for selector in selectors:
            if not isinstance(value, list):
                raise FigureError(f"{where}: [{selector}] needs a list, found {type(value).__name__}")
            if "=" in selector:
                field, wanted = selector.split("=", 1)
                matches = [item for item in value if isinstance(item, dict) and str(item.get(field)) == wanted]
                if len(matches) != 1:
                    raise FigureError(f"{where}: [{selector}] matches {len(matches)} elements, not exactly one")
                value = matches[0]
            else:
                try:
                    value = value[int(selector)]
                except (ValueError, IndexError):
                    raise FigureError(f"{where}: [{selector}] is not a valid position in a list of {len(value)}") from None
    return value


def resolve(body: str, root: Path = REPOSITORY_ROOT) -> Any:
    """The current value of one placeholder, read from the measurement files under ``root``.

    ``None`` for a lesson record (``results/lessonNN_<profile>.json``) that has not been measured yet; any other
    missing file or key is a :class:`FigureError`.
    """
    source, path, fmt = parse_placeholder(body)
    file = source_file(source, root)
    if not file.is_file():
        if _LESSON_RECORD.match(file.name):
            return None
        raise FigureError(f"{{{{{body}}}}}: {file} does not exist")
    value = lookup(json.loads(file.read_text(encoding="utf-8")), path, f"{{{{{body}}}}}")
    if isinstance(value, (dict, list)) or value is None:
        raise FigureError(f"{{{{{body}}}}}: the path ends at a {type(value).__name__}, not a number or string")
    format_value(value, fmt, body)  # a format that does not fit the value fails here, not in front of a learner
    return value


def format_value(value: Any, fmt: str, body: str = "") -> str:
    """``value`` written with the format spec ``fmt``."""
    try:
        return format(value, fmt)
    except (ValueError, TypeError) as error:
        raise FigureError(f"{{{{{body}}}}}: format {fmt!r} does not fit {value!r}: {error}") from None


def placeholders(text: str) -> list[str]:
    """The bodies of every placeholder in ``text``."""
    return PLACEHOLDER.findall(text)


def bank_files(directory: Path | None = None) -> list[Path]:
    from .bank import QUESTIONS_DIR

    return sorted((directory or QUESTIONS_DIR).glob("*.yaml"))


def bank_placeholders(directory: Path | None = None) -> list[str]:
    """Every placeholder body in the bank's YAML files, in order, duplicates removed."""
    seen: dict[str, None] = {}
    for path in bank_files(directory):
        for body in placeholders(path.read_text(encoding="utf-8")):
            seen.setdefault(body, None)
    return list(seen)


def measure_snapshot(bodies: Iterable[str], root: Path = REPOSITORY_ROOT) -> dict[str, Any]:
    """``{key: value}`` for every placeholder, read from the measurement files now."""
    return {key_of(body): resolve(body, root) for body in bodies}


def read_snapshot(path: Path = SNAPSHOT) -> dict[str, Any]:
    """The figures shipped with the package (empty when the file is missing)."""
    if not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))["figures"]


def write_snapshot(figures: Mapping[str, Any], path: Path = SNAPSHOT) -> None:
    payload = {
        "about": "Figures quoted by the interview bank, copied from bench/results/*.json and the checkpoints' "
                 "training records. Do not edit: run `python -m helpers.interview.figures`.",
        "figures": dict(sorted(figures.items())),
    }
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def fill(text: str, lang: str, figures: Mapping[str, Any], where: str = "") -> str:
    """Replace every placeholder in ``text`` with its value from ``figures`` (a snapshot)."""

    def replace(match: re.Match) -> str:
        body = match.group(1)
        key = key_of(body)
        if key not in figures:
            raise FigureError(f"{where}: {{{{{body}}}}} is not in the figures snapshot; run "
                              "`python -m helpers.interview.figures` to refresh it from bench/results")
        value = figures[key]
        if value is None:
            return NOT_MEASURED[lang]
        return format_value(value, parse_placeholder(body)[2], body)

    return PLACEHOLDER.sub(replace, text)


def main(argv: list[str] | None = None) -> int:
    """Rewrite the snapshot from the measurement files; print what changed."""
    old = read_snapshot()
    new = measure_snapshot(bank_placeholders())
    write_snapshot(new)
    changed = sorted(key for key in set(old) | set(new) if old.get(key, "absent") != new.get(key, "absent"))
    for key in changed:
        print(f"{key}: {old.get(key, 'absent')} -> {new.get(key, 'absent')}")
    pending = sorted(key for key, value in new.items() if value is None)
    print(f"{len(new)} figures ({len(changed)} changed) written to {SNAPSHOT.relative_to(REPOSITORY_ROOT)}"
          + (f"; not measured yet: {', '.join(pending)}" if pending else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
