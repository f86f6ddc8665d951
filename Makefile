# Every target bootstraps .venv (Python 3.11) and re-installs only when requirements.txt or pyproject.toml change.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PRESET ?= classroom
RUN_ARGS ?=
SEEDS ?= 0-9
ONLY ?= 04,05,07

.PHONY: help run seeds test lint unit notebooks lab student assignment grade clean

help:
	@echo "make run      execute every notebook with the $(PRESET) preset into runs/<timestamp>/"
	@echo "make seeds    run ONLY=$(ONLY) over SEEDS=$(SEEDS) (ci preset); merge min/median/max into notebooks/params/seed_figures.*"
	@echo "make test     lint + unit tests + every notebook (ci preset) + student copies + browser check"
	@echo "make lab      JupyterLab on 127.0.0.1 with the notebooks folder open"
	@echo "make student  student copies (solutions removed) into student/"
	@echo "make assignment  release versions with nbgrader's generate_assignment into release/<NN_topic>/"
	@echo "make grade SUBMISSIONS=DIR  nbgrader autograde of DIR/<student>/<NN_topic>.ipynb into DIR/grades.csv, .html"
	@echo "make lint     ruff on helpers, tests and notebooks; notebooks must have no outputs"

# uv installs the same pins as pip in about 1 min instead of about 3; pip takes over if uv fails.
# --compile-bytecode as pip does: the environment may set PYTHONDONTWRITEBYTECODE, and without .pyc files
# every process would compile TensorFlow from source on import (20 s instead of 10 here).
UV := uv==0.13.9

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet $(UV) || echo "uv could not be installed: pip installs the pins"
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -r requirements.txt \
		|| $(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e . \
		|| $(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/python -m helpers.run --preset $(PRESET) $(RUN_ARGS)

# One notebook after another, one seed after another (2 cores): about 40 min for 04,05,07 over 10 seeds.
seeds: $(STAMP)
	$(BIN)/python -m helpers.run --preset ci --seeds $(SEEDS) $(if $(ONLY),--only $(ONLY)) --table $(RUN_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check helpers tests notebooks
	$(BIN)/nbstripout --verify notebooks/*.ipynb

# Unit, runner, student-copy and browser tests, then every notebook end to end (nbmake, ci preset = defaults).
test: lint
	$(BIN)/python -m pytest tests notebooks --nbmake --nbmake-timeout=900 --durations=25

lab: $(STAMP)
	$(BIN)/jupyter lab --ip=127.0.0.1 --no-browser --ServerApp.root_dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root)

student: $(STAMP)
	$(BIN)/python -m helpers.student --out student

assignment: $(STAMP)
	$(BIN)/python -m helpers.grading assign --out release

# Exercises-only runs, one submission at a time (GRADE_ARGS="--jobs 2 --timeout 600 --cell-timeout 120 --full").
GRADE_ARGS ?=
grade: $(STAMP)
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=DIR (DIR/<student>/<NN_topic>.ipynb)"; exit 2; }
	$(BIN)/python -m helpers.grading grade $(SUBMISSIONS) $(GRADE_ARGS)

clean:
	rm -rf runs student release .pytest_cache .ruff_cache
