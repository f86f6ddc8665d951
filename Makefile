# Every target bootstraps .venv and re-installs only when requirements.txt or pyproject.toml change.
# Python: the newest supported one on PATH (python3.13, python3.12, python3.11) unless PYTHON= names one;
# an existing .venv keeps the Python it was made with (make python says which).
SUPPORTED_PYTHONS := 3.13 3.12 3.11
ifeq ($(origin PYTHON),undefined)
PYTHON := $(shell for v in $(SUPPORTED_PYTHONS); do python$$v -c '' >/dev/null 2>&1 && { echo python$$v; break; }; done)
PYTHON_FROM := the newest supported Python on PATH
else
PYTHON_FROM := PYTHON=$(PYTHON)
endif
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MINOR_OF = $(shell $(1) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
ifneq ($(filter command line environment,$(origin PYTHON)),)
ifneq ($(wildcard $(BIN)/python),)
ifneq ($(call MINOR_OF,$(BIN)/python),$(call MINOR_OF,$(PYTHON)))
$(error $(VENV) has Python $(call MINOR_OF,$(BIN)/python), PYTHON=$(PYTHON) is $(or $(call MINOR_OF,$(PYTHON)),not runnable): rm -rf $(VENV) to make it anew with $(PYTHON))
endif
endif
endif
PRESET ?= classroom
RUN_ARGS ?=
SEEDS ?= 0-9
ONLY ?= 04,05,07

.PHONY: help run seeds test lint unit notebooks lab lab-instructor student assignment grade clean

help:
	@echo "make run      execute every notebook with the $(PRESET) preset into runs/<timestamp>/"
	@echo "make seeds    run ONLY=$(ONLY) over SEEDS=$(SEEDS) (ci preset); merge min/median/max into notebooks/params/seed_figures.*"
	@echo "make unit     the fast tier (under 2 min): everything but notebooks, servers, searches, workers, browser"
	@echo "make notebooks  every notebook top to bottom (ci preset) with the three-way test of its exercise checks"
	@echo "make test     lint + every test (CI): both tiers, grading, servers, browser; 3 pytest workers"
	@echo "make lab      JupyterLab on 127.0.0.1 in your workspace/: the lessons, empty answer cells, solutions at the end"
	@echo "make lab-instructor  JupyterLab on the full notebooks/ with nbgrader's instructor tools"
	@echo "make student  student copies (solutions removed) into student/"
	@echo "make assignment  release versions with nbgrader's generate_assignment into release/<NN_topic>/"
	@echo "make grade SUBMISSIONS=DIR  nbgrader autograde of DIR/<student>/<NN_topic>.ipynb, each in a bubblewrap sandbox, into DIR/grades.csv, .html, canvas.csv, feedback/"
	@echo "make lint     ruff on helpers, tests and notebooks; notebooks must have no outputs"
	@echo "make site     the book to read without running: every notebook executed (SITE_PRESET=classroom) into build/site/"
	@echo "make other-pythons  the other supported Pythons (3.11-3.13): wheel installed in fresh venvs, fast tier, one notebook alone"
	@echo "make python   which Python make takes (newest supported on PATH, or PYTHON=...)"

# uv installs the same pins as pip in about 1 min instead of about 3; pip takes over if uv fails.
# Bytecode: Python writes a module's .pyc the first time one imports it (its default, which the environment may
# turn off: make does not pass PYTHONDONTWRITEBYTECODE on), so the install compiles what is imported instead of all
# 15,000 modules (--compile-bytecode), most of which no process imports: two processes at once import TensorFlow's
# stack and the Jupyter, grading and test stack (the libraries Keras imports too, so they compile while TensorFlow's
# own modules do). 13 s instead of 25 s here (docs/measurements.md). What they leave out (SHAP, LIME, Sphinx, ...)
# is compiled by the first process that imports it; without any .pyc every process would compile TensorFlow.
unexport PYTHONDONTWRITEBYTECODE
UV := uv==0.13.9
WARM_TENSORFLOW := from helpers.runtime import import_tensorflow_quietly; import_tensorflow_quietly(); import keras_tuner
WARM_THE_REST := pandas, matplotlib.pyplot, sklearn.model_selection, sklearn.base, scipy.stats, nbgrader.apps, \
	nbclient, papermill, ipykernel.kernelapp, jupyterlab, jupyter_server.serverapp, nbconvert, playwright.sync_api, \
	xdist, psutil, pytest, grpc, requests

$(STAMP): requirements.txt pyproject.toml
	@$(MAKE) --no-print-directory python
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet $(UV) || echo "uv could not be installed: pip installs the pins"
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements.txt \
		|| $(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e . \
		|| $(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -c "$(WARM_TENSORFLOW)" & warming=$$!; trap 'kill $$warming 2>/dev/null' INT TERM; \
		$(BIN)/python -c "import $(WARM_THE_REST)"; rest=$$?; wait $$warming && test $$rest = 0
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/python -m helpers.run --preset $(PRESET) $(RUN_ARGS)

# One notebook after another, one seed after another (2 cores): about 40 min for 04,05,07 over 10 seeds.
seeds: $(STAMP)
	$(BIN)/python -m helpers.run --preset ci --seeds $(SEEDS) $(if $(ONLY),--only $(ONLY)) --table $(RUN_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check helpers tests notebooks
	$(BIN)/nbstripout --verify notebooks/*.ipynb

# Tiers: `unit` for the edit-and-test loop; `notebooks` after editing a notebook or a check; `test` is CI.
# Three pytest workers (pytest-xdist) on two cores: while one waits on a server, a kernel or a time-out, the others
# compute (the cores were 80 % busy with two, 95-98 % with three). The tests of one notebook share its kernel, and a
# module's tests its module-scoped fixtures, so each stays on one worker (--dist loadgroup, tests/conftest.py).
# Per-test durations go to runs/test-durations.md.
PYTEST := $(BIN)/python -m pytest -p no:cacheprovider
WORKERS ?= 3
unit: $(STAMP)
	$(PYTEST) tests -q -m "not notebook and not slow and not browser"

notebooks: $(STAMP)
	$(PYTEST) tests/test_notebooks.py -q -n $(WORKERS) --dist loadgroup -m notebook

# Longest work units first, by the committed run's durations (tests/conftest.py), kept in that order (xdist would
# sort them by test count), so the workers finish together.
test: lint
	$(PYTEST) tests -q -n $(WORKERS) --dist loadgroup --no-loadscope-reorder --durations=15 \
		--durations-file=runs/test-durations.md

# The learner's workspace: copies made once (never overwritten), JupyterLab without the instructor's tools.
WORKSPACE ?= workspace
lab: $(STAMP)
	$(BIN)/python -m helpers.workspace --out $(WORKSPACE)
	JUPYTER_CONFIG_DIR=$(abspath $(WORKSPACE))/.jupyter $(BIN)/jupyter lab --ip=127.0.0.1 --no-browser \
		--ServerApp.root_dir=$(WORKSPACE) $(if $(filter 0,$(shell id -u)),--allow-root)

# The full instructor notebooks, with nbgrader's menu, Validate button and Create Assignment sidebar.
lab-instructor: $(STAMP)
	$(BIN)/jupyter lab --ip=127.0.0.1 --no-browser --ServerApp.root_dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root)

student: $(STAMP)
	$(BIN)/python -m helpers.student --out student

assignment: $(STAMP)
	$(BIN)/python -m helpers.grading assign --out release

# Exercises-only runs, one submission at a time, each in a bubblewrap sandbox (GRADE_ARGS="--jobs 2 --timeout 600
# --cell-timeout 120 --full --memory-gb 16 --max-tasks 512"; --trusted runs them unsandboxed, with your rights).
GRADE_ARGS ?=
grade: $(STAMP)
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=DIR (DIR/<student>/<NN_topic>.ipynb)"; exit 2; }
	@command -v bwrap >/dev/null || case " $(GRADE_ARGS) " in *" --trusted "*) ;; *) echo "make grade runs each \
	submission in a bubblewrap sandbox: install it (apt-get install bubblewrap), or add GRADE_ARGS=--trusted for \
	submissions you trust"; exit 2;; esac
	$(BIN)/python -m helpers.grading grade $(SUBMISSIONS) $(GRADE_ARGS)

clean:
	rm -rf runs student release .pytest_cache .ruff_cache

# Which Python make takes; refuses an unsupported one. (A PYTHON= other than the existing .venv's stops make above.)
VERSION_OF = -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])'
python:
	@test -n "$(PYTHON)" || { echo "no supported Python found: install python3.13, 3.12 or 3.11, or pass PYTHON=/path/to/python3.x"; exit 2; }
	@found=$$($(PYTHON) $(VERSION_OF)) || { echo "PYTHON=$(PYTHON) does not run"; exit 2; }; \
	case "$${found%.*}" in 3.11|3.12|3.13) ;; *) echo "Python $$found ($(PYTHON)) is not supported: 3.11, 3.12 or 3.13"; exit 2;; esac; \
	if test -x $(BIN)/python; then echo "Python $$($(BIN)/python $(VERSION_OF)) ($(VENV)); $(PYTHON_FROM): $(PYTHON) ($$found)"; \
	else echo "Python $$found, $(PYTHON) ($(PYTHON_FROM)): $(VENV) is made with it"; fi

# The supported Pythons that .venv does not have, in fresh virtual environments, both at once: the package built
# as a wheel and installed (not editable), the fast tier, and one notebook copied alone into an empty folder and
# run there. CI runs it after `make test`.
other-pythons: $(STAMP)
	$(PYTEST) tests/test_packaging.py -q -n 2 -m other_pythons --durations=0

# The book to read without running: every notebook executed with the SITE_PRESET preset (or the executed notebooks
# of SITE_RUN=runs/<timestamp>), built offline with Sphinx and MyST-NB into build/site/ (open build/site/index.html),
# then checked in Chromium (every page renders, every figure loads, every internal link resolves).
SITE_PRESET ?= classroom
SITE_RUN ?=
site: $(STAMP)
	$(BIN)/python -m helpers.site --out build/site $(if $(SITE_RUN),--run $(SITE_RUN),--preset $(SITE_PRESET))
	SITE_BOOK=build/site $(PYTEST) tests/test_site.py -q -m browser

.PHONY: python other-pythons site
