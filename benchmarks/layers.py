"""Where a custom-CNN training step spends its time: every layer's share, timed alone (TensorFlow backend).

    python benchmarks/layers.py [--repeats 15]

Seed settings (128 px, batch 64). Each layer runs on a batch of its real input shape inside a compiled
``tf.function`` with a ``GradientTape``: forward in training mode, then the gradients a training step needs
(its weights, and its input when a trainable layer comes before it; the augmentation layers run forward only,
as in training). The median of ``repeats`` is kept and compared with a full training step of the project's
default path (the rest is the optimizer, metrics and Keras' own overhead). The model is the form that trains (the
study's order; until 2026-12-05 each block's ReLU came after its pooling, layers.json was measured so). Beside each
fused batch normalisation, on the same input: Keras' own BatchNormalization, and batch normalisation and ReLU in
one graph.
Writes benchmarks/layers.json and prints a Markdown table.
"""

import argparse
import json
import statistics
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from helpers import config, models, training
from helpers.data import FaceSet
from tools import bench

PROFILE = config.get_profile("seed")
BATCH = PROFILE.batch_size


def flat_layers(model):
    """The model's layers in order, the augmentation Sequential opened up; (layer, input shape) pairs."""
    out = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if isinstance(layer, keras.Sequential):
            shape = tuple(layer.input.shape)
            out += [(inner, shape) for inner in layer.layers]
            continue
        out.append((layer, tuple(layer.input.shape)))
    return out


def forward_flops(layer, shape) -> float:
    """Multiply-adds × 2 of one image's forward pass (convolutions and dense layers only)."""
    if isinstance(layer, keras.layers.Conv2D):
        h, w = shape[1], shape[2]  # "same" padding, stride 1
        k = layer.kernel_size[0] * layer.kernel_size[1]
        return 2.0 * h * w * k * shape[3] * layer.filters
    if isinstance(layer, keras.layers.Dense):
        return 2.0 * shape[-1] * layer.units
    return 0.0


def time_layer(layer, shape, needs_input_grad: bool, repeats: int) -> float:
    x = tf.random.uniform((BATCH, *shape[1:]), 0, 255 if len(shape) == 4 else 1)
    weights = layer.trainable_weights
    backward = bool(weights) or needs_input_grad

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            total = tf.reduce_sum(y)
        if not backward:
            return total
        return tape.gradient(total, ([x] if needs_input_grad else []) + weights)

    step(x)  # trace and warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = step(x)
        tf.nest.map_structure(lambda t: t.numpy(), out)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def full_step_seconds(model, steps: int = 12) -> float:
    """Seconds per batch of the project's training path (uint8 batches, augmentation in the model)."""
    rng = np.random.default_rng(0)
    n = BATCH * steps
    faces = FaceSet(
        [str(i) for i in range(n)],
        rng.integers(0, 256, (n, 128, 128, 3), dtype=np.uint8),
        rng.integers(1, 90, n),
        rng.integers(0, 2, n),
        np.zeros(n, int),
    )
    bench.compile_model(model, PROFILE.learning_rate, PROFILE.weight_decay)
    batches = training.Batches(faces, BATCH, PROFILE.seed)
    model.fit(batches, epochs=1, verbose=0, steps_per_epoch=2)
    start = time.perf_counter()
    model.fit(batches, epochs=1, verbose=0, shuffle=False)
    return (time.perf_counter() - start) / steps


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    keras.utils.set_random_seed(0)
    # The form that trains, cloned so that every layer has that graph's input alone.
    model = keras.models.clone_model(models.build_custom_cnn(PROFILE))
    rows, seen_trainable = [], False
    for layer, shape in flat_layers(model):
        if isinstance(layer, models.FusedBatchNormalization):  # Keras' own layer on the same input, for comparison
            plain = keras.layers.BatchNormalization.from_config(layer.get_config())
            plain.build(shape)
            rows.append(
                {
                    "layer": f"{layer.name} (Keras' BatchNormalization)",
                    "class": "KerasBatchNormalization",
                    "input": list(shape[1:]),
                    "ms": 1000 * time_layer(plain, shape, True, args.repeats),
                    "gflops_per_s": None,
                    "not_in_step": True,
                }
            )
            # The study's order: ReLU straight after the normalisation, in one graph (TensorFlow's remapper may
            # fuse the pair's forward pass on oneDNN CPUs).
            pair = keras.Sequential(
                [models.FusedBatchNormalization.from_config(layer.get_config()), keras.layers.ReLU()]
            )
            pair.build(shape)
            rows.append(
                {
                    "layer": f"{layer.name} + ReLU in one graph (the study's order)",
                    "class": "BNReLUPair",
                    "input": list(shape[1:]),
                    "ms": 1000 * time_layer(pair, shape, True, args.repeats),
                    "gflops_per_s": None,
                    "not_in_step": True,
                }
            )
        seconds = time_layer(layer, shape, seen_trainable, args.repeats)
        flops = forward_flops(layer, shape) * BATCH * ((3 if seen_trainable else 2) if layer.trainable_weights else 1)
        rows.append(
            {
                "layer": layer.name,
                "class": type(layer).__name__,
                "input": list(shape[1:]),
                "ms": 1000 * seconds,
                "gflops_per_s": flops / seconds / 1e9 if flops else None,
            }
        )
        seen_trainable = seen_trainable or bool(layer.trainable_weights)
    step = full_step_seconds(model)
    total = sum(r["ms"] for r in rows if not r.get("not_in_step"))
    by_kind, outside_step = {}, set()
    for r in rows:
        kind = "augmentation" if r["class"].startswith("Random") else r["class"]
        by_kind[kind] = by_kind.get(kind, 0.0) + r["ms"]
        if r.get("not_in_step"):
            outside_step.add(kind)
    result = {
        "machine": bench.machine(),
        "batch": BATCH,
        "image_size": PROFILE.image_size,
        "full_step_ms": 1000 * step,
        "sum_of_layers_ms": total,
        "layers": rows,
        "by_kind_ms": by_kind,
    }
    Path(__file__).with_name("layers.json").write_text(json.dumps(result, indent=1) + "\n")
    print(f"full training step {1000 * step:.0f} ms per batch of {BATCH}; layers alone sum to {total:.0f} ms\n")
    print("| layer kind | ms per batch | share of the layers |\n|---|---:|---:|")
    for kind, ms in sorted(by_kind.items(), key=lambda kv: -kv[1]):
        share = "(not in the step)" if kind in outside_step else f"{100 * ms / total:.0f} %"
        print(f"| {kind} | {ms:.1f} | {share} |")
    print("\n| layer | input | ms | GFLOP/s |\n|---|---|---:|---:|")
    for r in rows:
        rate = f"{r['gflops_per_s']:.0f}" if r["gflops_per_s"] else ""
        print(f"| {r['layer']} | {'×'.join(map(str, r['input']))} | {r['ms']:.1f} | {rate} |")


if __name__ == "__main__":
    main()
