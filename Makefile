# The whole set-up on a fresh machine is one of these two commands:
#   make book   run every chapter through the runner, then build the book (book/_build/html)
#   make test   run every test (what CI runs)
# Both create (or reuse) the virtual environment .venv and install tdlib with its pinned
# dependencies into it first.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.tdlib-installed
NOTEBOOKS := $(wildcard book/*.ipynb)

.PHONY: book html test browser setup lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e ".[book,test]"
	touch $(STAMP)

setup: $(STAMP)

# Every chapter with its committed profile: with the committed results cache this only
# loads and plots; anything missing is computed. Then the HTML from the executed notebooks.
book: $(STAMP)
	$(BIN)/python -m tdlib run
	$(MAKE) html

html: $(STAMP)
	$(BIN)/jupyter-book build -W -n --keep-going book/

# Unit tests, every chapter on the smoke profile, nbval on the committed notebooks (cells
# tagged nbval-check-output must reproduce their committed output), the book built with -W
# and every page checked in headless Chromium (installed here when missing).
test: $(STAMP) browser
	TDLIB_REQUIRE_BROWSER=1 $(BIN)/python -m pytest tests --nbval-lax $(NOTEBOOKS)

browser:
	@command -v chromium >/dev/null || { \
	  echo "installing Debian's chromium for the browser test"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

lint: $(STAMP)
	$(BIN)/python -m pip install --quiet ruff==0.17.6
	$(BIN)/ruff check tdlib tests

clean:
	rm -rf book/_build .pytest_cache
