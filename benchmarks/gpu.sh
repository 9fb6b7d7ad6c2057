#!/usr/bin/env bash
# A GPU session's device run (DEVELOPERS.md, "GPU"). Only the working tree travels (64 MiB a call), so the data goes
# in a pack, git-ignored and never committed, made here by one of:
#   make gpu-pack        the study's 7,000 JPEGs (.gpu/UTKFace) and the Keras wheels (.whl): one call, carry
#                        [".gpu/UTKFace", ".whl"]; trains what takes the study's images by name (seed and quick
#                        profiles, their conjecture variants but all_images)
#   make gpu-pack-full VGG16_WEIGHTS=…   the whole archive in two halves (.gpu/a, .gpu/b) and the VGG16 weights
#                        (.gpu/w): three calls to the same warm machine (ignored files that earlier calls carried
#                        stay there), carry [".gpu/a"], then [".gpu/b", ".whl"], then [".gpu/w"] with this script;
#                        trains anything
# then, in the last call:
#   DIAG="128" JOBS="sweep:2:custom all_images:custom res192:vgg16" bash benchmarks/gpu.sh
# DIAG: image sizes for benchmarks/epoch_parts.py (where an epoch goes; DIAG= for none); JOBS: "variant:model" (the
# conjectures experiment; "baseline" is the seed profile's own run) or "sweep:SEED:model" (as make sweep PROFILE=seed
# writes it). The new runs' small files (no .keras, no checkpoint) come back in $OUT/gpu_results.tgz: unpack it in
# the repository root, then `python -m helpers cards`.
# Try it on the CPU first, in a scratch copy of the repository (jobs write results/): KERAS_BACKEND=tensorflow
# OUT=/tmp/o DIAG=32 EXTRA="--set epochs=1" (a variant then ends by refusing the committed baseline, whose settings
# EXTRA changed: expected there).
set -u
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || exit 1
  export PYTHONPATH=/tmp/site:$PWD
fi
if [ -d .gpu/a ] && [ -d .gpu/b ]; then  # the archive, put together again and checked
  cat .gpu/a/UTKFace.tar.gz.part-* .gpu/b/UTKFace.tar.gz.part-* > /tmp/UTKFace.tar.gz
  (cd /tmp && sha256sum -c "$OLDPWD/.gpu/a/UTKFace.tar.gz.sha256") || exit 1
  export UTKFACE=${UTKFACE:-/tmp/UTKFace.tar.gz}
fi
weights=$(ls .gpu/w/*.h5 2>/dev/null | head -1)
[ -n "$weights" ] && export VGG16_WEIGHTS=${VGG16_WEIGHTS:-$PWD/$weights}
export KERAS_BACKEND=${KERAS_BACKEND:-jax} UTKFACE=${UTKFACE:-$PWD/.gpu/UTKFace} PYTHONUNBUFFERED=1
export HELPERS_CACHE_DIR=${HELPERS_CACHE_DIR:-/tmp/gpucache}
PY=${PY:-python3}; OUT=${OUT:-/tmp}; DIAG=${DIAG-128}; JOBS=${JOBS-}; EXTRA=${EXTRA:-}
nvidia-smi -L 2>/dev/null; date -u; echo "UTKFACE=$UTKFACE VGG16_WEIGHTS=${VGG16_WEIGHTS:-}"; stamp=$(mktemp)
for size in $DIAG; do
  start=$(date +%s)
  timeout ${DIAG_LIMIT:-240} $PY benchmarks/epoch_parts.py --size "$size" --json "$OUT/epoch_parts_$size.json"
  echo "== epoch parts at $size px: rc=$? in $(( $(date +%s) - start )) s"
done
for job in $JOBS; do
  start=$(date +%s); model=${job##*:}
  case $job in
    sweep:*) seed=${job#sweep:}; seed=${seed%%:*}
             command=(-m helpers train --model "$model" --profile seed --set "seed=$seed"
                      --out "results/sweeps/seed$seed/seed/$model");;
    *) command=(-m helpers experiment conjectures --profile seed --only "${job%%:*}" --model "$model");;
  esac
  timeout ${JOB_LIMIT:-540} $PY "${command[@]}" --verbose 2 $EXTRA
  echo "== $job: rc=$? in $(( $(date +%s) - start )) s"
done
finished=$(find results -newer "$stamp" -name metrics.json -printf '%h\n')
[ -n "$finished" ] && tar czf "$OUT/gpu_results.tgz" --exclude='*.keras' --exclude=checkpoint --exclude=.lock \
  $finished
echo "== back in \$OUT: $(ls "$OUT" | tr '\n' ' ')"
