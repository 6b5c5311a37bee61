# The two commands a new user needs: `make up` (set up this machine, start the cluster) and `make test`.
.PHONY: up test setup bench down

setup:
	@./scripts/setup.sh

up: setup
	.venv/bin/kubeloop up

down:
	.venv/bin/kubeloop down

test: setup
	.venv/bin/pytest

bench: setup
	.venv/bin/python -m bench
