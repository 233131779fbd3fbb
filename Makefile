# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CONFIG ?= config/demo.yaml
CATALOGUES := idp/translations
STAMP := $(VENV)/.installed

.PHONY: run test install translations catalogues lint bench clean

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP) translations

## Compile the fr and en catalogues (.mo files are built, never committed).
translations: $(STAMP)
	$(BIN)/pybabel -q compile -d $(CATALOGUES)

## Re-extract the messages and merge them into both catalogues (for developers).
catalogues: $(STAMP)
	$(BIN)/pybabel -q extract -F babel.cfg -k _l -k lazy_gettext --no-location --sort-output -o $(CATALOGUES)/messages.pot .
	$(BIN)/pybabel -q update --no-fuzzy-matching -i $(CATALOGUES)/messages.pot -d $(CATALOGUES)
	$(BIN)/python tools/catalogues.py

run: install
	IDP_CONFIG=$(CONFIG) $(BIN)/idp db upgrade
	IDP_CONFIG=$(CONFIG) $(BIN)/idp demo
	$(BIN)/idp --config $(CONFIG) serve

lint: $(STAMP)
	$(BIN)/ruff check idp tests
	$(BIN)/lint-imports

test: install
	$(BIN)/ruff check idp tests
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) instance .pytest_cache
