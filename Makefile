# Two commands do all the set-up: `make demo` and `make test` each create .venv and install what they need.
PY ?= python3
VENV := .venv
PIP := $(VENV)/bin/pip install --quiet --disable-pip-version-check -c constraints.txt

.PHONY: demo test setup setup-test bench
$(VENV)/bin/python:
	$(PY) -m venv $(VENV)

setup: $(VENV)/bin/python
	$(PIP) -e .

setup-test: $(VENV)/bin/python
	$(PIP) -e ".[test]"

demo: setup
	$(VENV)/bin/openjepa demo

test: setup-test
	HF_HUB_OFFLINE=1 $(VENV)/bin/python -m pytest tests

bench: setup
	$(VENV)/bin/openjepa bench
