# make test | make report PROFILE=seed [TRAIN=1 | RETRAIN=1] [VERBOSE=1] | make train PROFILE=smoke | make data | make lock
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PROFILE ?= seed
# Each model's training notebook as model:notebook pairs, from the registry (helpers/registry.py), and the models
# that have one; expanded when a recipe runs, after `install`.
MODEL_NOTEBOOKS = $(shell $(PY) -c "from helpers import registry; print(*registry.notebooks())")
MODELS ?= $(foreach pair,$(MODEL_NOTEBOOKS),$(firstword $(subst :, ,$(pair))))
# Where make report reads and writes (tests point them at temporary folders).
RESULTS_ROOT ?= results
FIGURES_ROOT ?= figures
RUNS_ROOT ?= runs
REPORT_OUT ?= report/build/$(PROFILE)
RESULTS := $(RESULTS_ROOT)/$(PROFILE)
NOTEBOOKS := 01_data_analysis 02_custom_cnn 03_vgg16_transfer 03b_face_transfer 04_comparison 05_beyond_the_coursework
RETRAIN_FLAG := $(if $(RETRAIN),True,False)
# make report trains only when asked: TRAIN=1 trains models without results, RETRAIN=1 retrains every model.
TRAIN_FLAG := $(if $(filter-out 0,$(TRAIN))$(RETRAIN),--train)

# Notebooks run in notebooks/: hand them absolute data and weights paths ('override': a relative path given as
# `make report UTKFACE=...` would otherwise reach them unchanged, and resolve against notebooks/).
ifdef UTKFACE
override UTKFACE := $(abspath $(UTKFACE))
export UTKFACE
endif
ifneq ($(filter-out imagenet none,$(VGG16_WEIGHTS)),)
override VGG16_WEIGHTS := $(abspath $(VGG16_WEIGHTS))
export VGG16_WEIGHTS
endif
ifneq ($(filter-out download none,$(FACE_WEIGHTS)),)
override FACE_WEIGHTS := $(abspath $(FACE_WEIGHTS))
export FACE_WEIGHTS
endif

SEEDS ?= 1 2 3
# papermill reads the notebook from jupytext's stdout; its warning that "-" has no file extension is noise.
PAPERMILL = PYTHONWARNINGS=ignore::UserWarning:papermill.iorw $(PY) -m papermill
SWEEP_DIR ?= results/sweeps

.PHONY: install lock lint test train notebooks report report-unlocked sweep sweep-unlocked pretraining experiment queue land gpu-pack gpu-pack-full release pdf-tools sync data home clean

install: $(VENV)/.installed

# The exact versions of requirements.txt (the lock), then the project itself without resolving anything again.
# Kernels started from the venv read its etc/ipython/ (tools/ipython_kernel_config.py says why).
$(VENV)/.installed: pyproject.toml requirements.txt tools/ipython_kernel_config.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	mkdir -p $(VENV)/etc/ipython && cp tools/ipython_kernel_config.py $(VENV)/etc/ipython/
	touch $@

# requirements.txt from pyproject.toml's ranges, for every platform and Python from 3.11 on; the pins it already
# holds are kept unless UPGRADE=1 (then the newest versions in range). make install then installs it.
lock:
	test -x $(VENV)/bin/uv || { test -x $(PY) || $(PYTHON) -m venv $(VENV); $(PY) -m pip install -q uv; }
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 \
	  --custom-compile-command "make lock" $(if $(UPGRADE),--upgrade) -o requirements.txt

# ruff's linter and formatter (pyproject.toml [tool.ruff]); `ruff format .` fixes the formatting.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# Two workers, one test file each at a time (a file's fixtures stay in its worker).
test: install pdf-tools lint
	$(PY) -m pytest -n 2 --dist loadfile --durations=15

# Train each model of MODELS for PROFILE unless their results are already on disk (RETRAIN=1 forces it).
train: install
	@for model in $(MODELS); do \
	  if [ -f $(RESULTS)/$$model/metrics.json ] && [ -z "$(RETRAIN)" ]; then \
	    echo "$(RESULTS)/$$model: results on disk, not retraining (RETRAIN=1 to force)"; \
	  else \
	    $(PY) -m tools train --model $$model --profile $(PROFILE) --out $(RESULTS)/$$model || exit $$?; \
	  fi; \
	done

