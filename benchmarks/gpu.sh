#!/usr/bin/env bash
# A GPU session's one device run (DEVELOPERS.md, "GPU"), prepared here by `make gpu-pack` (the study's 7,000 JPEGs
# in .gpu/UTKFace and the Keras wheels in .whl: git-ignored, never committed) and sent with carry [".gpu", ".whl"]:
#   DIAG="128 192" JOBS="res192:custom age_balanced:custom" bash benchmarks/gpu.sh
# DIAG: image sizes for benchmarks/epoch_parts.py (where an epoch goes); JOBS: conjectures variants to train
# (variant:model; "baseline" is the seed profile's own run). VGG16 jobs need VGG16_WEIGHTS on that machine: the
# weights (59 MB) and the JPEGs (53 MB) do not travel together, so carry the weights in an earlier call to the
# same warm machine. The new runs' small files (no .keras, no checkpoint) come back in $OUT/gpu_results.tgz: unpack
# it in the repository root. Try it on the CPU first, in a scratch copy of the repository (jobs write results/):
# KERAS_BACKEND=tensorflow OUT=/tmp/o DIAG=32 EXTRA="--set epochs=1" (the experiment then ends by refusing the
# committed baseline, whose settings EXTRA changed: expected there).
set -u
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || exit 1
  export PYTHONPATH=/tmp/site:$PWD
fi
export KERAS_BACKEND=${KERAS_BACKEND:-jax} UTKFACE=${UTKFACE:-$PWD/.gpu/UTKFace} PYTHONUNBUFFERED=1
export HELPERS_CACHE_DIR=${HELPERS_CACHE_DIR:-/tmp/gpucache}
PY=${PY:-python3}; OUT=${OUT:-/tmp}; DIAG=${DIAG:-128 192}; JOBS=${JOBS:-}; EXTRA=${EXTRA:-}
nvidia-smi -L 2>/dev/null; date -u; stamp=$(mktemp)
for size in $DIAG; do
  start=$(date +%s)
  timeout ${DIAG_LIMIT:-240} $PY benchmarks/epoch_parts.py --size "$size" --json "$OUT/epoch_parts_$size.json"
  echo "== epoch parts at $size px: rc=$? in $(( $(date +%s) - start )) s"
done
for job in $JOBS; do
  start=$(date +%s)
  timeout ${JOB_LIMIT:-540} $PY -m helpers experiment conjectures --profile seed --only "${job%%:*}" \
    --model "${job#*:}" --verbose 2 $EXTRA
  echo "== $job: rc=$? in $(( $(date +%s) - start )) s"
done
finished=$(find results -newer "$stamp" -name metrics.json -printf '%h\n')
[ -n "$finished" ] && tar czf "$OUT/gpu_results.tgz" --exclude='*.keras' --exclude=checkpoint $finished
echo "== back in \$OUT: $(ls "$OUT" | tr '\n' ' ')"
