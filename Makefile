# mailbot: `make run` to see it work on the demo mailbox, `make test` to run the whole suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@ $(VENV)/.installed

DEMO := var/demo

# The whole service, once, over the demo Maildir (refilled from config/demo/inbox), replies as .eml files.
run: $(VENV)/.installed
	rm -rf $(DEMO) && mkdir -p $(DEMO)/mail/new $(DEMO)/mail/cur $(DEMO)/mail/tmp
	for f in config/demo/inbox/*.eml; do cp "$$f" "$(DEMO)/mail/new/$$(basename "$$f" .eml)"; done
	$(BIN)/mailbot run --once --config config/demo/mailbot.toml

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest

bench: $(VENV)/.installed-dev
	$(BIN)/python bench/triage_throughput.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis bench/out
