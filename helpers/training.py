"""Train a model for a profile and write its results (metrics, history, predictions, manifest, model)."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from . import config, data, evaluation, models
from .config import Profile

HISTORY_METRICS = ("loss", "age_loss", "age_mae", "gender_loss", "gender_accuracy")


def write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file and a rename, so a reader never sees half a file."""
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_json(path: Path, obj) -> None:
    write_atomic(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def age_weights(age: np.ndarray, weighting: str = "none") -> np.ndarray | None:
    """Per-image weights of the age loss: None for ``none``; for ``inverse``, 1 / the number of training images
    in the image's age band (``evaluation.AGE_BANDS``), scaled to average 1, so every band weighs the same."""
    if weighting == "none":
        return None
    if weighting != "inverse":
        raise ValueError(f"age_weighting must be one of {', '.join(config.AGE_WEIGHTINGS)}, got {weighting!r}")
    bands = np.digitize(age, [low for low, _ in evaluation.AGE_BANDS[1:]])
    weights = 1.0 / np.bincount(bands)[bands]
    return (weights / weights.mean()).astype("float32")


class Batches(keras.utils.PyDataset):
    """Training batches in an order fixed by (seed, epoch), so a resumed run sees what an uninterrupted one saw.

    With ``age_weights`` each batch also carries sample weights: those for the age loss, ones for gender.
    """

    def __init__(self, faces, batch_size: int, seed: int, age_weights: np.ndarray | None = None):
        super().__init__()
        self.faces, self.batch_size, self.seed, self.age_weights = faces, batch_size, seed, age_weights
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        self.order = np.random.default_rng([self.seed, epoch]).permutation(len(self.faces))

    def __len__(self) -> int:
        return -(-len(self.faces) // self.batch_size)

    def __getitem__(self, index):
        pick = np.sort(self.order[index * self.batch_size:(index + 1) * self.batch_size])
        targets = {"age": self.faces.age[pick].astype("float32"), "gender": self.faces.gender[pick].astype("float32")}
        if self.age_weights is None:
            return self.faces.images[pick], targets
        weights = {"age": self.age_weights[pick], "gender": np.ones(len(pick), "float32")}
        return self.faces.images[pick], targets, weights


class Checkpoint(keras.callbacks.Callback):
    """After every epoch: the model (weights and optimizer state) and the history so far, atomically.

    ``state.json`` is written after the model file it names, so it always points to a complete checkpoint.
    """

    def __init__(self, folder: Path, profile_hash: str, stage: int | None, history: list[dict], batches: Batches):
        super().__init__()
        self.folder, self.hash, self.stage, self.history, self.batches = folder, profile_hash, stage, history, batches

    def on_epoch_begin(self, epoch, logs=None):
        self.batches.set_epoch(epoch)
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()},
               "seconds": time.perf_counter() - self._start}
        if self.stage:
            row["stage"] = self.stage
        self.history.append(row)
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"epoch{epoch + 1:03d}.keras"
        self.model.save(self.folder / name)
        previous = read_checkpoint(self.folder, self.hash)
        write_json(self.folder / "state.json", {"hash": self.hash, "epoch": epoch + 1, "stage": self.stage,
                                                "model_file": name, "history": self.history,
                                                "seed_states": seed_states(self.model)})
        if previous and previous["model_file"] != name:
            (self.folder / previous["model_file"]).unlink(missing_ok=True)


def _seed_variables(model) -> list:
    return [v for v in model.non_trainable_variables if "seed_generator_state" in v.path]


def seed_states(model) -> list:
    """The random-stream positions of the augmentation and dropout layers (a .keras file does not keep them)."""
    return [keras.ops.convert_to_numpy(v).tolist() for v in _seed_variables(model)]


def restore_seed_states(model, states: list) -> None:
    variables = _seed_variables(model)
    if len(variables) != len(states):
        raise ValueError("the checkpoint does not match this model's random layers; delete it to start over")
    for variable, state in zip(variables, states):
        variable.assign(np.asarray(state, dtype=variable.dtype))


def read_checkpoint(folder: Path, profile_hash: str) -> dict | None:
    """The last complete checkpoint for these settings, or None."""
    path = folder / "state.json"
    if not path.is_file():
        return None
    state = json.loads(path.read_text())
    if state.get("hash") != profile_hash or not (folder / state["model_file"]).is_file():
        return None
    return state


