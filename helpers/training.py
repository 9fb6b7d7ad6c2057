"""The parts of a training that the model notebooks (02, 03, 03b) call: the run (:func:`start`, :class:`Run`), its
batches, the cached validation of a frozen base, and the result files (metrics, history, predictions, manifest,
model)."""

from __future__ import annotations

from . import keras_quietly  # noqa: F401  (first: Keras starts without TensorFlow's C++ start-up lines)

# isort: split
import contextlib
import functools
import hashlib
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from . import config, data, evaluation, files, host, models, registry, results, sources
from .checkpoint import Checkpoint, RunStopped, has_checkpoint, load_checkpoint
from .config import Profile
from .files import write_atomic, write_json

HISTORY_METRICS = ("loss", "age_loss", "age_mae", "gender_loss", "gender_accuracy")


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
        pick = np.sort(self.order[index * self.batch_size : (index + 1) * self.batch_size])
        targets = {"age": self.faces.age[pick].astype("float32"), "gender": self.faces.gender[pick].astype("float32")}
        if self.age_weights is None:
            return self.faces.images[pick], targets
        weights = {"age": self.age_weights[pick], "gender": np.ones(len(pick), "float32")}
        return self.faces.images[pick], targets, weights


def targets(faces) -> dict:
    return {"age": faces.age.astype("float32"), "gender": faces.gender.astype("float32")}


class FrozenPartValidation(keras.callbacks.Callback):
    """Validation of a model with frozen layers (VGG16's base) through its trainable part alone.

    Validation images are not augmented and the frozen layers run in inference mode, so within a stage their
    output is the same every epoch: it is computed once and each epoch runs only the trainable part on it
    (:attr:`registry.Stage.frozen_part`), with the batches, losses and metrics of Keras' own validation. The values
    enter the epoch's logs as ``val_*`` before the checkpoint and the progress line read them.
    """

    def __init__(self, parts: tuple, val, batch_size: int):
        super().__init__()
        frozen, self.trainable = parts
        self.trainable.compile(loss=models.LOSSES, metrics=models.METRICS)
        self.features = frozen.predict(val.images, batch_size=batch_size, verbose=0)
        self.targets, self.batch_size = targets(val), batch_size

    def on_epoch_end(self, epoch, logs=None):
        values = self.trainable.evaluate(
            self.features, self.targets, batch_size=self.batch_size, verbose=0, return_dict=True
        )
        logs.update({f"val_{name}": value for name, value in values.items()})


def decays(profile: Profile, stage_index: int, stages: int) -> bool:
    """Whether stage ``stage_index`` (0-based, of ``stages``) decays its learning rate (``profile.lr_schedule``)."""
    return profile.lr_schedule == "cosine" or (profile.lr_schedule == "cosine_last" and stage_index == stages - 1)


def history_frame(rows: list[dict]) -> pd.DataFrame:
    """One row per epoch: epoch, the metrics in name order, seconds, and stage (models of several stages)."""
    frame = pd.DataFrame(rows)
    last = [c for c in ("seconds", "stage") if c in frame]
    return frame[["epoch", *sorted(c for c in frame if c not in ("epoch", *last)), *last]]


def evaluate_test(model_name: str, model, profile: Profile, out: Path, source=None, progress: bool = True) -> dict:
    """Predict the profile's test images, write ``predictions_test_<model>.csv``; returns the test metrics."""
    test = data.load_test(profile, source, progress=progress)
    predictions = evaluation.predict(model, test, profile.batch_size)
    write_atomic(out / f"predictions_test_{model_name}.csv", predictions.to_csv(index=False, float_format="%.6g"))
    summary, flipped = evaluation.summarize(predictions), evaluation.summarize(predictions, flip=True)
    return {
        "test_gender_accuracy": summary["gender_accuracy"],
        "test_age_mae": summary["age_mae"],
        "n_test": summary["n"],
        "test_gender_accuracy_flip": flipped["gender_accuracy"],
        "test_age_mae_flip": flipped["age_mae"],
    }


