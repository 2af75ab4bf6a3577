# The two commands of the README Quickstart.
.PHONY: run test setup

run:  ## set up (idempotent), train if needed, start every service; Ctrl-C stops them all
	@bash scripts/setup.sh
	@.venv/bin/python -m ops.run

test: ## set up (idempotent, plus Chromium for browser tests), train if needed, run the whole suite
	@bash scripts/setup.sh --test
	@.venv/bin/python -m ops.test $(PYTEST_ARGS)

setup:
	@bash scripts/setup.sh