def targets(faces) -> dict:
    return {"age": faces.age.astype("float32"), "gender": faces.gender.astype("float32")}


class FrozenPartValidation(keras.callbacks.Callback):
    """Validation of the VGG16 transfer model through its trainable part alone.

    Validation images are not augmented and the frozen layers run in inference mode, so within a stage their
    output is the same every epoch: it is computed once and each epoch runs only the trainable part on it
    (``models.split_at_frozen``), with the batches, losses and metrics of Keras' own validation. The values
    enter the epoch's logs as ``val_*`` before the checkpoint and the progress line read them.
    """

    def __init__(self, model, stage: int, unfrozen_layers: int, val, batch_size: int):
        super().__init__()
        frozen, self.trainable = models.split_at_frozen(model, stage, unfrozen_layers)
        self.trainable.compile(loss=models.LOSSES, metrics=models.METRICS)
        self.features = frozen.predict(val.images, batch_size=batch_size, verbose=0)
        self.targets, self.batch_size = targets(val), batch_size

    def on_epoch_end(self, epoch, logs=None):
        values = self.trainable.evaluate(self.features, self.targets, batch_size=self.batch_size, verbose=0,
                                         return_dict=True)
        logs.update({f"val_{name}": value for name, value in values.items()})


def _fit(model, splits, profile: Profile, first_epoch: int, last_epoch: int, checkpoint: Checkpoint, verbose,
         stage: int | None = None):
    """``model.fit`` from ``first_epoch`` to ``last_epoch``; VGG16 (``stage`` 1 or 2) validates through
    :class:`FrozenPartValidation`, the custom CNN through Keras' own validation."""
    if first_epoch >= last_epoch:
        return
    checkpoint.batches.set_epoch(first_epoch)
    if stage:
        validation = {"callbacks": [FrozenPartValidation(model, stage, profile.stage2_unfrozen_layers, splits.val,
                                                         profile.batch_size), checkpoint]}
    else:
        validation = {"validation_data": (splits.val.images, targets(splits.val)),
                      "validation_batch_size": profile.batch_size, "callbacks": [checkpoint]}
    model.fit(
        checkpoint.batches,
        shuffle=False,  # Batches shuffles by (seed, epoch); Keras' own shuffling would not survive a resume
        epochs=last_epoch,
        initial_epoch=first_epoch,
        verbose=verbose,
        **validation,
    )


def run_training(model_name: str, model, splits, profile: Profile, folder: Path, state: dict | None = None,
                 verbose="auto"):
    """Compile and fit ``model`` as the study does, checkpointing into ``folder`` after every epoch.

    Args:
        state: a checkpoint to resume from (``model`` is then the checkpoint's model, optimizer included).

    Returns:
        The per-epoch history (both VGG16 stages, with a ``stage`` column).
    """
    history = list(state["history"]) if state else []
    done = state["epoch"] if state else 0
    batches = Batches(splits.train, profile.batch_size, profile.seed,
                      age_weights(splits.train.age, profile.age_weighting))
    if model_name == "custom":
        if not state:
            models.compile_model(model, profile.learning_rate, profile.weight_decay)
        _fit(model, splits, profile, done, profile.epochs, Checkpoint(folder, profile.hash, None, history, batches),
             verbose)
        return history_frame(history)
    if not state:
        models.set_vgg16_stage(model, 1)
        models.compile_model(model, profile.stage1_learning_rate, profile.stage1_weight_decay)
    _fit(model, splits, profile, done, profile.stage1_epochs, Checkpoint(folder, profile.hash, 1, history, batches),
         verbose, stage=1)
    if profile.stage2_epochs:
        if done <= profile.stage1_epochs:  # entering stage 2 now (not resuming inside it): fresh optimizer
            models.set_vgg16_stage(model, 2, profile.stage2_unfrozen_layers)
            models.compile_model(model, profile.stage2_learning_rate, profile.stage2_weight_decay)
        _fit(model, splits, profile, max(done, profile.stage1_epochs), profile.stage1_epochs + profile.stage2_epochs,
             Checkpoint(folder, profile.hash, 2, history, batches), verbose, stage=2)
    return history_frame(history)


