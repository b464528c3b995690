# Two commands on a fresh machine: `make run` (install, build the index, serve the site) and
# `make test` (install, then every test: fast, real-model, real-server and real-browser).
VENV ?= .venv
PY := $(VENV)/bin/python
KB := $(VENV)/bin/kb
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: install run index serve test test-fast lint fmt browser-deps ocr-deps pg-deps bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# The CPU build of torch on this machine's disk; unpinned, pip would fetch a CUDA build.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

index: install
	$(KB) ingest

serve: install
	$(KB) serve --production --host $(HOST) --port $(PORT)

# OCR is optional for running: without Tesseract a scanned PDF is refused as needing OCR.
run:
	@$(MAKE) --no-print-directory ocr-deps || echo "Tesseract could not be installed: OCR of scanned PDFs is off."
	@$(MAKE) --no-print-directory index serve

# Debian's Chromium and ChromeDriver for the real-browser tests (root on these machines).
browser-deps:
	@command -v chromedriver >/dev/null && command -v chromium >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver)

# Debian's Tesseract for OCR of scanned PDFs (ingest/ocr.py); without it OCR is off.
ocr-deps:
	@command -v tesseract >/dev/null && tesseract --list-langs 2>/dev/null | grep -qx eng || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tesseract-ocr tesseract-ocr-eng)

# Debian's PostgreSQL for the tests marked `postgres` (the store on a database server):
# scripts/pg-throwaway starts a throwaway cluster in a temporary folder for one test run.
pg-deps:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql)

test: install browser-deps ocr-deps pg-deps
	scripts/pg-throwaway run -- $(PY) -m pytest

test-fast: install
	$(PY) -m pytest -m "not model and not browser and not server and not slow"

lint: install
	$(VENV)/bin/ruff check kb ingest web export kb_cli tests bench
	$(VENV)/bin/ruff format --check kb ingest web export kb_cli tests bench

fmt: install
	$(VENV)/bin/ruff format kb ingest web export kb_cli tests bench
	$(VENV)/bin/ruff check --fix kb ingest web export kb_cli tests bench

bench: install
	$(PY) bench/ingest.py
	$(PY) bench/search.py

clean:
	rm -rf data .pytest_cache .ruff_cache