# Execute the four notebooks (the jupytext .py files are the source) into RUNS_ROOT/<profile>/, then build the
# report. First the data (downloaded into data/ when missing and online; else one line and exit 2), then one line
# per model: its results on disk, or that it is not trained (with the estimated time) unless TRAIN=1/RETRAIN=1.
notebooks: install
	@$(PY) -m tools data --profile $(PROFILE)
	@$(PY) -m tools plan --profile $(PROFILE) --results-dir $(RESULTS_ROOT) $(TRAIN_FLAG) $(if $(RETRAIN),--retrain)
	@mkdir -p $(RUNS_ROOT)/$(PROFILE)
	@for nb in $(NOTEBOOKS); do \
	  model=$$(for pair in $(MODEL_NOTEBOOKS); do case $$pair in *:$$nb) echo $${pair%%:*};; esac; done); \
	  sweep=$$(case $$nb in 05_*) echo "-p sweep_dir $(abspath $(SWEEP_DIR))";; esac); \
	  if [ -z "$(TRAIN_FLAG)" ] && [ -n "$$model" ] && \
	     ! $(PY) -m tools plan --profile $(PROFILE) --results-dir $(RESULTS_ROOT) --has $$model; then \
	    echo "== $$nb: skipped ($$model has no $(PROFILE) results; TRAIN=1 trains it)"; continue; \
	  fi; \
	  echo "== $$nb ($(PROFILE))"; \
	  $(VENV)/bin/jupytext --to ipynb --output - notebooks/$$nb.py \
	  | $(PAPERMILL) - $(RUNS_ROOT)/$(PROFILE)/$$nb.ipynb -k python3 --cwd notebooks --log-output \
	      -p profile $(PROFILE) -p retrain $(RETRAIN_FLAG) -p results_dir $(abspath $(RESULTS_ROOT)) \
	      -p figures_dir $(abspath $(FIGURES_ROOT)) $$sweep || exit $$?; \
	done

# Training stability: each model's notebook (02, 03, 03b) once per seed (papermill, overrides {seed: N}) into
# SWEEP_DIR/seed<N>/; notebook 05 and the report then quote mean ± sd.
# SWEEP_SET (KEY=VALUE …) changes settings of every run, e.g. the second protocol's (the queue's lr-cosine_last jobs):
#   make sweep SEEDS="42 1 2" SWEEP_DIR=results/sweeps/lr-cosine_last SWEEP_SET=lr_schedule=cosine_last
# Finished runs are reused.
SWEEP_SET ?=
sweep: install
	@$(PY) -m tools hold $(SWEEP_DIR) "make sweep" -- $(MAKE) --no-print-directory sweep-unlocked

sweep-unlocked:
	@for seed in $(SEEDS); do for model in $(MODELS); do \
	  nb=$$(for pair in $(MODEL_NOTEBOOKS); do case $$pair in $$model:*) echo $${pair#*:};; esac; done); \
	  echo "== $$nb ($(PROFILE), seed $$seed)"; mkdir -p $(RUNS_ROOT)/$(PROFILE)/sweep/seed$$seed; \
	  $(VENV)/bin/jupytext --to ipynb --output - notebooks/$$nb.py \
	  | $(PAPERMILL) - $(RUNS_ROOT)/$(PROFILE)/sweep/seed$$seed/$$nb.ipynb -k python3 --cwd notebooks --log-output \
	      -p profile $(PROFILE) -y "overrides: {seed: $$seed$(foreach s,$(SWEEP_SET),, $(subst =,: ,$(s)))}" -p results_dir $(abspath $(SWEEP_DIR))/seed$$seed \
	      -p figures_dir $(abspath $(RUNS_ROOT)/$(PROFILE)/sweep/seed$$seed/figures) || exit $$?; \
	done; done
	$(PY) -m tools sweep --profile $(PROFILE) --dir $(SWEEP_DIR) $(foreach s,$(SWEEP_SET),--set $(s))

# Does pretraining help? VGG16's seed sweep once per initial weights (files, imagenet or none), each into
# SWEEP_DIR/weights-<name>/; notebook 05 and the report set them beside the custom CNN's sweep. Seeds outermost:
# an interrupted sweep already compares every set of weights on its first seeds (finished runs are reused).
# e.g. make pretraining PROFILE=quick SEEDS="1 2 3" WEIGHTS="imagenet none"
WEIGHTS ?= imagenet none
pretraining: install
	@for seed in $(SEEDS); do for weights in $(WEIGHTS); do \
	  name=$$(basename $$weights .h5); name=$${name%.weights}; \
	  case $$weights in imagenet|none) ;; *) weights=$$(realpath "$$weights") || exit $$?;; esac; \
	  $(MAKE) --no-print-directory sweep MODELS=vgg16 SEEDS=$$seed VGG16_WEIGHTS=$$weights \
	    SWEEP_DIR=$(SWEEP_DIR)/weights-$$name || exit $$?; \
	done; done

# An experiment's variants (extensions/experiments.py), e.g. make experiment EXPERIMENT=duplicates PROFILE=quick
experiment: install
	$(PY) -m tools experiment $(EXPERIMENT) --profile $(PROFILE)

