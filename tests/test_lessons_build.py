"""The notebooks in notebooks/ and solutions/ are generated from lessons/: they must never drift."""

import re

import nbformat
import pytest

from lesson_sources import ROOT, build_lessons

SOURCES = build_lessons.lesson_sources()


def test_there_are_lessons():
    assert SOURCES and SOURCES[0].name == "00_setup_and_tour.py"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
@pytest.mark.parametrize("target", ["notebooks", "solutions"])
def test_committed_notebook_matches_its_source(source, target):
    committed = ROOT / target / f"{source.stem}.ipynb"
    assert committed.is_file(), f"{committed} missing: run `make notebooks`"
    assert committed.read_text(encoding="utf-8") == build_lessons.render(source, target), (
        f"{committed.relative_to(ROOT)} differs from lessons/{source.name}: edit the lesson source, "
        "then run `make notebooks` (do not edit generated notebooks by hand)"
    )


@pytest.mark.parametrize("target", ["notebooks", "solutions"])
def test_every_notebook_has_a_source(target):
    stems = {source.stem for source in SOURCES}
    for notebook in (ROOT / target).glob("*.ipynb"):
        assert notebook.stem in stems, f"{notebook} has no lessons/ source"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_names_are_ascii_and_numbered(source):
    assert re.fullmatch(r"\d\d_[a-z0-9_]+\.py", source.name)


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_stubs_and_solutions_are_separated(source):
    learner = build_lessons.build(source, "notebooks")
    solved = build_lessons.build(source, "solutions")
    learner_code = "\n".join(c.source for c in learner.cells if c.cell_type == "code")
    solved_code = "\n".join(c.source for c in solved.cells if c.cell_type == "code")
    assert "### BEGIN" not in learner_code + solved_code and "### END" not in learner_code + solved_code
    exercise_cells = [c for c in learner.cells if "exercise" in c.metadata.get("tags", [])]
    assert all("raise NotImplementedError" in c.source for c in exercise_cells)
    assert "raise NotImplementedError" not in solved_code


def test_marker_rendering():
    cell = "def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n    ### BEGIN STUB\n    raise NotImplementedError\n    ### END STUB\n"
    assert build_lessons.render_cell_source(cell, "solutions") == "def f():\n    return 1\n"
    assert build_lessons.render_cell_source(cell, "notebooks") == "def f():\n    raise NotImplementedError\n"


def test_generated_notebooks_are_valid_and_clean():
    for target in ("notebooks", "solutions"):
        for path in (ROOT / target).glob("*.ipynb"):
            notebook = nbformat.read(path, as_version=4)
            nbformat.validate(notebook)
            assert all(not c.get("outputs") for c in notebook.cells if c.cell_type == "code")
