# growthsim: two commands on a fresh machine with Python 3.11, pip and make.
#   make run   set up .venv and run the demo scenario
#   make test  set up .venv and run the whole test suite (notebooks included)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO   ?= scenarios/cold_start.yaml
PYTEST_WORKERS ?= 2

.PHONY: setup chromium run test bench lab lint clean

setup: $(STAMP) chromium

# The browser test opens the dashboards in Debian's Chromium, with Debian's Noto CJK fonts for
# the Chinese pages (CI runs as root on Debian 12).
chromium:
	@(command -v chromium >/dev/null && fc-list :lang=zh | grep -q .) || \
	  (apt-get update -qq && apt-get install -y -qq chromium fonts-noto-cjk)

# Re-install only when the dependency list changes; the project itself is editable.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,distributed]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

run: setup
	$(BIN)/simctl run $(DEMO) --replicates 3

test: setup
	$(BIN)/ruff check sim experiments tests benchmarks docs
	GROWTHSIM_NOTEBOOK_USERS=5000 $(BIN)/python -m pytest -n $(PYTEST_WORKERS) --nbmake tests notebooks

bench: setup
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	$(BIN)/python benchmarks/run_all.py

lab: setup
	$(BIN)/python -m pip install --quiet -e ".[notebooks]"
	$(BIN)/jupyter lab notebooks/

lint: setup
	$(BIN)/ruff check sim experiments tests benchmarks docs

clean:
	rm -rf $(VENV) runs .pytest_cache
