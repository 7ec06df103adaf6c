# cloudmeta.imds: thin wrappers; the steps live in tests/utils/ (see
# docs/development.md). Every target sets up what it needs: .venv from the
# pinned requirements/dev.txt and, for tests, the Debian packages.

SHELL := /bin/bash
UTILS := tests/utils
VENV_PYTHON := .venv/bin/python

.DEFAULT_GOAL := help
.PHONY: help venv system-deps test unit integration molecule lint sanity \
        ansible-lint docs-lint changelog-lint changelog-preview bench bench-lifecycle demo lock clean \
        compat package build-check ee-check docs docs-deps release-check release lock-compat

help:
	@echo "make test         unit + integration tests + molecule scenarios (sets up everything)"
	@echo "make lint         ansible-test sanity, ansible-lint, docs lint, changelog lint"
	@echo "make demo         see the collection work against the local IMDS emulator"
	@echo "make bench        time and count requests against amazon.aws.ec2_metadata_facts"
	@echo "make bench-lifecycle   lifecycle agent: notice-to-deregistered per backend, idle cost per hour"
	@echo "make unit | integration | molecule | sanity | ansible-lint | docs-lint | changelog-lint"
	@echo "make compat       unit tests, smoke test and sanity on every supported ansible-core release"
	@echo "make package      build-check, ee-check, docs and release-check: what users install and read"
	@echo "make build-check | ee-check | docs | release-check"
	@echo "make changelog-preview   the release notes the pending fragments make"
	@echo "make release      cut the release of galaxy.yml's version (antsibull-changelog release)"
	@echo "make venv         create or update .venv from requirements/dev.txt"
	@echo "make lock         rewrite requirements/dev.txt from .venv"
	@echo "make lock-compat  rewrite requirements/ansible-core-*.txt (newest patch releases)"
	@echo "make clean        remove test output and caches (keeps .venv)"

venv:
	@$(UTILS)/ensure-venv

system-deps:
	@$(UTILS)/install-system-deps

# -k: one failing suite must not hide the results of the others.
test: venv system-deps
	@$(MAKE) --no-print-directory -k unit integration molecule

unit: venv system-deps
	@$(UTILS)/run-pytest unit tests/unit

integration: venv system-deps
	@$(UTILS)/run-pytest integration tests/integration

molecule: venv system-deps
	@$(UTILS)/run-molecule

lint: venv system-deps
	@$(MAKE) --no-print-directory -k sanity ansible-lint docs-lint changelog-lint

sanity: venv system-deps
	@$(UTILS)/run-sanity

ansible-lint: venv
	@$(UTILS)/run-lint ansible-lint

docs-lint: venv
	@$(UTILS)/run-lint docs

changelog-lint: venv
	@$(UTILS)/run-lint changelog

changelog-preview: venv
	@$(UTILS)/preview-changelog

compat: venv system-deps
	@$(UTILS)/run-compat

# -k: every check reports, even when an earlier one failed.
package: venv system-deps
	@$(MAKE) --no-print-directory -k build-check ee-check docs release-check

build-check: venv system-deps
	@$(UTILS)/build-check

# Reads the tarball and the installed copy build-check leaves in .tmp/build.
ee-check: venv
	@[ -d .tmp/build/collections ] || $(UTILS)/build-check
	@$(UTILS)/ee-check

docs-deps:
	@$(UTILS)/install-system-deps docs

docs: venv docs-deps
	@$(UTILS)/build-docs
	@$(VENV_PYTHON) tests/docs/check_site.py .tmp/docs/build/html

release-check: venv
	@$(UTILS)/check-release

release: venv
	@$(UTILS)/check-release release

bench: venv
	@$(VENV_PYTHON) tests/bench/bench_facts.py

bench-lifecycle: venv system-deps
	@$(VENV_PYTHON) tests/bench/bench_lifecycle.py

demo: venv
	@PATH="$(CURDIR)/.venv/bin:$$PATH" VENV="$(CURDIR)/.venv" tools/demo.sh

lock:
	@$(UTILS)/lock-requirements

lock-compat:
	@$(UTILS)/lock-compat

clean:
	rm -rf .tmp/sanity .tmp/test-results .tmp/build .tmp/ee .tmp/docs .tmp/molecule .tmp/changelog-preview .tmp/changelog-preview.log \
	       tests/output .ansible collections .pytest_cache
	rm -f changelogs/.plugin-cache.yaml
	find . -path ./.venv -prune -o -path ./.git -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
