# The two entry points a newcomer needs: `make demo` and `make test`.
# Both bootstrap everything they need on a fresh Debian machine first.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test lint bootstrap bootstrap-postgres

bootstrap:
	scripts/bootstrap-python $(VENV)

bootstrap-postgres:
	scripts/bootstrap-postgres

demo: bootstrap
	$(VENV)/bin/shoko demo

test: bootstrap bootstrap-postgres
	$(VENV)/bin/ruff check .
	$(PY) -m pytest

lint: bootstrap
	$(VENV)/bin/ruff check .