def history_frame(rows: list[dict]) -> pd.DataFrame:
    """One row per epoch: epoch, the metrics in name order, seconds, and stage (VGG16)."""
    frame = pd.DataFrame(rows)
    last = [c for c in ("seconds", "stage") if c in frame]
    return frame[["epoch", *sorted(c for c in frame if c not in ("epoch", *last)), *last]]


def evaluate_test(model_name: str, model, profile: Profile, out: Path, source=None, progress: bool = True) -> dict:
    """Predict the profile's test images, write ``predictions_test_<model>.csv``; returns the test metrics."""
    test = data.load_test(profile, source, progress=progress)
    predictions = evaluation.predict(model, test, profile.batch_size)
    write_atomic(out / f"predictions_test_{model_name}.csv", predictions.to_csv(index=False, float_format="%.6g"))
    summary = evaluation.summarize(predictions)
    return {"test_gender_accuracy": summary["gender_accuracy"], "test_age_mae": summary["age_mae"],
            "n_test": summary["n"]}


def add_test_results(model_name: str, profile: Profile, out_dir, source=None) -> dict:
    """Evaluate a finished run's saved model on the test images and add the numbers to its metrics.json."""
    out = Path(out_dir)
    metrics = json.loads((out / "metrics.json").read_text())
    model = keras.models.load_model(out / f"{model_name}.keras", safe_mode=True)
    metrics.update(evaluate_test(model_name, model, profile, out, source))
    write_json(out / "metrics.json", metrics)
    return metrics


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


def _code_version() -> dict:
    """The git commit of this checkout (and whether it had uncommitted changes), when there is one."""
    def git(*args):
        return subprocess.run(["git", *args], cwd=config.PROJ_ROOT, capture_output=True, text=True, timeout=10)

    try:
        head = git("rev-parse", "HEAD")
        status = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return {"commit": None}
    if head.returncode:
        return {"commit": None}
    return {"commit": head.stdout.strip(), "dirty": bool(status.stdout.strip())}


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
    # Everything that can fail on bad input is checked before the output folder is touched.
    models.check_image_size(model_name, profile)
    weights = models.resolve_weights(weights) if model_name == "vgg16" else None
    started = dt.datetime.now(dt.timezone.utc)
    out = Path(out_dir)
    folder = out / "checkpoint"
    state = read_checkpoint(folder, profile.hash)
    keras.utils.set_random_seed(profile.seed)
    if state:
        print(f"Resuming from the checkpoint after epoch {state['epoch']} in {folder}", flush=True)
        model = keras.models.load_model(folder / state["model_file"], safe_mode=True)
        restore_seed_states(model, state["seed_states"])
    else:
        model = models.build_model(model_name, profile, weights)
    weights_info = models.describe_weights(weights) if model_name == "vgg16" else None
    if weights_info:
        print(f"VGG16 weights: {weights_info['label']}", flush=True)
    splits = data.load_splits(profile, source, progress=progress)
    print(data.describe_skipped(splits.info), flush=True)

    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").unlink(missing_ok=True)  # written last: its presence means the run finished
    if not state:
        shutil.rmtree(folder, ignore_errors=True)  # another profile's checkpoint, if any, is of no use
    if verbose == "auto":
        verbose = 1 if sys.stdout.isatty() else 2

    history = run_training(model_name, model, splits, profile, folder, state, verbose)
    predictions = evaluation.predict(model, splits.val, profile.batch_size)
    metrics = final_metrics(history, predictions)
    if profile.test_size:
        metrics.update(evaluate_test(model_name, model, profile, out, source, progress))
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
        "weights": weights_info,
        "versions": _versions(),
        "code": _code_version(),
        "backend": keras.backend.backend(),
        "hardware": {"platform": platform.platform(), "processor": platform.machine(),
                     "cpu_count": os.cpu_count(), "accelerators": _accelerators()},
        "started": started.isoformat(timespec="seconds"),
        "finished": finished.isoformat(timespec="seconds"),
        "seconds": round((finished - started).total_seconds(), 1),
    })
    write_json(out / "metrics.json", metrics)
    shutil.rmtree(folder, ignore_errors=True)
    return metrics
