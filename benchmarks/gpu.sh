#!/usr/bin/env bash
# A GPU session's device run (benchmarks/README.md, "The seed protocol on a GPU"). Only the working tree travels
# (64 MiB a call), so the data goes in a pack, git-ignored and never committed, made here by one of:
#   make gpu-pack        the study's 7,000 JPEGs (.gpu/UTKFace) and the Keras wheels (.whl): one call, carry
#                        [".gpu/UTKFace", ".whl"]; trains what takes the study's images by name (seed and quick
#                        profiles, their conjecture variants but all_images)
#   make gpu-pack-full VGG16_WEIGHTS=…   the whole archive and the VGG16 weights in three parts (.gpu/1-3, about
#                        50 MiB each beside the 7 MiB tree): three calls to the same warm machine (ignored files
#                        that earlier calls carried stay there), carry [".gpu/1"], then [".gpu/2"], then
#                        [".gpu/3", ".whl"] with this script; trains anything
# either with FACE_WEIGHTS=folder set also packs the face model's weights (.gpu/face, 6 MiB): carry it in a call too.
# then, in the last call:
#   DIAG="128" JOBS="sweep:2:custom all_images:custom res192:vgg16" bash benchmarks/gpu.sh
# DIAG: image sizes for benchmarks/epoch_parts.py (where an epoch goes; DIAG= for none); JOBS: "variant:model" (the
# conjectures experiment, duplicates for all_images_group*, protocols for all_images_cosine_last: the study's best
# model; "baseline" is the seed profile's own run), "sweep:SEED:model" (as make sweep PROFILE=seed writes it),
# "lr-cosine_last:SEED:model" (the second learning-rate protocol's seed runs, as make queue's lr-* jobs write them)
# or "protocol:model" (the seed profile's own run, same seed and settings, into
# results/sweeps/device-<GPU>/seed<S>/seed/<model>/: the seed protocol's time on this machine, and how far the machine
# alone moves the numbers; the report's section 4.2 sets it beside the committed run). Everything ends within
# BUDGET seconds (default 540, under the device's 600 s a call). Finished runs' small files (no .keras, no
# checkpoint) come back in $OUT/gpu_results.tgz, rewritten after each job: unpack it in
# the repository root, then `python -m tools cards`. Unfinished runs' checkpoint states (their per-epoch history)
# come back in $OUT/gpu_unfinished.tgz: read them, do not unpack them into the repository (their models stay there).
# Every job trains through the model's notebook (papermill and an IPython kernel on the device, as here).
# Try it on the CPU first, in a scratch copy of the repository (jobs write results/): KERAS_BACKEND=tensorflow
# OUT=/tmp/o DIAG=32 EXTRA="--set epochs=1" (a variant then ends by refusing the committed baseline, whose settings
# EXTRA changed: expected there).
set -u
deadline=$(( $(date +%s) + ${BUDGET:-540} ))
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || exit 1
  export PYTHONPATH=/tmp/site:$PYTHONPATH
fi
if [ -d .gpu/1 ]; then  # the full pack, put together again and checked
  mkdir -p /tmp/full && cat .gpu/1/part-* .gpu/2/part-* .gpu/3/part-* | tar xf - -C /tmp/full || exit 1
  (cd /tmp/full && sha256sum -c "$OLDPWD/.gpu/1/SHA256SUMS") || exit 1
  export UTKFACE=${UTKFACE:-/tmp/full/UTKFace.tar.gz}
  export VGG16_WEIGHTS=${VGG16_WEIGHTS:-$(ls /tmp/full/*.h5)}
fi
[ -d .gpu/face ] && export FACE_WEIGHTS=${FACE_WEIGHTS:-$PWD/.gpu/face}
export KERAS_BACKEND=${KERAS_BACKEND:-jax} UTKFACE=${UTKFACE:-$PWD/.gpu/UTKFace} PYTHONUNBUFFERED=1
export HELPERS_CACHE_DIR=${HELPERS_CACHE_DIR:-/tmp/gpucache}
PY=${PY:-python3}; OUT=${OUT:-/tmp}; DIAG=${DIAG-128}; JOBS=${JOBS-}; EXTRA=${EXTRA:-}
nvidia-smi -L 2>/dev/null; date -u; echo "UTKFACE=$UTKFACE VGG16_WEIGHTS=${VGG16_WEIGHTS:-}"; stamp=$(mktemp)

left() { echo $(( deadline - $(date +%s) )); }
collect() {  # what the jobs have written so far
  local finished unfinished
  finished=$(find results -newer "$stamp" -name metrics.json -printf '%h\n')
  unfinished=$(find results -newer "$stamp" -path '*/checkpoint/state.json')
  [ -n "$finished" ] && tar czf "$OUT/gpu_results.tgz" --exclude='*.keras' --exclude=checkpoint --exclude=.lock \
    $finished
  [ -n "$unfinished" ] && tar czf "$OUT/gpu_unfinished.tgz" $unfinished
}
for size in $DIAG; do
  [ "$(left)" -lt 60 ] && { echo "== epoch parts at $size px: skipped, $(left) s left"; continue; }
  start=$(date +%s)
  timeout $(( $(left) < ${DIAG_LIMIT:-240} ? $(left) : ${DIAG_LIMIT:-240} )) \
    $PY benchmarks/epoch_parts.py --size "$size" --json "$OUT/epoch_parts_$size.json"
  echo "== epoch parts at $size px: rc=$? in $(( $(date +%s) - start )) s"
done
for job in $JOBS; do
  [ "$(left)" -lt 60 ] && { echo "== $job: skipped, $(left) s left"; continue; }
  start=$(date +%s); model=${job##*:}
  case $job in
    protocol:*) root=$($PY -c 'from helpers import config, host
from tools import experiments
print(experiments.device_folder((host.accelerators() or ["cpu"])[0], "results/sweeps")
      / ("seed%d" % config.get_profile("seed").seed))') || { echo "== $job: no device folder, skipped"; continue; }
             command=(-m tools train --model "$model" --profile seed --out "$root/seed/$model");;
    sweep:*) seed=${job#sweep:}; seed=${seed%%:*}
             command=(-m tools train --model "$model" --profile seed --set "seed=$seed"
                      --out "results/sweeps/seed$seed/seed/$model");;
    lr-*) schedule=${job%%:*}; seed=${job#*:}; seed=${seed%%:*}
          command=(-m tools train --model "$model" --profile seed --set "seed=$seed" --set "lr_schedule=${schedule#lr-}"
                   --out "results/sweeps/$schedule/seed$seed/seed/$model");;
    all_images_cosine_last*) command=(-m tools experiment protocols --profile seed --only "${job%%:*}" --model "$model");;
    all_images_group*) command=(-m tools experiment duplicates --profile seed --only "${job%%:*}" --model "$model");;
    *) command=(-m tools experiment conjectures --profile seed --only "${job%%:*}" --model "$model");;
  esac
  timeout "$(left)" $PY "${command[@]}" $EXTRA
  echo "== $job: rc=$? in $(( $(date +%s) - start )) s"
  collect
done
collect
echo "== back in \$OUT: $(ls "$OUT" | tr '\n' ' ')"
