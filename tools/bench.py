"""Throughput benchmark (``python -m tools bench``) and run-time estimates from its recorded numbers."""

from __future__ import annotations

from helpers import keras_quietly  # noqa: F401  (first: Keras starts without TensorFlow's C++ start-up lines)

# isort: split
import json
import os
import platform
import time
from pathlib import Path

import keras
import numpy as np

from helpers import config, data, files, host, models, registry, results
from helpers.config import Profile

from . import copies

RECORDS = config.PROJ_ROOT / "benchmarks" / "throughput.json"
UTKFACE_USABLE = 21702  # correctly named faces in the UTKFace release; sizes "all images" profiles


def compile_model(model: keras.Model, learning_rate: float, weight_decay: float) -> None:
    """Compile ``model`` as the notebooks' compile cells do at a constant rate: AdamW; MAE loss for age, binary
    cross-entropy for gender; MAE and accuracy as metrics (what the benchmarks time)."""
    models.jit_on_jax(model)
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate=learning_rate, weight_decay=weight_decay),
        loss=models.LOSSES,
        metrics=models.METRICS,
    )


def forward_flops(model) -> tuple[int, int]:
    """Multiply-adds ×2 of one image's forward pass: (all layers, trainable layers) — convolutions and dense."""
    total = trainable = 0
    for layer in models.flat_layers(model):
        if isinstance(layer, keras.layers.Conv2D):
            _, h, w, c_out = layer.output.shape
            k_h, k_w, c_in, _ = layer.kernel.shape
            flops = 2 * h * w * c_out * k_h * k_w * c_in
        elif isinstance(layer, keras.layers.Dense):
            flops = 2 * int(np.prod(layer.kernel.shape))
        else:
            continue
        total += flops
        trainable += flops if layer.trainable else 0
    return int(total), int(trainable)


def _time_fit(model, x, y, batch_size: int) -> float:
    """Images per second of ``fit`` over ``x`` after a two-batch warm-up (compilation excluded)."""
    warm = slice(0, 2 * batch_size)
    model.fit(x[warm], {k: v[warm] for k, v in y.items()}, batch_size=batch_size, epochs=1, verbose=0)
    start = time.perf_counter()
    model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0, shuffle=False)
    return len(x) / (time.perf_counter() - start)


def _time_predict(model, x, batch_size: int) -> float:
    model.predict(x[: 2 * batch_size], batch_size=batch_size, verbose=0)
    start = time.perf_counter()
    model.predict(x, batch_size=batch_size, verbose=0)
    return len(x) / (time.perf_counter() - start)


def _images(profile: Profile, steps: int, synthetic: bool, source) -> tuple[np.ndarray, dict, dict]:
    n = steps * profile.batch_size
    if synthetic:
        rng = np.random.default_rng(profile.seed)
        x = rng.integers(0, 256, (n, profile.image_size, profile.image_size, 3), dtype=np.uint8)
        return (
            x,
            {"age": rng.uniform(1, 90, n).astype("float32"), "gender": rng.integers(0, 2, n).astype("float32")},
            {},
        )
    start = time.perf_counter()
    data.load_splits(profile, source, cache=False, progress=False)
    cold = time.perf_counter() - start
    data.load_splits(profile, source, progress=False)  # make sure the cache holds this subset
    start = time.perf_counter()
    splits = data.load_splits(profile, source, progress=False)
    cached = time.perf_counter() - start
    train = splits.train.take(np.arange(min(n, len(splits.train))))
    return (
        train.images,
        {"age": train.age.astype("float32"), "gender": train.gender.astype("float32")},
        {"load_seconds_cold": round(cold, 3), "load_seconds_cached": round(cached, 3)},
    )


def benchmark(model_name: str, profile: Profile, steps: int = 10, synthetic: bool = False, source=None) -> dict:
    """Training and prediction throughput of ``model_name`` for ``profile`` on this machine.

    Args:
        steps: timed training batches (after a warm-up of two).
        synthetic: random images instead of the profile's UTKFace subset (no data needed).

    Returns:
        One flat dict: ``train_images_per_s`` (stage 1 for VGG16, plus ``train_images_per_s_stage2``),
        ``predict_images_per_s``, ``load_seconds_cold``/``_cached`` (None when synthetic), ``gflops_per_s``
        (training, estimated as forward + 2× forward of the trainable layers), and the machine.
    """
    spec = registry.get(model_name)
    profile = spec.profile_for(profile)
    keras.utils.set_random_seed(profile.seed)
    x, y, load = _images(profile, steps, synthetic, source)
    # As training runs it; the speed does not depend on the weights.
    model = registry.build_model(model_name, profile, weights=None)
    out = {
        "model": model_name,
        "profile": profile.name,
        "hash": profile.hash,
        "image_size": profile.image_size,
        "batch_size": profile.batch_size,
        "images_timed": len(x),
        "synthetic": synthetic,
        "load_seconds_cold": load.get("load_seconds_cold"),
        "load_seconds_cached": load.get("load_seconds_cached"),
    }
    for index, stage in enumerate(spec.stages):
        number = spec.stage_number(index) or 1
        if stage.trainable:
            stage.trainable(model, profile)
        compile_model(model, *stage.optimizer_settings(profile))
        speed = _time_fit(model, x, y, profile.batch_size)
        total, trainable = forward_flops(model)
        out[_train_key(number)] = round(speed, 2)
        if number == 1:
            out["gflops_per_s"] = round(speed * (total + 2 * trainable) / 1e9, 1)
            out["forward_gflops_per_image"] = round(total / 1e9, 3)
        if stage.frozen_part:  # validation as training runs it: the trainable part on frozen features, once a stage
            frozen, head = stage.frozen_part(model, profile)
            out[f"frozen_images_per_s_stage{number}"] = round(_time_predict(frozen, x, profile.batch_size), 2)
            out[f"val_images_per_s_stage{number}"] = round(
                _time_predict(head, frozen.predict(x, batch_size=profile.batch_size, verbose=0), profile.batch_size), 2
            )
    out["predict_images_per_s"] = round(_time_predict(model, x, profile.batch_size), 2)
    out.update(machine())
    return out


