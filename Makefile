# Two commands do everything: `make course` runs the whole course on the offline
# default; `make test` runs the unit and notebook tests. Both build .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# PyTorch for a laptop without a GPU. On Linux, torch from PyPI is the CUDA build
# (gigabytes of CUDA libraries); the CPU build (2.13.0+cpu, which pip ranks above
# 2.13.0) comes from PyTorch's own index, so the Makefile adds that index there and
# only there (macOS and Windows wheels on PyPI are CPU builds). PyPI stays the main
# index for torch's own dependencies, and an unreachable extra index costs seconds,
# not minutes. A torch already in .venv is kept. Take the CUDA build on Linux with
# `make TORCH_INDEX=`, another version with `make TORCH=torch==X`.
TORCH  ?= torch==2.13.0
TORCH_INDEX ?= $(if $(filter Linux,$(shell uname -s)),--retries 1 --timeout 10 \
               --extra-index-url https://download.pytorch.org/whl/cpu)
# Nothing here needs the Hugging Face Hub; without this a hub call hangs ~50 s.
export HF_HUB_OFFLINE ?= 1

.PHONY: install lab course test test-slow student grade bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install -q $(TORCH_INDEX) "$(TORCH)"
	$(BIN)/pip install -q -e ".[jupyter,dev]"
	touch $@

# JupyterLab on the notebooks, with the course's .venv as the Python 3 kernel
lab: install
	$(BIN)/jupyter lab student

course: install
	$(BIN)/python -m companion course --profile offline

# The fast tier (unit tests and notebooks 00-03, 06); CI also runs the slow tier
test: install
	COURSE_PROFILE=smoke $(BIN)/python -m pytest -m "not slow"

# The slow tier: notebooks 04, 05, 07, grading, two-process runs, a real browser
test-slow: install
	COURSE_PROFILE=smoke $(BIN)/python -m pytest -m slow

# Student versions (no solutions) into student/, the folder learners open
student: install
	$(BIN)/python -m companion student

# Grade submissions/<student>/*.ipynb with the instructor's checks (smoke profile)
SUBMISSIONS ?= submissions
JOBS ?= 1
grade: install
	$(BIN)/python -m companion grade $(SUBMISSIONS) --jobs $(JOBS)

bench: install
	$(BIN)/python bench/run_all.py

clean:
	rm -rf runs build
