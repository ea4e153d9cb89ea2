# The two commands a newcomer needs (README): `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3

.PHONY: demo demo-stop demo-probe-matrix test deps unit integration sanity lint

demo:
	bash scripts/demo.sh

demo-stop:
	bash scripts/demo-stop.sh

# The probe matrix alone, against a throwaway private Postfix instance.
demo-probe-matrix:
	bash scripts/demo_probe_matrix.sh

test: deps
	$(PYTHON) -m pytest -p no:cacheprovider -q tests/unit tests/integration
	bash scripts/sanity.sh

deps:
	bash scripts/install-deps.sh

unit:
	$(PYTHON) -m pytest -q tests/unit

integration:
	$(PYTHON) -m pytest -q tests/integration

sanity:
	bash scripts/sanity.sh
