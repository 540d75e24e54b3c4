# Set-up and everyday commands. Every target creates the virtual environment it needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Real third-party .tflite graphs (face/hand detectors) used by the tests, taken from a PyPI wheel.
THIRD_PARTY := build/third_party
MEDIAPIPE_WHEEL_VERSION := 0.10.14

export MCHAIR_CACHE_DIR ?= $(CURDIR)/build/cache

.PHONY: demo test check install third-party clean

demo: $(STAMP)
	$(BIN)/mchair demo

test: $(STAMP) third-party
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The quality gates .ci/run passes before the tests: lint (ruff) and types (mypy, 0 errors).
check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

install: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[master,test,ray]'
	touch $(STAMP)

third-party: $(THIRD_PARTY)/.done

$(THIRD_PARTY)/.done: $(STAMP) tools/fetch_third_party_models.py
	$(BIN)/python tools/fetch_third_party_models.py --out $(THIRD_PARTY) --mediapipe $(MEDIAPIPE_WHEEL_VERSION)
	touch $@

clean:
	rm -rf $(VENV) build *.egg-info
