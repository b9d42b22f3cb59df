"""Build the learner and solution notebooks from one source per lesson.

Each lesson is written once, as a jupytext "percent" script in ``lessons/NN_topic.py``. Inside
exercise cells, two marked blocks hold the two versions of the learner's code::

    ### BEGIN SOLUTION
    return sorted(found)
    ### END SOLUTION
    ### BEGIN STUB
    raise NotImplementedError("Exercise 00.1: your code here")
    ### END STUB

Every notebook opens with an "Open in Colab" badge and, after its title, the Colab set-up cell
(:mod:`helpers.colab`: one constant holds the repository address).
``notebooks/NN_topic.ipynb`` keeps the stubs, ``solutions/NN_topic.ipynb`` keeps the solutions.
Cells tagged ``solutions-only`` / ``notebooks-only`` appear in one of the two. Both outputs are
deterministic, so ``tests/test_lessons_build.py`` can regenerate them and fail on any drift.

Run ``python scripts/build_lessons.py`` (or ``make notebooks``) after editing a lesson source.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import jupytext
import nbformat

from helpers.colab import colab_badge, setup_cell_source

ROOT = Path(__file__).resolve().parents[1]
LESSONS = ROOT / "lessons"
TARGETS = {"notebooks": ROOT / "notebooks", "solutions": ROOT / "solutions"}
_BLOCK = re.compile(r"^[ \t]*### BEGIN (SOLUTION|STUB)[ \t]*\n(.*?)^[ \t]*### END \1[ \t]*\n?", re.M | re.S)
_SOLUTIONS_BANNER = (
    "> **Solutions notebook.** Generated from `lessons/{name}.py` with every exercise solved; "
    "the learner's version is `notebooks/{name}.ipynb`. Do not edit: edit the lesson source and run "
    "`make notebooks`."
)


def render_cell_source(source: str, target: str) -> str:
    """Keep the STUB blocks (notebooks) or the SOLUTION blocks (solutions); drop the markers."""
    keep = "STUB" if target == "notebooks" else "SOLUTION"

    def replace(match: re.Match) -> str:
        return match.group(2) if match.group(1) == keep else ""

    return _BLOCK.sub(replace, source)


def build(source_path: Path, target: str) -> nbformat.NotebookNode:
    """The notebook for ``target`` ("notebooks" or "solutions") built from one lesson source."""
    if target not in TARGETS:
        raise ValueError(f"target must be one of {sorted(TARGETS)}")
    source = jupytext.reads(source_path.read_text(encoding="utf-8"), fmt="py:percent")
    cells = [nbformat.v4.new_markdown_cell(colab_badge(f"{target}/{source_path.stem}.ipynb"))]
    if target == "solutions":
        cells.append(nbformat.v4.new_markdown_cell(_SOLUTIONS_BANNER.format(name=source_path.stem)))
    skip_tag = "notebooks-only" if target == "solutions" else "solutions-only"
    for cell in source.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if skip_tag in tags:
            continue
        text = render_cell_source(cell.source, target) if cell.cell_type == "code" else cell.source
        metadata = {"tags": [t for t in tags if t not in ("notebooks-only", "solutions-only")]} if tags else {}
        if cell.cell_type == "code":
            new = nbformat.v4.new_code_cell(text, metadata=metadata)
        else:
            new = nbformat.v4.new_markdown_cell(text, metadata=metadata)
        cells.append(new)
        if len(source.cells) and cell is source.cells[0]:  # right after the title: the Colab set-up cell
            cells.append(nbformat.v4.new_code_cell(setup_cell_source(), metadata={"tags": ["colab-setup"]}))
    for index, cell in enumerate(cells):
        cell["id"] = f"{source_path.stem[:2]}-{target[0]}-{index:03d}"
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    nbformat.validate(notebook)
    return notebook


def render(source_path: Path, target: str) -> str:
    """The exact file text that ``build`` writes."""
    return nbformat.writes(build(source_path, target)) + "\n"


def lesson_sources() -> list[Path]:
    """All lesson sources, in lesson order."""
    return sorted(LESSONS.glob("[0-9][0-9]_*.py"))


def main() -> int:
    for source_path in lesson_sources():
        for target, folder in TARGETS.items():
            folder.mkdir(exist_ok=True)
            out = folder / f"{source_path.stem}.ipynb"
            out.write_text(render(source_path, target), encoding="utf-8")
            print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
