# The two commands a newcomer needs (README): `make demo` and `make test`.
# SPDX-License-Identifier: GPL-3.0-or-later
SHELL := /bin/bash
# Everything Python runs from the project virtual environment that scripts/install-deps.sh
# makes from Debian's python3 (never the system site-packages: PEP 668).
VENV ?= $(CURDIR)/.venv
PYTHON := $(VENV)/bin/python
export PATH := $(VENV)/bin:$(PATH)
export VENV

.PHONY: demo demo-stop demo-probe-matrix test test-fresh deps unit integration targets sanity lint bench bench-quick lab lab-stop lab-test

demo:
	bash scripts/demo.sh

demo-stop:
	bash scripts/demo-stop.sh

# The probe matrix alone, against a throwaway private Postfix instance.
demo-probe-matrix:
	bash scripts/demo_probe_matrix.sh

# pytest, integration targets, sanity, typecheck, release checks, EE check: in that order,
# stopping at the first failure; scripts/test-all.sh prints each step's wall time.
test: deps
	PYTHON=$(PYTHON) bash scripts/test-all.sh

# The README's two commands on pristine Debian 12 and 13 trees (debootstrap), offline after
# setup; run by .ci/run. FRESH_DISTS=bookworm for one, FRESH_PARALLEL=0 one after the other.
# Needs only debootstrap and git here (it installs them); the trees install the rest.
test-fresh:
	bash scripts/test-fresh.sh

deps:
	bash scripts/install-deps.sh

unit: deps
	$(PYTHON) -m pytest -q tests/unit

integration: deps
	$(PYTHON) -m pytest -q tests/integration

# The module behaviour tests: ansible-test integration targets (tests/integration/targets),
# each on a private Postfix instance of its own. TARGETS=postconf for one.
targets: deps
	bash scripts/integration-targets.sh $(TARGETS)

lint: deps
	bash scripts/lint.sh

sanity: deps
	bash scripts/sanity.sh

# Benchmarks (not part of `make test`; tests/integration/test_benchmarks_smoke.py runs each
# --quick form once). Results: benchmarks/results/*.txt, figures in BENCHMARKS.md.
bench: deps
	$(PYTHON) -m pip install -q --disable-pip-version-check -r benchmarks/requirements.txt
	mkdir -p benchmarks/results
	set -o pipefail; $(PYTHON) benchmarks/scaling.py | tee benchmarks/results/scaling.txt
	set -o pipefail; $(PYTHON) benchmarks/probe_matrix.py --sweep 100,300,1000,3000 \
	    --plot benchmarks/probe_matrix.png | tee benchmarks/results/probe_matrix.txt
	set -o pipefail; $(PYTHON) benchmarks/proxy_throughput.py | tee benchmarks/results/proxy_throughput.txt
	set -o pipefail; $(PYTHON) benchmarks/case_spec.py | tee benchmarks/results/case_spec.txt
	set -o pipefail; $(PYTHON) benchmarks/access_cases.py | tee benchmarks/results/access_cases.txt
	set -o pipefail; $(PYTHON) benchmarks/shadow.py | tee benchmarks/results/shadow.txt

bench-quick: deps
	$(PYTHON) benchmarks/scaling.py --quick
	$(PYTHON) benchmarks/probe_matrix.py --quick
	$(PYTHON) benchmarks/proxy_throughput.py --quick
	$(PYTHON) benchmarks/case_spec.py --quick
	$(PYTHON) benchmarks/access_cases.py --quick
	$(PYTHON) benchmarks/shadow.py --quick

# The many-hosts lab (tests/lab/lab.py): network namespaces on a bridge, TEST-NET addresses,
# an sshd per host. `make lab` prints the inventory path; `make lab-stop` removes it all.
HOSTS ?= 3
lab: deps
	$(PYTHON) tests/lab/lab.py up --hosts $(HOSTS)

lab-stop:
	$(PYTHON) tests/lab/lab.py down

# Lab up, the scenario over ssh and over paramiko, faults, checks, lab down; last line JSON.
lab-test: deps
	$(PYTHON) tests/lab/lab_test.py --hosts $(HOSTS)
