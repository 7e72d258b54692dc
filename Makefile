# huzhu: every target sets itself up; only Python 3.11+, make and a C compiler are assumed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
VALIDATORS ?= 4
PYTHON_IMAGE ?= python:3.11-slim
IMAGE ?= huzhu:local
DOCKER_TESTNET := docker/testnet
DOCKER_PROJECT ?= huzhu

.PHONY: test docs localnet explorer-vendor lint format clean docker-build docker-localnet docker-stop docker-wipe

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $(STAMP)

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	@# pytest exits 5 when it collects no test: that is a broken suite, not a pass
	$(BIN)/python -m pytest -q; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest ran no test" >&2; exit 1; fi; exit $$rc

# rewrites the tables of docs/*.md generated from the registries (tests/test_docs.py checks them)
docs: $(STAMP)
	$(BIN)/python -m node.docgen

localnet: $(STAMP)
	$(BIN)/huzhu localnet --validators $(VALIDATORS)

# rebuilds the explorer's vendored JavaScript (node/explorer/static/vendor/) from npm: pinned
# versions, npm's integrity checked, LICENSE files copied; a node never needs it to run
explorer-vendor:
	sh tools/vendor_explorer_crypto.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis .mypy_cache

# --- docker (cluster operators, docs/docker.md) ---------------------------------------
# `docker compose` (v2) when present, else docker-compose (v1); only looked up by these targets
COMPOSE = $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose) \
	-p $(DOCKER_PROJECT) -f docker/compose.yml

docker-build:
	docker build -f docker/Dockerfile --build-arg PYTHON_IMAGE=$(PYTHON_IMAGE) -t $(IMAGE) .

$(DOCKER_TESTNET)/genesis.json: | $(STAMP)
	$(BIN)/huzhu testnet --validators 4 --out $(DOCKER_TESTNET) --hostnames

docker-localnet: docker-build $(DOCKER_TESTNET)/genesis.json
	HUZHU_IMAGE=$(IMAGE) $(COMPOSE) up -d
	@echo "RPC (127.0.0.1 only):"
	@for i in 0 1 2 3; do echo "  node$$i  http://127.0.0.1:$$(HUZHU_IMAGE=$(IMAGE) $(COMPOSE) port node$$i 26657 | cut -d: -f2)/"; done

docker-stop:
	$(COMPOSE) stop

docker-wipe:
	$(COMPOSE) down -v --remove-orphans
	rm -rf $(DOCKER_TESTNET)
