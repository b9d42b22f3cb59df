"""Google Colab support: the badge on every notebook, and the first cell that installs the course there.

The course is one installable package. On a laptop ``make lab`` installs it; on Colab there is no ``make``, so
every notebook starts with a setup cell (written by :func:`setup_cell_source`, inserted by
``scripts/build_lessons.py``) that, **only inside Colab**:

1. installs this package from :data:`REPOSITORY_URL` at the pinned :data:`PINNED_REF` *without* its
   dependencies (so pip cannot replace Colab's CUDA build of torch), then
2. calls :func:`finish_colab_setup`, which installs the course's pinned libraries except the ones Colab
   already runs (:data:`COLAB_KEEPS`: torch and the libraries a running kernel has imported, which cannot be
   swapped without a restart), and turns on Colab's widget manager so the quizzes render.

Elsewhere the cell does nothing and says why. The profile needs no setting on Colab: with CUDA present
:func:`helpers.profiles.default_profile_name` picks ``gpu``.

To publish the course under another address, change :data:`REPOSITORY_URL` (and :data:`PINNED_REF` for a
release), then run ``make notebooks``: badges and setup cells are regenerated from these two constants.
"""

from __future__ import annotations

import re
import subprocess
import sys
from importlib import metadata

REPOSITORY_URL = "https://github.com/ptft-course/pretraining-finetuning-in-practice"
"""The one place that names the course repository (badges, setup cells, README links)."""

PINNED_REF = "v0.1.0"
"""The git tag the Colab setup cell installs. Tag each release with it, so a notebook installs the code it was
tested with rather than whatever ``main`` holds that day."""

DISTRIBUTION = "ptft-course"
COLAB_KEEPS = ("torch", "numpy", "pandas", "matplotlib", "scikit-learn", "ipywidgets")
"""Requirements left to Colab: torch (its CUDA build must stay) and libraries Colab's kernel has already
imported; pip replacing those mid-session leaves the old version loaded until a restart."""

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def in_colab() -> bool:
    """True inside a Google Colab kernel (Colab imports ``google.colab`` at start-up)."""
    return "google.colab" in sys.modules


def github_path() -> str:
    """``owner/name`` of the repository, taken from :data:`REPOSITORY_URL`."""
    match = re.fullmatch(r"https://github\.com/([^/]+/[^/]+?)(?:\.git)?/?", REPOSITORY_URL)
    if not match:
        raise ValueError(f"REPOSITORY_URL must look like https://github.com/owner/name, got {REPOSITORY_URL!r}")
    return match.group(1)


def colab_url(notebook_path: str) -> str:
    """The address that opens ``notebook_path`` (relative to the repository root) in Colab at the pinned ref."""
    if not notebook_path.isascii() or notebook_path.startswith("/"):
        raise ValueError(f"notebook paths in badges must be relative ASCII paths, got {notebook_path!r}")
    return f"https://colab.research.google.com/github/{github_path()}/blob/{PINNED_REF}/{notebook_path}"


def colab_badge(notebook_path: str) -> str:
    """Markdown for the "Open in Colab" badge of one notebook."""
    return f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab_url(notebook_path)})"


def setup_cell_source() -> str:
    """The code of every notebook's first code cell. It must not import ``helpers`` before installing it."""
    return (
        "# Colab set-up: installs the course package inside Google Colab only; elsewhere it does nothing.\n"
        "import subprocess, sys\n"
        "\n"
        f'COURSE_REPOSITORY, COURSE_REF = "{REPOSITORY_URL}", "{PINNED_REF}"\n'
        'if "google.colab" in sys.modules:\n'
        "    # --no-deps: pip must not replace Colab's CUDA build of torch\n"
        '    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",\n'
        '                    f"git+{COURSE_REPOSITORY}@{COURSE_REF}"], check=True)\n'
        "    from helpers.colab import finish_colab_setup\n"
        "\n"
        "    finish_colab_setup()\n"
        "else:\n"
        '    print("Not in Colab: nothing to install here (locally, `make lab` set up this environment).")\n'
    )


def colab_requirements(distribution: str = DISTRIBUTION) -> list[str]:
    """The package's pinned requirements minus :data:`COLAB_KEEPS` and minus optional extras."""
    kept = []
    for requirement in metadata.requires(distribution) or []:
        specifier, _, marker = requirement.partition(";")
        if "extra" in marker:  # an optional extra such as [dev]
            continue
        match = _NAME.match(specifier)
        if match and match.group(1).lower().replace("_", "-") not in COLAB_KEEPS:
            kept.append(specifier.strip())
    return kept


def finish_colab_setup() -> None:
    """Install the remaining pinned libraries and enable Colab's widget manager (called by the setup cell)."""
    if not in_colab():
        print("Not in Colab: finish_colab_setup() does nothing here.")
        return
    requirements = colab_requirements()
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", *requirements], check=True)
    from google.colab import output  # noqa: PLC0415 (exists only inside Colab)

    output.enable_custom_widget_manager()
    print(f"Course installed from {REPOSITORY_URL} at {PINNED_REF}; torch left as Colab ships it.")