def final_metrics(history: pd.DataFrame, predictions: pd.DataFrame) -> dict:
    """The last epoch's train and validation values, plus the same validation numbers from the predictions, plain
    and flipped (``_flip``: each image's prediction averaged with its mirror image's)."""
    last = history.iloc[-1]
    metrics = {}
    for key in HISTORY_METRICS:
        metrics[f"train_{key}"] = float(last[key])
        metrics[f"val_{key}"] = float(last[f"val_{key}"])
    summary = evaluation.summarize(predictions)
    metrics["val_gender_accuracy_from_predictions"] = summary["gender_accuracy"]
    metrics["val_age_mae_from_predictions"] = summary["age_mae"]
    flipped = evaluation.summarize(predictions, flip=True)
    metrics["val_gender_accuracy_flip"], metrics["val_age_mae_flip"] = flipped["gender_accuracy"], flipped["age_mae"]
    metrics["epochs_run"] = len(history)
    return metrics


@contextlib.contextmanager
def _stopped_if_unwritable(out: Path, epochs: int):
    """Turn an OSError while the results are written (a full disk) into one :class:`RunStopped` line."""
    try:
        yield
    except OSError as err:
        raise RunStopped(
            f"could not write the results in {out} ({err.strerror or err}); the checkpoint of the "
            f"last epoch ({epochs}) is intact: free some space and rerun the same command to write them"
        ) from None


def _resume_or_start(folder: Path, profile: Profile, build) -> tuple[dict | None, keras.Model]:
    """The checkpoint's state and model where one of these settings survives in ``folder``, else (None, build())."""
    found = load_checkpoint(folder, profile.hash)
    if found:
        print(f"Resuming from the checkpoint after epoch {found[0]['epoch']} in {folder}", flush=True)
        return found
    shutil.rmtree(folder, ignore_errors=True)  # another profile's checkpoint, if any, is of no use
    return None, build()


def _manifest(model_name: str, profile: Profile, overrides, data_info: dict, weights_info, provenance: dict) -> dict:
    """What a run records of itself (``manifest.json``), but for when it finished and how long it took."""
    return {
        "model": model_name,
        "profile_name": profile.name,
        "profile": profile.to_dict(),
        "overrides": overrides or {},
        "hash": profile.hash,
        "seed": profile.seed,
        "data": data_info,
        "weights": weights_info,
        "architecture": registry.current_architecture(model_name, profile),
        "versions": host.versions(),
        **provenance,
        "backend": keras.backend.backend(),
        "hardware": host.hardware(),
    }


def _load_data(profile: Profile, source, progress: bool):
    """The run's training and validation images, and what the manifest says of them."""
    splits = data.load_splits(profile, source, progress=progress)
    print(data.describe_skipped(splits.info), flush=True)
    data_info = dict(splits.info, **sources.describe_source(source), n_train=len(splits.train), n_val=len(splits.val))
    return splits, data_info


def _provenance(state: dict | None, started: str, code: dict) -> dict:
    """Where the run began (kept in the checkpoint), and every resume since."""
    if not state:
        return {"started": started, "code": code, "resumes": []}
    return {
        "started": state.get("started", started),
        "code": state.get("code"),
        "resumes": [*state.get("resumes", []), {"at": started, "code": code}],
    }


# ---------------------------------------------------------------- a run, from start() to finish()
# The notebooks (02, 03, 03b) train in their own cells: start() sets a run up, each stage's cells compile and fit
# the model with what Run.stage() gives them, finish() writes the run's files.
_HELD: dict[Path, contextlib.ExitStack] = {}  # run folders this process has locked for a run not finished yet


@dataclass
class StageEpochs:
    """What one stage's ``compile`` and ``fit`` need from the run.

    Attributes:
        first, last: the stage's epochs still to train, as ``fit``'s ``initial_epoch`` and ``epochs`` (equal once
            a resumed run is past the stage, or when the results were loaded).
        enters: whether the stage begins now, so its layers are set and the model compiled with a fresh AdamW
            (False when a run resumes inside the stage: the checkpoint's model goes on with its optimizer's state).
        batches: the training batches, in an order fixed by (seed, epoch) so that a resumed run sees what an
            uninterrupted one saw (``fit(shuffle=False)``: Keras' own shuffling would not survive a resume).
        checkpoint: the callback that saves the model, its optimizer and the history after every epoch.
        decay_steps: the steps along which the learning rate decays to 0 (0: it stays constant).
    """

    first: int
    last: int
    enters: bool
    batches: Batches | None = None
    checkpoint: Checkpoint | None = None
    decay_steps: int = 0

    @property
    def left(self) -> bool:
        """Whether any of the stage's epochs are still to train."""
        return self.first < self.last

    def learning_rate(self, rate: float):
        """The stage's learning rate: ``rate``, or a cosine from ``rate`` to 0 over the stage, step by step, when the
        profile's ``lr_schedule`` decays this stage (the optimizer counts its steps and a checkpoint keeps the count,
        so a resumed run goes on where it was)."""
        if not self.decay_steps:
            return rate
        return keras.optimizers.schedules.CosineDecay(rate, self.decay_steps, alpha=0.0)