def _train_key(stage: int) -> str:
    return "train_images_per_s" if stage == 1 else f"train_images_per_s_stage{stage}"


def machine() -> dict:
    return {
        "backend": keras.backend.backend(),
        "keras": keras.__version__,
        "cpu_count": os.cpu_count(),
        "cpu": host.cpu(),
        "platform": platform.platform(),
        "accelerators": host.accelerators(),
    }


def record(result: dict, label: str, path: Path = RECORDS) -> None:
    """Keep ``result`` in the committed records under ``label`` (a machine name), for run-time estimates."""
    records = json.loads(path.read_text()) if path.is_file() else {}
    records.setdefault(label, {})[f"{result['model']}@{result['image_size']}"] = result
    path.parent.mkdir(parents=True, exist_ok=True)
    files.write_json(path, records)


def estimate_minutes(model_name: str, profile: Profile, speeds: dict, cached_validation: bool = True) -> float:
    """Minutes a full training of ``profile`` should take at the recorded ``speeds`` (training + validation).

    VGG16 validates through its trainable part on frozen features computed once a stage
    (``training.FrozenPartValidation``) when the record has those speeds and ``cached_validation``; else, as
    before that, by predicting through the whole model every epoch.
    """
    n = profile.n_images or UTKFACE_USABLE - profile.test_size  # "all images" holds the test set out
    n_val = data.validation_count(n, profile.val_size)
    n_train, predict = n - n_val, speeds["predict_images_per_s"]
    spec, seconds = registry.get(model_name), 0.0
    for index, stage in enumerate(spec.stages):
        number, epochs = spec.stage_number(index) or 1, stage.epochs_of(profile)
        if stage.frozen_part and cached_validation and f"val_images_per_s_stage{number}" in speeds:
            validation = (
                n_val / speeds[f"frozen_images_per_s_stage{number}"] if epochs else 0.0,
                n_val / speeds[f"val_images_per_s_stage{number}"],
            )
        else:
            validation = (0.0, n_val / predict)
        seconds += validation[0] + epochs * (n_train / speeds[_train_key(number)] + validation[1])
    return seconds / 60


def _records() -> dict:
    return json.loads(RECORDS.read_text()) if RECORDS.is_file() else {}


def training_estimate(model_name: str, profile: Profile, records: dict | None = None) -> str:
    """How long training ``profile`` should take on each recorded machine, e.g. "≈44 min on 2-core CPU (…)".
    Another image size than the benchmark's is scaled, and says so: by the pixel count above it (the convolutions
    dominate: 192 px measured 2.25× the 128 px time), by the side length below it (fixed costs weigh more: the quick
    profile's 64 px took 0.43× the 128 px pace, not 0.25×)."""
    estimates, profile = [], registry.get(model_name).profile_for(profile)
    for label, runs in (_records() if records is None else records).items():
        if (key := f"{model_name}@{profile.image_size}") in runs:
            estimates.append(f"{_about(estimate_minutes(model_name, profile, runs[key]))} on {label}")
        elif measured := sorted(int(k.split("@")[1]) for k in runs if k.startswith(f"{model_name}@")):
            size = measured[-1]
            ratio = profile.image_size / size
            cost = ratio**2 if ratio > 1 else ratio
            speeds = {k: v / cost for k, v in runs[f"{model_name}@{size}"].items() if "_per_s" in k}
            estimates.append(
                f"{_about(estimate_minutes(model_name, profile, speeds))} on {label}, "
                f"scaled from its {size} px benchmark"
            )
    return "; ".join(estimates) or "no benchmark recorded for this model"


def time_to_train(model_name: str, profile: Profile, folder, records: dict | None = None) -> str:
    """:func:`training_estimate`, then how far an unfinished run in ``folder`` got, if it did
    (:func:`helpers.results.progress_note`): what a "not run" line says after the command that trains it."""
    progress = results.progress_note(model_name, folder, profile)
    return "; ".join(filter(None, (training_estimate(model_name, profile, records), progress)))


def _about(minutes: float) -> str:
    return f"≈{max(minutes, 1):.0f} min" if minutes < 120 else f"≈{minutes / 60:.1f} h"


def plan(profile: Profile, train: bool = False, retrain: bool = False, results_dir=None) -> list[str]:
    """What ``make report`` will do for each model of ``profile``, one line each: use the results on disk, train
    (``train`` for missing results, ``retrain`` for all), or leave it out; with the time a training should take."""
    records, reader = _records(), copies.reader_copy(profile)
    lines = []
    for model_name in registry.names():
        folder = results.run_folder(model_name, profile, results_dir)
        if not retrain and results.finished(model_name, profile, results_dir):
            run = results.load_for(model_name, profile, results_dir)  # a damaged run is named now, not in a notebook
            lines.append(
                f"{model_name}: results for {profile.name} ({registry.get(model_name).profile_for(profile).hash}) "
                f"on disk in {folder}, "
                f"not retraining; data: {copies.copy_note(run.manifest.get('data', {}), reader)}"
            )
            continue
        estimates = time_to_train(model_name, profile, folder, records)
        if train or retrain:
            lines.append(f"{model_name}: will train for profile {profile.name} — {estimates}")
        else:
            lines.append(
                f"{model_name}: no results for {profile.name} in {folder}: not training it ({estimates}); "
                "TRAIN=1 trains it"
            )
    return lines
