"""The maintainer scripts: running a lesson as a benchmark records its runtime and the figures it measured."""

import json

import nbformat
import pytest

from helpers.results import FIGURES_ENV_VAR, record_figures
from scripts import run_lessons


def test_record_figures_is_a_no_op_without_the_variable(monkeypatch, tmp_path):
    monkeypatch.delenv(FIGURES_ENV_VAR, raising=False)
    record_figures("02", accuracy=0.5)  # nothing to write to, nothing raised
    target = tmp_path / "figures.json"
    monkeypatch.setenv(FIGURES_ENV_VAR, str(target))
    record_figures("02", accuracy=0.5, curve=(1, 2))
    record_figures("02", seconds=float("nan"))
    assert json.loads(target.read_text()) == {"02": {"accuracy": 0.5, "curve": [1, 2], "seconds": None}}
    with pytest.raises(TypeError, match="cannot record"):
        record_figures("02", model=object())
    with pytest.raises(ValueError, match="lesson"):
        record_figures("", accuracy=1.0)


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
        nbformat.v4.new_code_cell("from helpers.results import record_figures\nrecord_figures('99', answer=42, profile=profile)"),
    ])
    path = tmp_path / "99_tiny.ipynb"
    nbformat.write(notebook, path)
    runtime, recorded = run_lessons.run_notebook(path, "smoke", tmp_path / "out", cell_timeout=120)
    assert recorded == {"99": {"answer": 42, "profile": "smoke"}}
    assert runtime["seconds"] > 0 and runtime["peak_rss_mib"] > 0
    assert (tmp_path / "out" / "99_tiny.ipynb").is_file()