class Run:
    """A run of one model and profile into its folder: made by :func:`start`, trained by the notebook's cells, ended
    by :meth:`finish`. ``trains`` is False when the folder holds a finished run of these settings (it is loaded).

    Attributes:
        model: the model to train: fresh with the seed's initial weights, or the checkpoint's (optimizer included)
            when an interrupted run resumes; when the results are loaded, the network without weights, to look at.
        validation: the validation images and targets, for ``fit(validation_data=...)``.
    """

    def __init__(self, name: str, profile: Profile, folder: Path, model, trains: bool, **training):
        self.name, self.profile, self.folder, self.model, self.trains = name, profile, folder, model, trains
        self.spec = registry.get(name)
        self.splits, self.state = training.get("splits"), training.get("state")
        self.history = list(self.state["history"]) if self.state else []
        self.batches = training.get("batches")
        self.provenance, self.started = training.get("provenance"), training.get("started")
        self.source, self.progress = training.get("source"), training.get("progress", True)
        self.manifest = training.get("manifest")
        self.validation = (self.splits.val.images, targets(self.splits.val)) if self.splits else None

    def stage(self, number: int) -> StageEpochs:
        """Stage ``number`` (1, 2, … as the model's notebook numbers them) of this run."""
        stages = self.spec.stages
        if not 1 <= number <= len(stages):
            raise ValueError(f"the {self.spec.label} model trains in {len(stages)} stage(s), not {number}")
        first = sum(stage.epochs_of(self.profile) for stage in stages[: number - 1])
        last = first + stages[number - 1].epochs_of(self.profile)
        if not self.trains:
            return StageEpochs(last, last, enters=False)
        done = self.state["epoch"] if self.state else 0
        begin = min(max(done, first), last)
        if begin < last:
            self.batches.set_epoch(begin)
        decaying = decays(self.profile, number - 1, len(stages))
        return StageEpochs(
            first=begin,
            last=last,
            enters=last > first and (not self.state or done <= first),
            batches=self.batches,
            checkpoint=Checkpoint(
                self.folder / results.CHECKPOINT,
                self.profile.hash,
                self.spec.stage_number(number - 1),
                self.history,
                self.batches,
                self.provenance,
            ),
            decay_steps=(last - first) * len(self.batches) if decaying else 0,
        )

    def finish(self, model) -> results.RunResults:
        """Write the trained run's files (validation and test predictions, metrics, history, manifest, the model
        and its card; ``metrics.json`` last) and unlock the folder; returns the run as loaded from them (also when
        nothing trained)."""
        cells = training_cells()
        if self.trains:
            if cells:
                self.manifest["training_cells"] = cells
            history = history_frame(self.history)
            earlier = float(history["seconds"].iloc[: self.state["epoch"] if self.state else 0].sum())
            with _stopped_if_unwritable(self.folder, len(history)):
                _write_results(self, model, history, earlier)
            shutil.rmtree(self.folder / results.CHECKPOINT, ignore_errors=True)
            _HELD.pop(self.folder).close()
            self.trains = False
        run = results.load(self.name, self.folder)
        results.check_architecture(run, self.profile)
        recorded = run.manifest.get("training_cells")
        if cells and recorded and cells != recorded:
            print(
                f"note: this notebook's training cells differ from those that trained the run in {self.folder}; "
                "its results are those cells' (retrain=True trains with these)",
                flush=True,
            )
        return run


