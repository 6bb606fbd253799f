# Quick start: `make run` (the whole system on the embedded default) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell $(PYTHON) -c "import hashlib,sys;print(hashlib.sha256(open('requirements.txt','rb').read()+open('requirements-nodeps.txt','rb').read()).hexdigest()[:12])")

.PHONY: run test test-scale setup migrate lint format bench clean

$(STAMP): requirements.txt requirements-nodeps.txt
	@$(PYTHON) -c "import sys; sys.exit(0 if sys.version_info[:2] >= (3, 11) else 'postflow needs Python 3.11 or newer (set PYTHON=python3.11)')"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -r requirements-nodeps.txt
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

setup: $(STAMP)

migrate: setup
	$(BIN)/python manage.py migrate --noinput

run: migrate
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(BIN)/python manage.py ensure_admin
	$(BIN)/honcho start -f Procfile

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The same suite in scale mode: PostgreSQL and Redis on loopback (.ci/services.sh installs them from
# Debian's packages when missing, which needs root, and stops them afterwards).
test-scale: setup
	@set -e; env_lines=$$(.ci/services.sh start); trap '.ci/services.sh stop' EXIT; \
	  export $$env_lines; echo "scale mode: $$env_lines" | sed 's/[^ ]*@/***@/g'; \
	  $(BIN)/python -m pytest $(PYTEST_ARGS)

# Style (ruff) and architecture (import-linter: the layers of docs/architecture.md, pyproject.toml).
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: setup
	$(BIN)/python bench/import_shots.py
	$(BIN)/python bench/scan_tree.py
	$(BIN)/python bench/verify_sources.py
	$(BIN)/python bench/proxy_encode.py
	$(BIN)/python bench/upload_memory.py
	$(BIN)/python bench/dashboard.py
	$(BIN)/python bench/realtime_latency.py
	$(BIN)/python bench/ws_clients.py
	$(BIN)/python bench/delivery.py

clean:
	rm -rf $(VENV) var/static .pytest_cache .ruff_cache
