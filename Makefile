# Two commands on a fresh machine:  `make demo`  and  `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install demo test wheel clean

install: $(STAMP)

# Idempotent: re-runs only when the dependency files change.
$(STAMP): pyproject.toml requirements.txt requirements-nodeps.txt flashivy/weights/flashivy_default.safetensors
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -r requirements-nodeps.txt
	$(PY) -m flashivy export >/dev/null  # the fast CPU path (ONNX Runtime)
	touch $@

demo: $(STAMP)
	$(PY) -m flashivy demo

test: $(STAMP)
	$(PY) -m pytest -q

# A wheel with the shipped weights and their ONNX export inside (package data): any install has the model.
wheel: $(STAMP)
	$(PY) -m flashivy export >/dev/null
	$(PY) -m pip wheel -q --no-deps --no-build-isolation -w dist .

clean:
	rm -rf $(VENV) build dist *.egg-info
