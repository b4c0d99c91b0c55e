# openai-compatible DSS plugin. `make demo` and `make test` set everything up from scratch.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_BOOTSTRAP ?= python3
VENV := .venv
PY := $(VENV)/bin/python
LITELLM_VENV := .llm/litellm
MODEL := .llm/models/smollm2-135m-instruct-q4_1.gguf
OIDC_DIR := tests/servers/oidc
plugin_id := $(shell $(PYTHON_BOOTSTRAP) -c "import json;print(json.load(open('plugin.json'))['id'])" 2>/dev/null)
plugin_version := $(shell $(PYTHON_BOOTSTRAP) -c "import json;print(json.load(open('plugin.json'))['version'])" 2>/dev/null)
archive := dist/dss-plugin-$(plugin_id)-$(plugin_version).zip

.PHONY: help setup venv litellm model oidc java serve test unit providers integration lint plugin demo bench reliability mutation install clean dist-clean

help:
	@echo "make demo         run the prompt recipe on the embedded local model (sets everything up)"
	@echo "make test         install everything and run the unit, integration and provider-corpus tests"
	@echo "make serve        serve the embedded local model on 127.0.0.1:8012 (the example presets' URL) until Ctrl-C"
	@echo "make providers    replay the provider corpus (tests/providers) through the client"
	@echo "make lint         ruff"
	@echo "make plugin       build $(archive)"
	@echo "make bench        benchmarks (bench/results)"
	@echo "make reliability  fault, crash, bad-input, secret and load report"
	@echo "make mutation     mutation score of the core modules (slow; MODULES=sse,retry for some only)"
	@echo "make install DSS_URL=... DSS_API_KEY=...  install or update the plugin in a DSS instance"

setup: venv litellm model oidc java

venv: $(VENV)/.stamp
$(VENV)/.stamp: requirements-dev.txt code-env/python/spec/requirements.txt
	$(PYTHON_BOOTSTRAP) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

litellm: $(LITELLM_VENV)/.stamp
$(LITELLM_VENV)/.stamp: tests/servers/litellm-requirements.txt
	$(PYTHON_BOOTSTRAP) -m venv $(LITELLM_VENV)
	$(LITELLM_VENV)/bin/pip install -q -r tests/servers/litellm-requirements.txt
	touch $@

# The real OAuth2 server of the token tests: npm oidc-provider, pinned by package-lock.json (needs Node.js >= 20)
oidc: $(OIDC_DIR)/node_modules/.stamp
$(OIDC_DIR)/node_modules/.stamp: $(OIDC_DIR)/package.json $(OIDC_DIR)/package-lock.json
	cd $(OIDC_DIR) && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	touch $@

# Spark (the Spark tests and bench) needs a Java runtime; pyspark 3.5 runs on Java 8, 11 or 17. Installed from
# the system packages only when no `java` works (Debian bookworm: openjdk-17-jre-headless; later releases
# dropped 17, so fall back to their default JRE).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
java:
	@java -version >/dev/null 2>&1 || { \
	  echo "Spark needs Java: installing a JRE from the system packages"; \
	  $(SUDO) apt-get update -q && \
	  { $(SUDO) apt-get install -y -q --no-install-recommends openjdk-17-jre-headless || \
	    $(SUDO) apt-get install -y -q --no-install-recommends default-jre-headless; }; }
	@java -version >/dev/null 2>&1 || { echo "No working java: install a JRE 17 (e.g. openjdk-17-jre-headless)"; exit 1; }

model: $(MODEL)
$(MODEL): tools/fetch_model.py
	$(PYTHON_BOOTSTRAP) tools/fetch_model.py $(MODEL)

test: setup
	PYTHONPATH=python-lib:. $(PY) -m pytest -q tests/python/unit tests/python/integration tests/providers

unit: venv
	PYTHONPATH=python-lib:. $(PY) -m pytest -q tests/python/unit

providers: venv
	PYTHONPATH=python-lib:. $(PY) -m pytest -q tests/providers

integration: setup
	PYTHONPATH=python-lib:. $(PY) -m pytest -q tests/python/integration

lint: venv
	$(VENV)/bin/ruff check .

plugin: venv
	$(PY) tools/check_descriptors.py
	PYTHONPATH=python-lib $(PY) tools/parameter_sets.py --check
	@rm -rf dist && mkdir -p dist
	git archive -9 --format zip -o $(archive) HEAD
	@zip -q -d $(archive) "tests/*" "localdss/*" "bench/*" "examples/*" "tools/*" ".ci/*" "requirements-dev.txt" ".gitignore" "Makefile" "pyproject.toml" >/dev/null || true
	@echo "built $(archive)"

# The example presets (examples/presets/local-llama.json) point at this port.
SERVE_PORT ?= 8012
serve: venv model
	$(PY) tools/llm_server.py --model $(MODEL) --port $(SERVE_PORT)

demo: venv model
	PYTHONPATH=python-lib:. $(PY) examples/demo.py

bench: setup
	PYTHONPATH=python-lib:. $(PY) bench/run.py
	PYTHONPATH=python-lib:. $(PY) bench/scale.py

reliability: setup
	PYTHONPATH=python-lib:. $(PY) tests/reliability/run.py

# mutmut on the core modules ([tool.mutmut] in pyproject.toml); resumes where a previous run stopped.
# MODULES=sse,retry,http reruns those modules only (all their mutants); SKIP=http/send leaves modules out;
# SAMPLE=400 tests a random sample of 400 mutants only (SEED=1 draws the same one again) and says the
# score is estimated from it; SURVIVORS=1 reruns only the mutants not killed yet (after adding tests);
# MUTATION_JOBS mutants are tested at once.
MODULES ?=
SKIP ?=
SAMPLE ?=
SEED ?= 1
SURVIVORS ?=
MUTATION_JOBS ?= 2
mutation: venv
	$(PY) tools/mutation.py run --jobs $(MUTATION_JOBS) $(if $(MODULES),--modules $(MODULES)) \
		$(if $(SKIP),--skip $(SKIP)) $(if $(SAMPLE),--sample $(SAMPLE) --seed $(SEED)) $(if $(SURVIVORS),--survivors)

install: venv
	@test -n "$(DSS_URL)" || (echo "DSS_URL is required: make install DSS_URL=https://dss.example.com:11200 DSS_API_KEY=..." && exit 2)
	@test -n "$(DSS_API_KEY)" || (echo "DSS_API_KEY is required (a personal or global API key with admin rights)" && exit 2)
	$(MAKE) plugin
	PYTHONPATH=python-lib:. $(PY) tools/install_plugin.py --url "$(DSS_URL)" --archive $(archive)

clean:
	rm -rf dist .pytest_cache .mutation mutants

dist-clean: clean
	rm -rf $(VENV) .llm
