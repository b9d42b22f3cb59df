"""The Colab path: badges, the set-up cell outside Colab, and its Colab branch with the Colab module faked."""

import subprocess
import sys
import types

import nbformat
import pytest

from helpers import colab
from lesson_sources import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "solutions").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_notebook_opens_with_its_badge_and_the_setup_cell(path):
    notebook = nbformat.read(path, as_version=4)
    relative = f"{path.parent.name}/{path.name}"
    assert notebook.cells[0].cell_type == "markdown"
    assert notebook.cells[0].source == colab.colab_badge(relative)
    assert relative.isascii()
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    setup_cells = [cell for cell in code_cells if "colab-setup" in cell.metadata.get("tags", [])]
    assert len(setup_cells) == 1 and code_cells[0] is setup_cells[0], "the Colab set-up must be the first code cell"
    assert code_cells[0].source == colab.setup_cell_source()


def test_readme_links_every_lesson_to_colab():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        assert colab.colab_url(f"notebooks/{path.name}") in readme, f"README lacks the Colab badge of {path.name}"


def test_badge_points_at_the_pinned_ref_of_the_one_repository_constant():
    url = colab.colab_url("notebooks/02_bert_classification.ipynb")
    assert url == ("https://colab.research.google.com/github/" + colab.REPOSITORY_URL.removeprefix("https://github.com/")
                   + f"/blob/{colab.PINNED_REF}/notebooks/02_bert_classification.ipynb")


def test_bad_repository_url_and_paths_are_refused(monkeypatch):
    with pytest.raises(ValueError, match="relative ASCII"):
        colab.colab_url("notebooks/微调.ipynb")
    monkeypatch.setattr(colab, "REPOSITORY_URL", "git@github.com:someone/course.git")
    with pytest.raises(ValueError, match="https://github.com/owner/name"):
        colab.colab_url("notebooks/00_setup_and_tour.ipynb")


def _refuse(*args, **kwargs):
    raise AssertionError(f"nothing may be installed outside Colab: {args}")


def test_setup_cell_outside_colab_installs_nothing(monkeypatch, capsys):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.setattr(subprocess, "run", _refuse)
    exec(colab.setup_cell_source(), {})
    assert "Not in Colab" in capsys.readouterr().out
    colab.finish_colab_setup()  # also harmless when called by hand outside Colab
    assert "does nothing" in capsys.readouterr().out


def test_setup_cell_inside_a_faked_colab(monkeypatch, capsys):
    calls, widgets = [], []
    google = types.ModuleType("google")
    google_colab = types.ModuleType("google.colab")
    google_colab.output = types.SimpleNamespace(enable_custom_widget_manager=lambda: widgets.append(True))
    google.colab = google_colab
    monkeypatch.setitem(sys.modules, "google", google)
    monkeypatch.setitem(sys.modules, "google.colab", google_colab)
    monkeypatch.setattr(subprocess, "run", lambda command, check: calls.append(command))

    exec(colab.setup_cell_source(), {})

    assert len(calls) == 2 and all(call[:4] == [sys.executable, "-m", "pip", "install"] for call in calls)
    package_install, library_install = calls
    assert "--no-deps" in package_install
    assert package_install[-1] == f"git+{colab.REPOSITORY_URL}@{colab.PINNED_REF}"
    libraries = library_install[5:]
    names = {requirement.split("==")[0].lower() for requirement in libraries}
    assert "torch" not in names and not names & set(colab.COLAB_KEEPS)
    assert {"transformers", "datasets", "peft", "snownlp"} <= names
    assert all("==" in requirement for requirement in libraries), "Colab gets the same pins as CI"
    assert not names & {"jupyterlab", "pytest", "nbval"}, "development extras stay out of Colab"
    assert widgets == [True]
    assert "torch left as Colab ships it" in capsys.readouterr().out


def test_colab_requirements_are_the_pinned_ones():
    requirements = colab.colab_requirements()
    assert "transformers==5.23.0" in requirements
    assert not any(requirement.startswith("torch") for requirement in requirements)
