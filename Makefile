# The two commands of the README: `make demo` and `make test`. Both set everything up.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
OUT    ?= out/demo

.PHONY: demo test setup system venv bytecode lint templates bench clean

demo: setup
	$(BIN)/signflow demo --out $(OUT)

test: setup
	$(BIN)/ruff check signflow tests bench tools
	$(BIN)/mypy
	$(BIN)/pytest -q

setup: system venv bytecode

# signflow is installed editable, so pip compiles none of its modules; where the environment
# says PYTHONDONTWRITEBYTECODE, every `signflow` process would compile them again (tenths of
# a second per command). Compiled here, once per change.
bytecode: venv
	@$(BIN)/python -m compileall -q signflow > /dev/null

system:
	@PYTHON=$(PYTHON) scripts/setup-system.sh

# The venv is rebuilt when pyproject.toml changes; the stamp records the last install.
venv: $(VENV)/.installed

# pip's own output goes to .venv/install.log; one line is printed (the log on failure).
$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "signflow needs Python 3.11 or newer")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "signflow: installing the Python packages into $(VENV) (log: $(VENV)/install.log)"
	@( $(BIN)/python -m pip install -q --upgrade pip && \
	   $(BIN)/python -m pip install -q -e '.[test]' ) > $(VENV)/install.log 2>&1 \
	  || { tail -n 30 $(VENV)/install.log; echo "signflow: pip failed, see $(VENV)/install.log" >&2; exit 1; }
	@touch $@

templates: venv
	$(BIN)/python tools/build_templates.py

lint: venv
	$(BIN)/ruff check signflow tests bench tools
	$(BIN)/mypy

bench: setup
	@$(BIN)/python -m pip install -q -e '.[test,bench]' > $(VENV)/install.log 2>&1 \
	  || { tail -n 30 $(VENV)/install.log; exit 1; }
	$(BIN)/python bench/run.py --check

clean:
	rm -rf $(VENV) out build *.egg-info
