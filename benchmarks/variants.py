"""Side-by-side training throughput of the custom CNN (seed settings) under a few execution variants.

    python benchmarks/variants.py [--rounds 10] [--steps 4] [--only VARIANT ...]

Every variant trains the same architecture with the same augmentation, batch 64 and AdamW on the same 128 px
images. Each is built, compiled and warmed up once; then each round times one pass of ``steps`` batches of
every variant in turn, so that machine noise hits them alike. Shared machines slow down in spells (never speed
up), so the best round of each variant is reported beside the median. Prints a Markdown table and writes
benchmarks/variants.json.
"""

import argparse
import json
import statistics
import time
from pathlib import Path

import keras
import numpy as np

from helpers import config, models, training
from tools import bench

PROFILE = config.get_profile("seed")
ONCE = config.get_profile("seed", {"augment_resampling": "once"})


def _targets(n, rng):
    return {"age": rng.uniform(1, 90, n).astype("float32"), "gender": rng.integers(0, 2, n).astype("float32")}


def _timed(fit_once, images: int):
    """``fit_once`` run once as a warm-up (compilation), then a function timing one call: images per second."""
    fit_once()

    def speed() -> float:
        start = time.perf_counter()
        fit_once()
        return images / (time.perf_counter() - start)

    return speed


def _array_trainer(model, x, y, jit=False):
    bench.compile_model(model, PROFILE.learning_rate, PROFILE.weight_decay)
    if jit:
        model.compile(
            optimizer=model.optimizer,
            loss=model.loss,
            metrics={"age": ["mae"], "gender": ["accuracy"]},
            jit_compile=True,
        )
    return _timed(lambda: model.fit(x, y, batch_size=PROFILE.batch_size, epochs=1, verbose=0, shuffle=False), len(x))


def with_keras_batchnorm(model):
    """The same model with Keras' own BatchNormalization layers instead of the fused ones."""

    def clone(layer):
        if isinstance(layer, models.FusedBatchNormalization):
            return keras.layers.BatchNormalization.from_config(layer.get_config())
        return layer.__class__.from_config(layer.get_config())

    return keras.models.clone_model(model, clone_function=clone)


def plain_float32(x, y):
    """A plain reading: images as float32 arrays, Keras' own shuffling and BatchNormalization, augmentation in
    the model."""
    return _array_trainer(with_keras_batchnorm(models.build_custom_cnn(PROFILE)), x.astype("float32"), y)


def _batches_trainer(model, x, y, steps_per_execution: int = 1):
    from helpers.data import FaceSet

    bench.compile_model(model, PROFILE.learning_rate, PROFILE.weight_decay)
    if steps_per_execution > 1:
        model.compile(
            optimizer=model.optimizer, loss=model.loss, metrics=models.METRICS, steps_per_execution=steps_per_execution
        )
    faces = FaceSet([str(i) for i in range(len(x))], x, y["age"], y["gender"], np.zeros(len(x), "int32"))
    batches = training.Batches(faces, PROFILE.batch_size, PROFILE.seed)
    return _timed(lambda: model.fit(batches, epochs=1, verbose=0, shuffle=False), len(x))


def uint8_batches(x, y):
    """uint8 batches from Batches (seeded order), augmentation in the model, Keras' BatchNormalization."""
    return _batches_trainer(with_keras_batchnorm(models.build_custom_cnn(PROFILE)), x, y)


def project_default(x, y):
    """What `python -m tools train` runs: uint8 batches from Batches, augmentation in the model, batch
    normalisation by TensorFlow's fused kernel, the study's layer order (conv → BN → ReLU → pool)."""
    return _batches_trainer(models.build_custom_cnn(PROFILE), x, y)


def resample_once(x, y):
    """project_default with augment_resampling="once": rotation, zoom and translation composed into one
    resampling (other pixel values: an option, not the same maths)."""
    return _batches_trainer(models.build_custom_cnn(ONCE), x, y)


def steps_per_execution_4(x, y):
    """project_default running four batches per call of the compiled training step."""
    return _batches_trainer(models.build_custom_cnn(PROFILE), x, y, steps_per_execution=4)


