# mailbot: `make run` to see it work on the demo mailbox, `make test` to run the whole suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test test-servers test-browser bench clean

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

# Three processes on this project's two cores: most of the suite waits on Dovecot, SMTP and subprocesses, not the CPU.
# A file's tests stay on one process (their module fixtures are shared). `TEST_WORKERS=0 make test` runs them in one.
TEST_WORKERS ?= 3

test: $(VENV)/.installed-dev test-servers test-browser
	$(BIN)/python -m pytest $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile)

# The service tests start a throwaway Dovecot: Debian's dovecot-imapd, installed here when missing
# (as root, or with sudo). Without it they are skipped, except under CI=true, where they fail.
DOVECOT := /usr/sbin/dovecot

test-servers:
	@test -x $(DOVECOT) || { \
	  if [ "$$(id -u)" = 0 ]; then as_root=; elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then as_root="sudo -n"; \
	  else echo "make: dovecot-imapd is not installed and neither root nor sudo is at hand: the IMAP tests will not run" >&2; exit 0; fi; \
	  echo "make: installing Debian's dovecot-imapd for the service tests" >&2; \
	  $$as_root apt-get update -qq >/dev/null && \
	  $$as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends dovecot-imapd >/dev/null; }
	@command -v systemd-analyze >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then as_root=; elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then as_root="sudo -n"; \
	  else echo "make: systemd-analyze is not installed and neither root nor sudo is at hand: the systemd unit's check will not run" >&2; exit 0; fi; \
	  echo "make: installing Debian's systemd (systemd-analyze) to verify deploy/mailbot.service" >&2; \
	  $$as_root apt-get update -qq >/dev/null && \
	  $$as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd >/dev/null; }

# The review desk's browser tests drive Debian's Chromium with Playwright (never a downloaded browser):
# installed here when missing, like dovecot above. Without it they are skipped, except under CI=true.
CHROMIUM := /usr/bin/chromium

test-browser:
	@test -x $(CHROMIUM) || { \
	  if [ "$$(id -u)" = 0 ]; then as_root=; elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then as_root="sudo -n"; \
	  else echo "make: chromium is not installed and neither root nor sudo is at hand: the browser tests will not run" >&2; exit 0; fi; \
	  echo "make: installing Debian's chromium for the review desk's browser tests" >&2; \
	  $$as_root apt-get update -qq >/dev/null && \
	  $$as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; }

# The service benchmark needs Dovecot (installed as for the tests) and starts its own, with an aiosmtpd sink.
bench: $(VENV)/.installed-dev test-servers
	$(BIN)/python bench/triage_throughput.py
	$(BIN)/python bench/service_throughput.py
	$(BIN)/python bench/reply_latency.py

# How right the reader is on every labelled corpus in reach (public, holdout-1, tests/data/cases*, the independent batches).
scorecard: $(VENV)/.installed
	$(BIN)/python bench/scorecard.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis bench/out