def training_cells(first_call: str = "training.start(") -> str | None:
    """A digest of the code this IPython kernel ran from the last cell that calls ``first_call`` to the current one:
    the notebook's training cells as they ran, each cell once, comment lines and blank lines left out. None outside
    IPython (a notebook run in a plain process)."""
    shell = sys.modules["IPython"].get_ipython() if "IPython" in sys.modules else None
    cells = shell.user_ns.get("In", []) if shell else []
    starts = [index for index, cell in enumerate(cells) if first_call in cell]
    if not starts:
        return None
    lines = [
        line.strip()
        for cell in dict.fromkeys(cells[starts[-1] :])  # a cell run again counts once
        for line in cell.splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


def start(
    model_name: str,
    profile: Profile,
    source=None,
    run_dir=None,
    results_dir=None,
    weights="env",
    retrain: bool = False,
    overrides=None,
    progress: bool = True,
) -> Run:
    """Set up a run of ``model_name`` with ``profile``: seed, model, data, and the run folder locked for it.

    Everything that can fail on bad input is checked before the folder is touched. A checkpoint of these settings
    in the folder is resumed; a finished run of them is loaded instead, unless ``retrain``.

    Args:
        source: UTKFace folder or .tar.gz (default ``$UTKFACE`` or ``data/``).
        run_dir: the run's folder (default ``<results_dir>/<profile>/<model>``).
        weights: pretrained weights of a model that reads them (its registry entry's ``find_weights``).
        overrides: the overrides that made ``profile`` (recorded in the manifest).

    Returns:
        The :class:`Run`; its notebook trains ``run.model`` stage by stage and calls :meth:`Run.finish`.
    """
    spec = registry.get(model_name)
    profile = spec.profile_for(profile)
    spec.check_image_size(profile)
    out = Path(run_dir) if run_dir else results.run_folder(model_name, profile, results_dir)
    if not retrain and results.finished_in(out, profile):
        print(f"{out}: a finished run of these settings, loaded (retrain=True trains it again)", flush=True)
        return Run(model_name, profile, out, registry.build_model(model_name, profile, weights=None), trains=False)
    find = spec.find_weights or functools.partial(models.resolve_weights, variable=spec.weights_variable)
    weights = find(weights) if spec.weights_variable else None
    started, code, clock = host.now(), host.code_version(), time.perf_counter()
    folder = out / results.CHECKPOINT
    keras.utils.set_random_seed(profile.seed)
    # A fresh model is built now, so that a bad weights file fails before the data is read.
    fresh = None if has_checkpoint(folder) else models.jit_on_jax(registry.build_model(model_name, profile, weights))
    weights_info = models.describe_weights(weights) if spec.weights_variable else None
    if weights_info:
        print(f"{spec.short} weights: {weights_info['label']}", flush=True)
    source = sources.resolve_source(source)
    splits, data_info = _load_data(profile, source, progress)

    if out.resolve() in _HELD:  # an earlier start() of this process whose run never finished (an interrupted fit)
        _HELD.pop(out.resolve()).close()
    lock = contextlib.ExitStack()
    lock.enter_context(files.folder_lock(out, "training"))
    _HELD[out.resolve()] = lock
    state, model = _resume_or_start(
        folder, profile, lambda: fresh or models.jit_on_jax(registry.build_model(model_name, profile, weights))
    )
    (out / "metrics.json").unlink(missing_ok=True)  # written last: its presence means the run finished
    if state is None:
        print(f"A new run in {out}: {spec.epochs(profile)} epochs, seed {profile.seed}", flush=True)
    provenance = _provenance(state, started, code)
    batches = Batches(
        splits.train, profile.batch_size, profile.seed, age_weights(splits.train.age, profile.age_weighting)
    )
    return Run(
        model_name,
        profile,
        out.resolve(),
        model,
        trains=True,
        splits=splits,
        state=state,
        batches=batches,
        provenance=provenance,
        started=clock,
        source=source,
        progress=progress,
        manifest=_manifest(model_name, profile, overrides, data_info, weights_info, provenance),
    )


def _write_results(run: Run, model, history: pd.DataFrame, earlier_seconds: float) -> None:
    """Predict validation and test images and write every result file; ``metrics.json`` last. The manifest's
    ``seconds``: the epochs of earlier invocations (a resumed run) plus this one's time since :func:`start`."""
    out, profile = run.folder, run.profile
    predictions = evaluation.predict(model, run.splits.val, profile.batch_size)
    metrics = final_metrics(history, predictions)
    if profile.test_size:
        metrics.update(evaluate_test(run.name, model, profile, out, run.source, run.progress))
    with files.atomic_path(out / f"{run.name}.keras") as tmp:
        models.portable(model).save(tmp)
    write_atomic(out / f"history_{run.name}.csv", history.to_csv(index=False))
    write_atomic(out / f"predictions_val_{run.name}.csv", predictions.to_csv(index=False, float_format="%.6g"))
    seconds = round(earlier_seconds + time.perf_counter() - run.started, 1)
    write_json(out / "manifest.json", dict(run.manifest, finished=host.now(), seconds=seconds))
    write_json(out / "metrics.json", metrics)
