# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# `make compat`: the botocore adapter's tests on the OLDEST boto3/botocore that
# pyproject.toml accepts (its `>=` floors, read from the file so the two never
# drift); the main .venv covers the newest. A separate venv, because a venv
# holds one botocore.
OLDEST       := .venv-oldest
OLDEST_BIN   := $(OLDEST)/bin
OLDEST_STAMP := $(OLDEST)/.installed
OLDEST_PINS  := $(shell sed -n 's/^ *"\(boto3\|botocore\)>=\([0-9][0-9.]*\)".*/\1==\2/p' pyproject.toml)
COMPAT_TESTS := tests/test_botocore_compat.py tests/test_shared_loader.py

# `make distributed`: fan_out on real engines (a Dask LocalCluster, a local Ray)
# in a venv of their own: Ray pins much of its stack and weighs ~600 MB.
DIST       := .venv-dist
DIST_BIN   := $(DIST)/bin
DIST_STAMP := $(DIST)/.installed
DIST_PINS  := 'dask[distributed]==2026.8.0' 'ray==2.60.0'

.PHONY: demo lint typecheck unit docs compat bench clean
.PHONY: distributed

# Two stamps in the one .venv: `make demo` needs the package and its `demo`
# extra only; every other target installs the lint, type-check, test and
# docs toolchains on top of that.
DEMO_STAMP := $(VENV)/.installed-demo

$(DEMO_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -e '.[demo]'
	touch $(DEMO_STAMP)

$(STAMP): $(DEMO_STAMP)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,demo,docs]'
	touch $(STAMP)

$(OLDEST_STAMP): pyproject.toml
	@test "$(words $(OLDEST_PINS))" = 2 || { echo "no boto3/botocore >= floors in pyproject.toml"; exit 1; }
	test -x $(OLDEST_BIN)/python || $(PYTHON) -m venv $(OLDEST)
	echo '*' > $(OLDEST)/.gitignore
	$(OLDEST_BIN)/python -m pip install -q --upgrade pip
	$(OLDEST_BIN)/python -m pip install -q -e . $(OLDEST_PINS) pytest 'moto[server]>=5.0' freezegun hypothesis
	touch $(OLDEST_STAMP)

$(DIST_STAMP): pyproject.toml
	test -x $(DIST_BIN)/python || $(PYTHON) -m venv $(DIST)
	echo '*' > $(DIST)/.gitignore
	$(DIST_BIN)/python -m pip install -q --upgrade pip
	$(DIST_BIN)/python -m pip install -q -e . pytest 'moto[server]>=5.0' freezegun $(DIST_PINS)
	touch $(DIST_STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/python -m rolesession demo

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy --strict src tests/typing

unit: $(STAMP)
	$(BIN)/python -m pytest -q

docs: $(STAMP)
	@if [ -f mkdocs.yml ]; then NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict -q -d .site; fi

compat: $(OLDEST_STAMP)
	$(OLDEST_BIN)/python -c 'import boto3, botocore; print("compat: boto3", boto3.__version__, "botocore", botocore.__version__)'
	$(OLDEST_BIN)/python -m pytest -q $(COMPAT_TESTS)

distributed: $(DIST_STAMP)
	$(DIST_BIN)/python -m pytest -q tests/distributed

# `make test` runs every target in TESTS, each to its end even when an
# earlier one failed, prints a summary (target, status, seconds) and fails
# at the end if any failed. Add a target with `TESTS += name`.
TESTS := lint typecheck unit docs compat distributed

.PHONY: test
test:
	@.ci/run-targets $(MAKE) $(TESTS)

# `make build`: the sdist and the wheel a release would upload, built in an
# isolated environment into dist/ (git-ignored, emptied first), and their
# metadata checked the way PyPI will render it. `make test` runs it.
.PHONY: build
build: $(STAMP)
	rm -rf dist
	$(BIN)/python -m build --outdir dist .
	$(BIN)/python -m twine check --strict dist/*

TESTS += build

# `make aio`: rolesession.aio's tests where aiobotocore is installed. Its own
# venv: aiobotocore pins a narrow botocore range, older than the newest boto3
# the main .venv holds.
AIO       := .venv-aio
AIO_BIN   := $(AIO)/bin
AIO_STAMP := $(AIO)/.installed
AIO_TESTS := tests/test_aio.py

$(AIO_STAMP): pyproject.toml
	test -x $(AIO_BIN)/python || $(PYTHON) -m venv $(AIO)
	echo '*' > $(AIO)/.gitignore
	$(AIO_BIN)/python -m pip install -q --upgrade pip
	$(AIO_BIN)/python -m pip install -q -e '.[aio]' aioboto3 pytest 'moto[server]>=5.0' freezegun hypothesis
	touch $(AIO_STAMP)

.PHONY: aio
aio: $(AIO_STAMP)
	$(AIO_BIN)/python -c 'import aiobotocore, botocore; print("aio: aiobotocore", aiobotocore.__version__, "botocore", botocore.__version__)'
	$(AIO_BIN)/python -m pytest -q $(AIO_TESTS)

TESTS += aio

bench: $(STAMP) $(AIO_STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) $(OLDEST) $(AIO) $(DIST) .site .mypy_cache .ruff_cache
