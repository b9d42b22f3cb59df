"""The maintainer scripts: running a lesson as a benchmark records its runtime and the figures it measured."""

import json

import nbformat
import pytest

from scripts import run_lessons


def test_merge_keeps_other_profiles_and_lessons(tmp_path):
    path = tmp_path / "runtimes.json"
    run_lessons.merge(path, "cpu", "02_x", {"seconds": 1.0})
    run_lessons.merge(path, "smoke", "02_x", {"seconds": 2.0})
    data = run_lessons.merge(path, "cpu", "03_y", {"seconds": 3.0})
    assert data == {"cpu": {"02_x": {"seconds": 1.0}, "03_y": {"seconds": 3.0}}, "smoke": {"02_x": {"seconds": 2.0}}}
    assert json.loads(path.read_text()) == data


def test_run_notebook_returns_runtime_and_recorded_figures(tmp_path):
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import os\nprofile = os.environ['COURSE_PROFILE']"),
        nbformat.v4.new_code_cell(f"from helpers.results import record_lesson_figures\n"
                                  f"record_lesson_figures('99', {{'answer': 42}}, profile, directory={str(tmp_path)!r})"),
    ])
    path = tmp_path / "99_tiny.ipynb"
    nbformat.write(notebook, path)
    runtime = run_lessons.run_notebook(path, "smoke", tmp_path / "out", cell_timeout=120)
    recorded = json.loads((tmp_path / "lesson99_smoke.json").read_text())
    assert recorded["figures"] == {"answer": 42} and recorded["profile"] == "smoke"
    assert runtime["seconds"] > 0 and runtime["peak_rss_mib"] > 0
    assert "COURSE_RECORD_FIGURES" not in __import__("os").environ  # switched on for the kernel only
    assert (tmp_path / "out" / "99_tiny.ipynb").is_file()
