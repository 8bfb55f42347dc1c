# Two commands do all the set-up: `make demo` and `make test` each create .venv and install what they need.
PY ?= python3
VENV := .venv
PIP := $(VENV)/bin/pip install --quiet --disable-pip-version-check -c constraints.txt

.PHONY: demo test setup setup-test bench wordnet
$(VENV)/bin/python:
	$(PY) -m venv $(VENV)

setup: $(VENV)/bin/python
	$(PIP) -e .

setup-test: $(VENV)/bin/python
	$(PIP) -e ".[test]"

demo: setup
	$(VENV)/bin/openjepa demo

test: setup-test
	@$(MAKE) --no-print-directory wordnet || echo "Debian's wordnet-base could not be fetched: the tests that read WordNet skip"
	HF_HUB_OFFLINE=1 $(VENV)/bin/python -m pytest tests

# the built-in wordnet_glosses corpus: Debian's wordnet-base package unpacked into the environment (no root needed;
# apt-get install wordnet-base does the same system-wide)
WORDNET := $(VENV)/share/wordnet
wordnet: $(WORDNET)/data.noun
$(WORDNET)/data.noun: | $(VENV)/bin/python
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	(cd "$$tmp" && apt-get download wordnet-base >/dev/null 2>&1 && dpkg-deb -x wordnet-base_*.deb unpacked) && \
	mkdir -p $(VENV)/share && cp -r "$$tmp/unpacked/usr/share/wordnet" $(VENV)/share/ && echo "WordNet: $(WORDNET)"

bench: setup
	$(VENV)/bin/openjepa bench
