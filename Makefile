# Every target creates .venv and installs what it needs when missing.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-test
REAL_STAMP := $(VENV)/.installed-real
NODE_STAMP := $(VENV)/.installed-node
NODE_DIR := $(VENV)/node
REAL_LOG := $(VENV)/real-install.log
DEMO_STAMP := $(VENV)/.installed-demo

.PHONY: test demo docs bench bench-proxy lint clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

# The `real` extra builds llama-cpp-python from source. A failed install must not hide the other tests:
# it is retried on the next run, and tests/integration fail in CI quoting $(REAL_LOG).
$(REAL_STAMP): pyproject.toml | $(STAMP)
	CMAKE_ARGS="-DGGML_NATIVE=OFF" $(BIN)/python -m pip install -e '.[real]' > $(REAL_LOG) 2>&1 \
		&& touch $(REAL_STAMP) \
		|| { echo "warning: the real extra did not install, see $(REAL_LOG):"; tail -n 15 $(REAL_LOG); }

# The real openai-node SDK for the proxy's JS-client tests, installed here so that no test downloads
# anything; skipped (and the tests skip) on a machine without npm.
$(NODE_STAMP): | $(BIN)/python
	@if command -v npm >/dev/null 2>&1; then \
		npm install --silent --no-audit --no-fund --prefix $(NODE_DIR) openai@7 >/dev/null 2>&1 \
			&& touch $(NODE_STAMP) || echo "warning: npm could not install openai@7 (the node client tests will skip)"; \
	fi

# Two test processes (pytest-xdist): most tests wait on sockets and timers, so the suite takes ~60 % of the
# time on 2 cores. `$(BIN)/python -m pytest` alone still runs it in one process.
test: $(STAMP) $(REAL_STAMP) $(NODE_STAMP)
	$(BIN)/python -m pytest -q -n 2
	$(BIN)/ruff check modelmesh langchain_modelmesh tests benchmarks
	$(BIN)/mypy

# Only what the demo needs (the `demo` extra), with pip's progress shown; the test extras are not required.
$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	@echo "make demo: installing modelmesh and its demo extra into $(VENV):"
	@echo "  openai, pydantic, pyyaml (the core) + rich (live view), starlette and uvicorn (local fake providers)"
	$(BIN)/python -m pip install --progress-bar on -e '.[demo]'
	touch $(DEMO_STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/modelmesh demo
	@echo ""
	@echo "Next, with your own keys: export OPENAI_API_KEY=... (or ANTHROPIC_API_KEY, GROQ_API_KEY, ...), then"
	@echo "  $(BIN)/modelmesh status                  # the pools and models your keys give you"
	@echo "  $(BIN)/python -c \"import modelmesh; print(modelmesh.create('chat-completion').pool_status())\""
	@echo "See README.md (Using it) and docs/configuration.md."

# The documentation site in site/; --strict turns a broken link or a bad API reference into a failure.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

bench: $(STAMP)
	$(BIN)/python -m benchmarks

# modelmesh serve against the bare upstream and the LiteLLM proxy (installed into benchmarks/.litellm-venv),
# closed-loop at concurrency 1, 16, 64 and 256 and open-loop at 50, 200 and 500 requests/s.
# PROXY_ARGS="--workers 2" also measures modelmesh serve with two workers.
bench-proxy: $(STAMP)
	$(BIN)/python -m benchmarks.proxy --litellm $(PROXY_ARGS) --json benchmarks/last-proxy-run.json

lint: $(STAMP)
	$(BIN)/mypy
	$(BIN)/ruff check modelmesh langchain_modelmesh tests benchmarks
	$(BIN)/ruff format --check modelmesh langchain_modelmesh tests benchmarks

clean:
	rm -rf $(VENV)