# The long runs (seed profile), one after another, each job kind:model:arg: issue #23's five custom-CNN runs (the
# conjectures and two sweep seeds), the VGG16 seed sweep and VGG16 age_balanced (#33), the face model's seed sweep
# (#36, about 20 min a seed), the last custom-CNN duplicate variant, then VGG16's all_images and the face model's
# all_images and age_balanced (these three trained on a GPU instead: docs/gpu.md), then the face model's duplicate
# variants (about 70 and 90 min). Every job is committed, so the queue skips them all; VGG16's duplicate variants
# (about 10.7 h each here) are not in it: they are GPU jobs (benchmarks/gpu.sh). Of the jobs listed together, one
# that can finish within one 3-hour session comes before one that cannot (a bare machine loses the checkpoint); the
# face model's duplicate jobs came later and go after them, then the second protocol's (#48): lr-<schedule>:MODEL:SEED
# trains the model's seed run under that learning-rate schedule into SWEEP_DIR/lr-<schedule>/ (the face model's
# three seeds, the custom CNN's, the face model on every image, then VGG16's, about 3 hours).
# Finished runs are skipped and an unfinished one resumes from its last epoch, so every session starts it again
# first thing, from its own worktree (a bare machine has no data/: name the archive, or it tries to download it;
# VGG16 and the face model start from the weights of their committed seed runs):
#   git worktree add ../queue HEAD && cd ../queue && mkdir -p runs && UTKFACE=$PWD/../shared/data/UTKFace.tar.gz \
#     VGG16_WEIGHTS=$PWD/../shared/weights/vgg16_tumor_notop.weights.h5 \
#     FACE_WEIGHTS=$PWD/../shared/weights/face-api-1.7.15 nohup make queue > runs/queue.log 2>&1 &
# QUEUE_PROFILE and QUEUE_SET (settings for the experiment jobs, KEY=VALUE …) are for the tests' tiny queue.
QUEUE_PROFILE ?= seed
QUEUE_SET ?=
QUEUE ?= conjectures:custom:age_balanced sweep:custom:1 conjectures:custom:res192 sweep:custom:2 \
	conjectures:custom:all_images duplicates:custom:all_images_group sweep:vgg16:1 sweep:vgg16:2 \
	conjectures:vgg16:age_balanced sweep:face:1 sweep:face:2 duplicates:custom:all_images_group_clean \
	conjectures:vgg16:all_images conjectures:face:all_images conjectures:face:age_balanced \
	duplicates:face:all_images_group duplicates:face:all_images_group_clean \
	lr-cosine_last:face:42 lr-cosine_last:face:1 lr-cosine_last:face:2 lr-cosine_last:custom:42 \
	protocols:face:all_images_cosine_last lr-cosine_last:vgg16:42
queue: install
	@mkdir -p $(RUNS_ROOT)
	@for job in $(QUEUE); do \
	  kind=$${job%%:*}; rest=$${job#*:}; model=$${rest%%:*}; arg=$${rest#*:}; \
	  echo "== queue: $$job ($$(date -u +%FT%TZ))"; \
	  case $$kind in \
	    sweep) $(MAKE) --no-print-directory sweep PROFILE=$(QUEUE_PROFILE) SEEDS=$$arg MODELS=$$model || exit $$?;; \
	    lr-*) $(MAKE) --no-print-directory sweep PROFILE=$(QUEUE_PROFILE) SEEDS=$$arg MODELS=$$model \
	      SWEEP_DIR=$(SWEEP_DIR)/$$kind SWEEP_SET="lr_schedule=$${kind#lr-} $(QUEUE_SET)" || exit $$?;; \
	    *) $(PY) -m tools experiment $$kind --model $$model --profile $(QUEUE_PROFILE) --only $$arg \
	         --results-dir $(abspath $(RESULTS_ROOT)) $(foreach s,$(QUEUE_SET),--set $(s)) || exit $$?;; \
	  esac; \
	done; echo "== queue: done ($$(date -u +%FT%TZ))"

# Copy the queue worktree's finished runs (FROM=../queue) into results/: their small files only, never a model or
# checkpoint; then the model cards and the README's blocks are rewritten from them, ready to commit. An experiment
# writes twin_effect.json after its run, so a second land after the queue's job ends brings that too.
land: install
	@test -n "$(FROM)" || { echo "usage: make land FROM=path/to/the/queue/worktree" >&2; exit 2; }
	$(PY) -m tools land $(FROM)
	$(PY) -m tools cards
	$(PY) -m tools readme

