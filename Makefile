# make test | make report PROFILE=seed | make train MODEL=custom PROFILE=smoke | make data
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PROFILE ?= seed
MODELS := custom vgg16
RESULTS := results/$(PROFILE)

.PHONY: install test train report data describe clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

test: install
	$(PY) -m pytest

# Train both models for PROFILE unless their results are already on disk (RETRAIN=1 forces it).
train: install
	@for model in $(MODELS); do \
	  if [ -f $(RESULTS)/$$model/metrics.json ] && [ -z "$(RETRAIN)" ]; then \
	    echo "$(RESULTS)/$$model: results on disk, not retraining (RETRAIN=1 to force)"; \
	  else \
	    $(PY) -m helpers train --model $$model --profile $(PROFILE) --out $(RESULTS)/$$model || exit $$?; \
	  fi; \
	done

report: train

# Download UTKFace.tar.gz into data/ (checksum verified); needs internet.
data: install
	$(PY) -c "from helpers import data; print(data.resolve_source(download=True))"

clean:
	rm -rf runs report/build data/cache