def xla_core_augment_outside(x, y):
    """XLA-compiled model without the augmentation layers (they cannot be compiled); augmentation cost excluded."""
    core = models.build_custom_cnn(config.get_profile("seed", {"augment": False}))
    return _array_trainer(core, x, y, jit=True)


def mixed_bfloat16(x, y):
    """bfloat16 compute with float32 weights (changes the arithmetic: not the same maths)."""
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        return _array_trainer(models.build_custom_cnn(PROFILE), x, y)
    finally:
        keras.mixed_precision.set_global_policy("float32")


VARIANTS = [
    plain_float32,
    uint8_batches,
    project_default,
    resample_once,
    steps_per_execution_4,
    xla_core_augment_outside,
    mixed_bfloat16,
]
DEFAULT = ["plain_float32", "project_default", "resample_once", "steps_per_execution_4"]


def numpy_sgemm_gflops(n=2048, repeats=5) -> float:
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    a @ a
    start = time.perf_counter()
    for _ in range(repeats):
        a @ a
    return 2 * n**3 * repeats / (time.perf_counter() - start) / 1e9


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--steps", type=int, default=4, help="timed batches per measurement")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=[v.__name__ for v in VARIANTS],
        default=DEFAULT,
        help=f"run these variants (default: {' '.join(DEFAULT)}; plain_float32 is always run: it is the reference)",
    )
    args = parser.parse_args()
    variants = [v for v in VARIANTS if v.__name__ in args.only or v is plain_float32]
    rng = np.random.default_rng(0)
    n = args.steps * PROFILE.batch_size
    x = rng.integers(0, 256, (n, PROFILE.image_size, PROFILE.image_size, 3), dtype=np.uint8)
    y = _targets(n, rng)
    trainers = {}
    for variant in variants:  # built, compiled and warmed up once
        keras.utils.set_random_seed(0)
        trainers[variant.__name__] = variant(x, y)
    speeds = {name: [] for name in trainers}
    for _ in range(args.rounds):
        for name, speed in trainers.items():
            speeds[name].append(speed())
    total, trainable = bench.forward_flops(models.build_custom_cnn(PROFILE))
    train_flops = total + 2 * trainable
    base, base_best = statistics.median(speeds["plain_float32"]), max(speeds["plain_float32"])
    rows = []
    for variant in variants:
        median, best = statistics.median(speeds[variant.__name__]), max(speeds[variant.__name__])
        rows.append(
            {
                "variant": variant.__name__,
                "what": variant.__doc__.strip(),
                "images_per_s": round(median, 1),
                "best_images_per_s": round(best, 1),
                "all_rounds": [round(s, 1) for s in speeds[variant.__name__]],
                "gflops_per_s": round(median * train_flops / 1e9, 1),
                "vs_plain": round(median / base, 2),
                "best_vs_plain_best": round(best / base_best, 2),
                "vs_plain_per_round": [
                    round(s / p, 2) for s, p in zip(speeds[variant.__name__], speeds["plain_float32"])
                ],
            }
        )
    result = {
        "machine": bench.machine(),
        "numpy_sgemm_gflops_per_s": round(numpy_sgemm_gflops(), 1),
        "train_gflops_per_image": round(train_flops / 1e9, 3),
        "rounds": args.rounds,
        "images_per_measurement": n,
        "variants": rows,
    }
    Path(__file__).with_name("variants.json").write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"numpy sgemm: {result['numpy_sgemm_gflops_per_s']} GFLOP/s; training ≈ {result['train_gflops_per_image']}"
        " GFLOP per image\n"
    )
    print(
        "| variant | images/s (median) | best round | vs plain (median) | best vs plain's best | vs plain, round by "
        "round |\n|---|---:|---:|---:|---:|---|"
    )
    for row in rows:
        rounds = ", ".join(f"{r}×" for r in row["vs_plain_per_round"])
        print(
            f"| {row['variant']} | {row['images_per_s']} | {row['best_images_per_s']} | {row['vs_plain']}× | "
            f"{row['best_vs_plain_best']}× | {rounds} |"
        )


if __name__ == "__main__":
    main()
