# The whole set-up on a fresh machine is one of these two commands:
#   make book   build the book (HTML in book/_build/html)
#   make test   run every test
# Both create (or reuse) the virtual environment .venv and install tdlib with its pinned
# dependencies into it first.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.tdlib-installed

.PHONY: book test setup lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e ".[book,test]"
	touch $(STAMP)

setup: $(STAMP)

book: $(STAMP)
	$(BIN)/jupyter-book build -W -n --keep-going book/

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/python -m pip install --quiet ruff==0.17.6
	$(BIN)/ruff check tdlib tests

clean:
	rm -rf book/_build .pytest_cache
