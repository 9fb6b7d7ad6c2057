"""A run's checkpoint: after every epoch the model (weights and optimizer state), the history so far and the
positions of its random streams, so that a stopped run resumes where it stopped and sees what it would have seen."""

from __future__ import annotations

from . import keras_quietly  # noqa: F401  (first: Keras starts without TensorFlow's C++ start-up lines)

# isort: split
import time
from pathlib import Path

import keras
import numpy as np

from . import files, models, results


class RunStopped(RuntimeError):
    """A run that cannot go on: what failed, what is intact and what to do, in one line."""


STATE, PREVIOUS_STATE = results.CHECKPOINT_STATE, "state.previous.json"
STATE_KEYS = ("hash", "epoch", "model_file", "history", "seed_states")


class Checkpoint(keras.callbacks.Callback):
    """After every epoch: the model (weights and optimizer state) and the history so far, atomically.

    The model file is written under a temporary name and renamed; ``state.json`` is written after the model file
    it names, and the epoch before stays on disk (``state.previous.json`` and its model file), so a damaged
    newest checkpoint still leaves one to resume from. A failed write (a full disk) stops the run with one line.

    Args:
        batches: the training batches (``training.Batches``), told each epoch as it begins.
    """

    def __init__(
        self,
        folder: Path,
        profile_hash: str,
        stage: int | None,
        history: list[dict],
        batches: keras.utils.PyDataset,
        provenance: dict | None = None,
    ):
        super().__init__()
        self.folder, self.hash, self.stage, self.history, self.batches = folder, profile_hash, stage, history, batches
        self.provenance = provenance or {}

    def on_epoch_begin(self, epoch, logs=None):
        self.batches.set_epoch(epoch)
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        row = {
            "epoch": epoch + 1,
            **{k: float(v) for k, v in (logs or {}).items()},
            "seconds": time.perf_counter() - self._start,
        }
        if self.stage:
            row["stage"] = self.stage
        self.history.append(row)
        name = f"epoch{epoch + 1:03d}.keras"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with files.atomic_path(self.folder / name) as tmp:
                self.model.save(tmp)
            latest = self.folder / STATE
            if latest.is_file():
                files.write_atomic(self.folder / PREVIOUS_STATE, latest.read_text())
            files.write_json(
                latest,
                {
                    "hash": self.hash,
                    "epoch": epoch + 1,
                    "stage": self.stage,
                    "model_file": name,
                    "history": self.history,
                    "seed_states": seed_states(self.model),
                    **self.provenance,
                },
            )
        except OSError as err:
            saved = f"epoch {epoch}" if epoch else "none yet"
            raise RunStopped(
                f"could not write the checkpoint of epoch {epoch + 1} in {self.folder} "
                f"({err.strerror or err}); the last complete checkpoint ({saved}) is intact: free some "
                "space and rerun the same command to resume from it"
            ) from None
        keep = {name, _state_model_file(self.folder / PREVIOUS_STATE)}
        for old in self.folder.glob("epoch*.keras"):
            if old.name not in keep:
                old.unlink(missing_ok=True)


def _state_model_file(path: Path) -> str | None:
    try:
        return files.read_json(path).get("model_file")
    except (OSError, ValueError):
        return None


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


def has_checkpoint(folder: Path) -> bool:
    """Whether ``folder`` holds a checkpoint state, readable or not (``load_checkpoint`` decides which)."""
    return any((folder / name).is_file() for name in (STATE, PREVIOUS_STATE))


def load_checkpoint(folder: Path, profile_hash: str) -> tuple[dict, keras.Model] | None:
    """The newest complete checkpoint for these settings as ``(state, model)``, or None (none, or another
    profile's). A damaged newest checkpoint falls back, with one printed line, to the epoch before it; when
    neither can be read, ``RunStopped`` names the damaged files and says to delete the folder."""
    problems = []
    for path in (folder / STATE, folder / PREVIOUS_STATE):
        if not path.is_file():
            continue
        try:
            state = files.read_json(path)
            missing = [key for key in STATE_KEYS if key not in state]
            if missing:
                raise ValueError(f"{path} is damaged (no {', '.join(missing)})")
        except (OSError, ValueError) as err:
            problems.append(str(err))
            continue
        if state["hash"] != profile_hash:
            return None
        model_path = folder / state["model_file"]
        try:
            model = models.load(model_path)
            restore_seed_states(model, state["seed_states"])
        except Exception as err:  # zipfile, h5py and Keras raise their own kinds for a cut-short file
            reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
            problems.append(
                f"{model_path} is damaged ({reason})" if model_path.is_file() else f"{model_path} is missing"
            )
            continue
        if problems:
            print(f"warning: {problems[0]}; resuming from the epoch before it ({state['epoch']})", flush=True)
        return state, model
    if problems:
        raise RunStopped(f"cannot resume from {folder}: {'; '.join(problems)}; delete {folder} to start over")
    return None