# A GPU session's packs for benchmarks/gpu.sh (which says how each travels), git-ignored: never commit them.
# gpu-pack: the study's 7,000 JPEGs and the Keras wheels the device machine lacks (the venv's versions).
gpu-pack: install
	$(PY) -m tools data --profile seed --export .gpu/UTKFace
	rm -rf .whl && $(PY) -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
	  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
	  --platform manylinux2014_x86_64 -d .whl $$($(PY) -c "from importlib.metadata import version; \
	  print(*(f'{name}=={version(name)}' for name in ('keras', 'namex', 'optree')))")
	@if [ -d "$$FACE_WEIGHTS" ]; then rm -rf .gpu/face && mkdir -p .gpu/face && \
	  cp "$$FACE_WEIGHTS"/face_recognition_model* .gpu/face/ && du -sh --apparent-size .gpu/face; fi
	@du -sh --apparent-size .gpu/UTKFace .whl

# gpu-pack-full: the whole archive (UTKFACE) and the VGG16 weights file as one tar in three parts, with their sha256.
gpu-pack-full: gpu-pack
	@test -f "$(VGG16_WEIGHTS)" || { echo "gpu-pack-full: set VGG16_WEIGHTS=path/to/vgg16_notop.weights.h5"; exit 2; }
	@set -e; archive=$$($(PY) -m tools data | sed -n 's/^UTKFace: //p'); \
	  case "$$archive" in *.tar.gz) ;; *) echo "gpu-pack-full: UTKFACE must name the .tar.gz ($$archive)"; exit 2;; esac; \
	  rm -rf .gpu/1 .gpu/2 .gpu/3 .gpu/full && mkdir -p .gpu/1 .gpu/2 .gpu/3 .gpu/full; \
	  ln -s "$$archive" .gpu/full/UTKFace.tar.gz; ln -s "$(VGG16_WEIGHTS)" .gpu/full/; \
	  (cd .gpu/full && sha256sum *) > .gpu/1/SHA256SUMS; \
	  tar chf .gpu/full.tar -C .gpu/full . && split -n 3 -d .gpu/full.tar .gpu/part-; \
	  for i in 1 2 3; do mv .gpu/part-0$$((i - 1)) .gpu/$$i/; done; rm -rf .gpu/full .gpu/full.tar
	@du -sh --apparent-size .gpu/1 .gpu/2 .gpu/3

# The profile's trained model files (not committed), their model cards and SHA256SUMS, in release/<profile>/:
# attach them to a GitHub release or a Hugging Face model repository (docs/models.md, "Model files").
release: install
	$(PY) -m tools release --profile $(PROFILE)

# One make report per profile at a time: a second one exits 2 naming the folder and the pid that holds it.
report: install pdf-tools
	@$(PY) -m tools hold $(RESULTS) "make report" -- $(MAKE) --no-print-directory report-unlocked

report-unlocked: notebooks
	$(PY) -m tools report --profile $(PROFILE) --results-dir $(RESULTS_ROOT) --figures-dir $(FIGURES_ROOT) \
	    --sweep-dir $(SWEEP_DIR) --out $(REPORT_OUT)

# A headless Chrome, Chromium or Edge prints the PDF (CHROME=, the PATH, macOS applications: tools.browser);
# the tests read it with pdftotext. Each one missing comes from Debian (chromium, poppler-utils) where apt-get runs
# as root; elsewhere (macOS, a server without root) the report is HTML only, tools report says in one line how to
# get the PDF, and the tests that read a PDF are skipped, saying why.
pdf-tools: install
	@missing=$$($(PY) -c "from tools import browser; print('' if browser.find() else 'chromium')"); \
	  command -v pdftotext >/dev/null || missing="$$missing poppler-utils"; \
	  if [ -n "$$missing" ] && command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  fi

# Re-pair every notebook with its .py (after editing either one).
sync: install
	$(VENV)/bin/jupytext --sync notebooks/*.py

# Find UTKFace, or download UTKFace.tar.gz into data/ (checksum verified; needs internet).
data: install
	$(PY) -m tools data

# A fork's GitHub home, e.g. make home GITHUB_HOME=you/age-gender-utkface: rewrites helpers.config.GITHUB_HOME,
# the notebooks' Colab cells and badges, the README's badges and the docs' links, then re-pairs the notebooks and rewrites the
# model cards (which name the home).
home: install
	@test -n "$(GITHUB_HOME)" || { echo "usage: make home GITHUB_HOME=owner/name"; exit 2; }
	@old=$$($(PY) -c "from helpers import config; print(config.GITHUB_HOME)"); \
	  sed -i.bak "s#$$old#$(GITHUB_HOME)#g" helpers/config.py README.md docs/*.md notebooks/*.py && \
	  rm -f helpers/config.py.bak README.md.bak docs/*.md.bak notebooks/*.py.bak
	$(VENV)/bin/jupytext --sync notebooks/*.py
	$(PY) -m tools cards

clean:
	rm -rf runs report/build data/cache
