# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CONFIG ?= config/demo.yaml
CATALOGUES := idp/translations
STAMP := $(VENV)/.installed
AXE := tests/e2e/axe
AXE_STAMP := $(AXE)/node_modules/.installed

.PHONY: run cluster test install translations catalogues lint bench clean system-packages test-packages

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
	# The provider on 5000 and the two demo portals (demo/) on 5001 and 5002; Ctrl-C, SIGTERM or SIGHUP stops them all.
	$(BIN)/python -m demo $(CONFIG)

## The demo on two `idp serve` nodes behind HAProxy (http://127.0.0.1:5000), on PostgreSQL and Redis
## (its own, in instance/cluster/, unless IDP_CLUSTER_DATABASE_URL / IDP_CLUSTER_REDIS_URL name them).
cluster: install
	@missing=""; command -v haproxy >/dev/null || missing="$$missing haproxy"; \
	  command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	  if [ -n "$$missing" ]; then echo "installing Debian's$$missing"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi
	$(BIN)/python -m demo.cluster $(CONFIG)

lint: $(STAMP)
	$(BIN)/ruff check idp tests bench demo tools
	$(BIN)/lint-imports

## What the tests need besides Python: Debian's Chromium, Apache with mod_auth_openidc, Redis and
## Node.js (tools/system-packages.sh installs whichever is missing, and says nothing when none is),
## then axe-core from the committed lockfile (the accessibility tests).
system-packages:
	@sh tools/system-packages.sh  # chromium, apache2 + libapache2-mod-auth-openidc, redis-server, redis-sentinel, haproxy, nodejs + npm

$(AXE_STAMP): $(AXE)/package.json $(AXE)/package-lock.json | system-packages
	cd $(AXE) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

test-packages: system-packages $(AXE_STAMP)

test: install test-packages
	$(BIN)/ruff check idp tests bench demo tools
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -n 2

## The benchmark of issue 6: ours and the peer (node oidc-provider, bench/peer/), pinned to one core
## each in turn, the load generator (Debian's wrk) on the other. `make bench BENCH_ARGS=--quick`
## for a 2 s smoke run; IDP_BENCH_DATABASE_URL / IDP_BENCH_REDIS_URL select PostgreSQL and Redis.
## `make bench BENCH_ARGS=--soak` (`--soak-seconds N`, default 180): a mixed load on two nodes behind HAProxy,
## on a PostgreSQL and a Redis of its own (bench/soak.py; haproxy, redis-server, postgresql: `make cluster` installs them).
BENCH_ARGS ?=
bench: install
	@command -v wrk >/dev/null || { echo "installing Debian's wrk"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
	@if command -v npm >/dev/null && [ ! -f bench/peer/node_modules/oidc-provider/package.json ]; then \
	  cd bench/peer && npm ci --no-audit --no-fund --loglevel=error; fi
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) instance .pytest_cache $(AXE)/node_modules
