# The two set-up commands of README.md: `make tune` (the main job) and `make test`.
# Both work on a distribution's own Python (Debian, Ubuntu: PEP 668 refuses system-wide
# pip installs): kregs is installed into a virtual environment in this folder, .venv/.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
FASHION_MNIST := /usr/share/datasets/fashion-mnist

.PHONY: venv install install-dev data tune test test-jax test-bench docs

# The JAX leg: the core and data tests again under KERAS_BACKEND=jax, with TensorFlow
# hidden (tests/no_tensorflow); the JAX smoke tune, --workers, study and predict runs
# are in tests/test_backends.py, in the main leg.
JAX_LEG := tests/test_layers.py tests/test_regularizers.py tests/test_models.py \
	tests/test_config.py tests/test_data.py tests/test_callbacks.py tests/test_practices_core.py

$(BIN)/python:  ## a virtual environment from $(PYTHON), installing python3-venv where it lacks
	@$(PYTHON) -c "import venv, ensurepip" 2>/dev/null || { \
		if command -v apt-get >/dev/null; then \
			echo "$(PYTHON) has no venv module: installing python3-venv with apt-get"; \
			$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq python3-venv; \
		else echo "$(PYTHON) has no venv module: install your distribution's python3-venv package" >&2; exit 1; fi; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

venv: $(BIN)/python

$(VENV)/.installed: pyproject.toml | $(BIN)/python  ## kregs, editable: what the main job needs
	$(BIN)/python -m pip install -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed  ## the test, bench and docs tools too
	$(BIN)/python -m pip install -e ".[dev,docs]"
	@touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

data:  ## real Fashion-MNIST from Debian's dataset-fashion-mnist, where apt-get exists
	@if [ -d $(FASHION_MNIST) ]; then echo "Fashion-MNIST: $(FASHION_MNIST)"; \
	elif command -v apt-get >/dev/null; then \
		$(SUDO) apt-get update && $(SUDO) apt-get install -y dataset-fashion-mnist; \
	else echo "no apt-get: kregs will download Fashion-MNIST through TFDS"; fi

tune: install data  ## the main job: a quick search on Fashion-MNIST
	$(BIN)/kregs tune --dataset fashion_mnist --preset quick --output runs/quick

test: install-dev data  ## lint, the test suite, and its JAX leg
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -m "not bench"
	$(MAKE) --no-print-directory test-jax

test-bench: install-dev data  ## every bench/ script at its smallest size (CI runs it after make test)
	$(BIN)/pytest -m bench

test-jax: install-dev  ## the core and data tests under JAX, TensorFlow hidden
	KERAS_BACKEND=jax PYTHONPATH=tests/no_tensorflow $(BIN)/pytest -m "not tensorflow" $(JAX_LEG)

docs: install-dev  ## the documentation site in site/ (a broken link or reference fails)
	$(BIN)/mkdocs build --strict
