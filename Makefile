# Two commands, each doing its own set-up on a fresh machine:
#   make lab    create .venv, install the pinned course, open JupyterLab at lesson 00
#   make test   create .venv, install the pinned course, run every test (smoke profile)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup lab test test-gpu notebooks lock clean

# torch first and on its own: a plain `pip install torch` (or a dependency asking for it) would pull
# a different build with several GB of CUDA packages; 2.13.0 is the version the course is tested on.
$(STAMP): pyproject.toml requirements-lock.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -c requirements-lock.txt -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

lab: $(STAMP)
	$(BIN)/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) --ServerApp.root_dir="$(CURDIR)" \
		--LabApp.default_url=/lab/tree/notebooks/00_setup_and_tour.ipynb

# Two workers (pytest-xdist), each taking whole files, so a notebook's cells stay in order in one kernel;
# on the 2-core reference machine this halves the wall time of the notebooks.
test: $(STAMP)
	COURSE_PROFILE=smoke $(BIN)/python -m pytest -n 2 --dist loadfile

# Every lesson and solution in the gpu profile (needs CUDA; used by .github/workflows/gpu.yml).
test-gpu: $(STAMP)
	COURSE_PROFILE=gpu $(BIN)/python -m pytest notebooks solutions

# Regenerate notebooks/ and solutions/ from lessons/ (run after editing a lesson source).
notebooks: $(STAMP)
	$(BIN)/python scripts/build_lessons.py

# Refresh the lock file from the current environment (maintainers, after changing a pin).
lock: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable | sed -E 's/^torch==([0-9.]+)\+cpu$$/torch==\1/' > requirements-lock.txt

clean:
	rm -rf $(VENV)
