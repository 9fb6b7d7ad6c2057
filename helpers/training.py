"""Train a model for a profile and write its results (metrics, history, predictions, manifest, model)."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import sys
import time
from importlib import metadata
from pathlib import Path

import keras
import pandas as pd

from . import data, evaluation, models
from .config import Profile

HISTORY_METRICS = ("loss", "age_loss", "age_mae", "gender_loss", "gender_accuracy")


def write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file and a rename, so a reader never sees half a file."""
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_json(path: Path, obj) -> None:
    write_atomic(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


class EpochTimer(keras.callbacks.Callback):
    """Wall-clock seconds of every epoch (validation included)."""

    def __init__(self):
        super().__init__()
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def _fit(model, splits, profile: Profile, epochs: int, initial_epoch: int, verbose) -> pd.DataFrame:
    timer = EpochTimer()
    history = model.fit(
        splits.train.images,
        {"age": splits.train.age, "gender": splits.train.gender},
        validation_data=(splits.val.images, {"age": splits.val.age, "gender": splits.val.gender}),
        batch_size=profile.batch_size,
        epochs=initial_epoch + epochs,
        initial_epoch=initial_epoch,
        shuffle=True,
        callbacks=[timer],
        verbose=verbose,
    )
    frame = pd.DataFrame(history.history)
    frame.insert(0, "epoch", range(initial_epoch + 1, initial_epoch + 1 + len(frame)))
    frame["seconds"] = timer.seconds
    return frame


def run_training(model_name: str, model, splits, profile: Profile, verbose="auto") -> pd.DataFrame:
    """Compile and fit ``model`` as the study does; returns the per-epoch history (both VGG16 stages)."""
    if model_name == "custom":
        models.compile_model(model, profile.learning_rate, profile.weight_decay)
        return _fit(model, splits, profile, profile.epochs, 0, verbose)
    stages = []
    models.set_vgg16_stage(model, 1)
    models.compile_model(model, profile.stage1_learning_rate, profile.stage1_weight_decay)
    stages.append(_fit(model, splits, profile, profile.stage1_epochs, 0, verbose).assign(stage=1))
    if profile.stage2_epochs:
        models.set_vgg16_stage(model, 2, profile.stage2_unfrozen_layers)
        models.compile_model(model, profile.stage2_learning_rate, profile.stage2_weight_decay)
        stages.append(_fit(model, splits, profile, profile.stage2_epochs, profile.stage1_epochs, verbose)
                      .assign(stage=2))
    return pd.concat(stages, ignore_index=True)


def final_metrics(history: pd.DataFrame, predictions: pd.DataFrame) -> dict:
    """The last epoch's train and validation values, plus the same validation numbers from the predictions."""
    last = history.iloc[-1]
    metrics = {}
    for key in HISTORY_METRICS:
        metrics[f"train_{key}"] = float(last[key])
        metrics[f"val_{key}"] = float(last[f"val_{key}"])
    summary = evaluation.summarize(predictions)
    metrics["val_gender_accuracy_from_predictions"] = summary["gender_accuracy"]
    metrics["val_age_mae_from_predictions"] = summary["age_mae"]
    metrics["epochs_run"] = int(len(history))
    return metrics


def _versions() -> dict:
    names = ["keras", "numpy", "pillow", "pandas", "tensorflow", "jax", "torch"]
    versions = {"python": sys.version.split()[0]}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


def _accelerators() -> list[str]:
    backend = keras.backend.backend()
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            return [d.name for d in tf.config.list_physical_devices("GPU")]
        if backend == "jax":
            import jax

            return [str(d) for d in jax.devices() if d.platform != "cpu"]
        if backend == "torch":
            import torch

            return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except Exception as err:  # the manifest is informative: never fail a finished run over it
        return [f"unknown ({err})"]
    return []


def train(model_name: str, profile: Profile, out_dir, source=None, weights="env", overrides=None,
          verbose="auto", progress: bool = True) -> dict:
    """Train ``model_name`` with ``profile`` and write its results to ``out_dir``.

    Args:
        model_name: ``custom`` or ``vgg16``.
        profile: the hyper-parameters (a named profile with overrides applied).
        out_dir: folder for metrics.json, history_<model>.csv, predictions_val_<model>.csv, manifest.json
            and <model>.keras; created if needed.
        source: UTKFace folder or .tar.gz (default ``$UTKFACE`` or ``data/``).
        weights: VGG16 weights, see :func:`helpers.models.resolve_weights`.
        overrides: the overrides that made ``profile`` (recorded in the manifest).

    Returns:
        The metrics dict that was written to metrics.json.
    """
    if model_name not in ("custom", "vgg16"):
        raise ValueError(f"unknown model {model_name!r}; choose custom or vgg16")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").unlink(missing_ok=True)  # written last: its presence means the run finished
    started = dt.datetime.now(dt.timezone.utc)
    weights = models.resolve_weights(weights) if model_name == "vgg16" else None

    keras.utils.set_random_seed(profile.seed)
    splits = data.load_splits(profile, source, progress=progress)
    print(data.describe_skipped(splits.info), flush=True)
    model = models.build_model(model_name, profile, weights)
    if model_name == "vgg16":
        print(f"VGG16 weights: {models.describe_weights(weights)['label']}", flush=True)
    if verbose == "auto":
        verbose = 1 if sys.stdout.isatty() else 2

    history = run_training(model_name, model, splits, profile, verbose)
    predictions = evaluation.predict(model, splits.val, profile.batch_size)
    metrics = final_metrics(history, predictions)
    finished = dt.datetime.now(dt.timezone.utc)

    model.save(out / f"{model_name}.keras")
    write_atomic(out / f"history_{model_name}.csv", history.to_csv(index=False))
    write_atomic(out / f"predictions_val_{model_name}.csv", predictions.to_csv(index=False, float_format="%.6g"))
    write_json(out / "manifest.json", {
        "model": model_name,
        "profile_name": profile.name,
        "profile": profile.to_dict(),
        "overrides": overrides or {},
        "hash": profile.hash,
        "seed": profile.seed,
        "data": dict(splits.info, n_train=len(splits.train), n_val=len(splits.val)),
        "weights": models.describe_weights(weights) if model_name == "vgg16" else None,
        "versions": _versions(),
        "backend": keras.backend.backend(),
        "hardware": {"platform": platform.platform(), "processor": platform.machine(),
                     "cpu_count": os.cpu_count(), "accelerators": _accelerators()},
        "started": started.isoformat(timespec="seconds"),
        "finished": finished.isoformat(timespec="seconds"),
        "seconds": round((finished - started).total_seconds(), 1),
    })
    write_json(out / "metrics.json", metrics)
    return metrics
