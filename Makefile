# huzhu: every target sets itself up; only Python 3.11+, make and a C compiler are assumed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
VALIDATORS ?= 4
COMPOSE := $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo "docker-compose")
PYTHON_IMAGE ?= python:3.11-slim
IMAGE ?= huzhu:local
DOCKER_TESTNET := docker/testnet

.PHONY: test localnet lint format clean docker-build docker-localnet docker-stop docker-wipe

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $(STAMP)

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@# pytest exits 5 when it collects no test: that is a broken suite, not a pass
	$(BIN)/python -m pytest -q; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest ran no test" >&2; exit 1; fi; exit $$rc

localnet: $(STAMP)
	$(BIN)/huzhu localnet --validators $(VALIDATORS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis

# --- docker (cluster operators) ---------------------------------------------------------
docker-build:
	docker build -f docker/Dockerfile --build-arg PYTHON_IMAGE=$(PYTHON_IMAGE) -t $(IMAGE) .

$(DOCKER_TESTNET)/genesis.json: | $(STAMP)
	$(BIN)/huzhu testnet --validators 4 --out $(DOCKER_TESTNET) --hostnames

docker-localnet: docker-build $(DOCKER_TESTNET)/genesis.json
	HUZHU_IMAGE=$(IMAGE) $(COMPOSE) -f docker/compose.yml up -d
	@echo "RPC: http://127.0.0.1:26657 http://127.0.0.1:26658 http://127.0.0.1:26659 http://127.0.0.1:26660"

docker-stop:
	$(COMPOSE) -f docker/compose.yml stop

docker-wipe:
	$(COMPOSE) -f docker/compose.yml down -v
	rm -rf $(DOCKER_TESTNET)
