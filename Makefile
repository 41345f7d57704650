# The two set-up commands of README.md: `make tune` (the main job) and `make test`.
PYTHON ?= python3
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
FASHION_MNIST := /usr/share/datasets/fashion-mnist

.PHONY: install data tune test

install:  ## kregs, editable, with the test tools
	$(PYTHON) -m pip install -e ".[dev]"

data:  ## real Fashion-MNIST from Debian's dataset-fashion-mnist, where apt-get exists
	@if [ -d $(FASHION_MNIST) ]; then echo "Fashion-MNIST: $(FASHION_MNIST)"; \
	elif command -v apt-get >/dev/null; then \
		$(SUDO) apt-get update && $(SUDO) apt-get install -y dataset-fashion-mnist; \
	else echo "no apt-get: kregs will download Fashion-MNIST through TFDS"; fi

tune: install data  ## the main job: a quick search on Fashion-MNIST
	kregs tune --dataset fashion_mnist --preset quick --output runs/quick

test: install data  ## lint and the default test suite
	ruff check .
	pytest
