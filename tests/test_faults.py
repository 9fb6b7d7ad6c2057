"""Faults a long run meets: two writers on one folder, a kill mid-write, a full disk, damaged files."""

import errno
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import pytest
from conftest import ROOT, face_names, jpeg_bytes, lock_holder, needs_real_data, train_cli, train_here
from PIL import Image

from helpers import config, files, results, training
from tools import experiments as experiment_runs

TINY = {"n_images": None, "val_size": 4, "image_size": 32, "test_size": 0, "batch_size": 8, "epochs": 2}


def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _train_tiny(out, source):
    return train_here("custom", config.get_profile("smoke", TINY), out, source)


def _locked(path) -> bool:
    """Whether some process holds the lock of the folder ``path``."""
    if not (path / files.LOCK_NAME).is_file():
        return False
    with open(path / files.LOCK_NAME) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def wait_until(condition, process, seconds=300):
    deadline = time.monotonic() + seconds
    while not condition() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert condition(), "the condition never held while the process ran"


# ---------------------------------------------------------------- one writer per folder
def test_a_second_lock_on_a_folder_names_the_holder(tmp_path):
    with (
        files.folder_lock(tmp_path / "run", "training"),
        pytest.raises(
            files.FolderInUse,
            match=rf"{tmp_path / 'run'} is being written by another training "
            rf"\(pid {os.getpid()}\)",
        ),
        files.folder_lock(tmp_path / "run", "training"),
    ):
        pass
    with files.folder_lock(tmp_path / "run"):  # released when the block ends
        pass


@needs_real_data
@pytest.mark.slow
def test_two_trainings_on_one_folder_the_second_exits_2(tmp_path, smoke_runs, smoke_cache):
    out = tmp_path / "custom"
    first = train_cli(out, "custom", cache=smoke_cache, wait=False)
    wait_until(lambda: _locked(out), first)
    holder = lock_holder(out)  # the first's kernel, paused while the second starts: a smoke run is over in seconds
    os.kill(holder, signal.SIGSTOP)
    try:
        second = train_cli(out, "custom", cache=smoke_cache)
    finally:
        os.kill(holder, signal.SIGCONT)
    assert second.returncode == 2
    assert second.stderr.count("\n") == 1
    assert f"error: {out} is being written by another training (pid {holder})" in second.stderr
    assert first.wait(timeout=600) == 0
    # untouched by the second, and the same settings in another process give the same metrics (determinism)
    alone = json.loads((smoke_runs["custom"][0] / "metrics.json").read_text())
    assert json.loads((out / "metrics.json").read_text()) == alone


def test_experiment_make_report_and_make_sweep_refuse_a_folder_being_written(tmp_path):
    """One writer per folder (#35): each of them exits 2 (experiment: FolderInUse) naming the folder it writes and
    the pid that holds it, before it touches anything."""

    smoke = config.get_profile("smoke")
    held = tmp_path / "results" / "smoke" / "experiments"
    with (
        files.folder_lock(held, "test"),
        pytest.raises(files.FolderInUse, match=rf"{held} is being written by another experiment \(pid {os.getpid()}\)"),
    ):
        experiment_runs.run("conjectures", smoke, results_dir=tmp_path / "results")
    for target, folder, setting in (
        ("report", tmp_path / "report" / "smoke", f"RESULTS_ROOT={tmp_path / 'report'}"),
        ("sweep", tmp_path / "sweeps", f"SWEEP_DIR={tmp_path / 'sweeps'}"),
    ):
        with files.folder_lock(folder, "test"):
            done = subprocess.run(
                ["make", target, "PROFILE=smoke", setting, f"RUNS_ROOT={tmp_path / 'runs'}"],
                cwd=ROOT,
                capture_output=True,
                text=True,
            )
        assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
        assert f"{folder} is being written by another make {target} (pid {os.getpid()})" in done.stderr
        assert "==" not in done.stdout  # no notebook started
        assert sorted(p.name for p in folder.iterdir()) == [files.LOCK_NAME]


@needs_real_data
def test_a_killed_holder_leaves_no_stale_lock(tmp_path, smoke_cache):
    out = tmp_path / "custom"
    holder = train_cli(out, "custom", cache=smoke_cache, wait=False)
    wait_until(lambda: _locked(out), holder)
    holder.kill()
    holder.wait()
    deadline = time.monotonic() + 10  # the kernel that holds the lock ends with its parent, within a second
    while _locked(out) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _locked(out)
    with files.folder_lock(out, "training"):  # taken at once by the next run
        pass


# ---------------------------------------------------------------- a kill mid-write
def complete_file(path) -> bool:
    """Whether a figure or report file is whole: it parses as what its name says."""
    if path.suffix == ".png":
        with Image.open(path) as image:
            image.load()
        return True
    if path.suffix == ".pdf":
        return path.read_bytes().rstrip().endswith(b"%%EOF")
    if path.suffix == ".html":
        return path.read_text().rstrip().endswith("</html>")
    if path.suffix == ".json":
        return isinstance(json.loads(path.read_text()), dict)
    raise AssertionError(f"unexpected file {path}")


def test_figures_killed_mid_save_are_old_or_whole(tmp_path):
    """A process that keeps saving figures (as a notebook does) is killed at several moments: every visible file
    is whole."""
    script = (
        "import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt, numpy as np, sys\n"
        "from helpers import plots\n"
        "fig, ax = plt.subplots(figsize=(5, 5)); ax.imshow(np.random.default_rng(0).random((300, 300)))\n"
        "plots.save_fig(fig, 'fig0', 'p', sys.argv[1]); print('ready', flush=True)\n"
        "for i in range(10 ** 6): plots.save_fig(fig, f'fig{i % 3}', 'p', sys.argv[1])\n"
    )
    env = dict(os.environ, VERBOSE="1")  # VERBOSE: helpers does not start Keras, which plots does not need
    for delay in (0.3, 1.1):
        process = subprocess.Popen(
            [sys.executable, "-c", script, str(tmp_path)], cwd=ROOT, env=env, stdout=subprocess.PIPE
        )
        assert process.stdout.readline().strip() == b"ready"
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        visible = [p for p in (tmp_path / "p").iterdir() if not p.name.startswith(".")]
        assert len(visible) >= 2 and all(complete_file(p) for p in visible)


# ---------------------------------------------------------------- a full disk
def test_a_full_disk_stops_the_run_in_one_line_and_the_last_checkpoint_resumes(tmp_path, face_archive, monkeypatch):
    whole = _train_tiny(tmp_path / "whole", face_archive)
    out = tmp_path / "run"
    saves = []
    real_save = keras.Model.save

    def save_then_fill_the_disk(model, path, *args, **kwargs):
        saves.append(path)
        if len(saves) == 2:  # the checkpoint of epoch 2
            _disk_full()
        return real_save(model, path, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "save", save_then_fill_the_disk)
    with pytest.raises(training.RunStopped) as stopped:
        _train_tiny(out, face_archive)
    message = str(stopped.value)
    assert "\n" not in message
    assert message == (
        f"could not write the checkpoint of epoch 2 in {out / 'checkpoint'} (No space left on "
        "device); the last complete checkpoint (epoch 1) is intact: free some space and rerun the same "
        "command to resume from it"
    )
    assert json.loads((out / "checkpoint" / "state.json").read_text())["epoch"] == 1
    assert sorted(p.name for p in (out / "checkpoint").iterdir()) == ["epoch001.keras", "state.json"]
    tiny = config.get_profile("smoke", TINY)  # what the report's "not run" lines say of it
    assert results.progress_note("custom", out, tiny) == "1 of 2 epochs checkpointed: training resumes there"
    assert results.progress_note("custom", out, config.get_profile("smoke")) == ""  # not these settings' run
    monkeypatch.setattr(keras.Model, "save", real_save)
    assert _train_tiny(out, face_archive) == whole


def test_a_full_disk_while_writing_results_keeps_the_checkpoint(tmp_path, face_archive, monkeypatch, capsys):
    out = tmp_path / "run"
    monkeypatch.setattr(training, "write_json", _disk_full)
    with pytest.raises(
        training.RunStopped,
        match=r"could not write the results in .* \(No space left on device\); "
        r"the checkpoint of the last epoch \(2\) is intact",
    ):
        _train_tiny(out, face_archive)
    assert not (out / "metrics.json").exists()
    assert json.loads((out / "checkpoint" / "state.json").read_text())["epoch"] == 2
    monkeypatch.undo()
    capsys.readouterr()
    metrics = _train_tiny(out, face_archive)  # resumes after epoch 2 and writes the results
    assert "Resuming from the checkpoint after epoch 2" in capsys.readouterr().out
    assert metrics["epochs_run"] == 2 and (out / "metrics.json").is_file()
    assert not (out / "checkpoint").exists()


# ---------------------------------------------------------------- damaged files
@pytest.fixture(scope="module")
def tiny_archive(tmp_path_factory):
    """The ``face_archive`` files, once for this module's shared runs."""
    folder = tmp_path_factory.mktemp("faces") / "UTKFace"
    folder.mkdir()
    for i, name in enumerate(face_names(40)):
        (folder / name).write_bytes(jpeg_bytes(i))
    return folder


@pytest.fixture(scope="module")
def interrupted_once(tmp_path_factory, tiny_archive):
    """A tiny run stopped after its last epoch (results could not be written): checkpoints of epochs 1 and 2."""
    out = tmp_path_factory.mktemp("interrupted") / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(config, "CACHE_DIR", out.parent / "cache")
        patch.setattr(training, "write_json", _disk_full)
        with pytest.raises(training.RunStopped):
            _train_tiny(out, tiny_archive)
    return out


@pytest.fixture
def interrupted(interrupted_once, tmp_path):
    return Path(shutil.copytree(interrupted_once, tmp_path / "run"))


def test_a_truncated_checkpoint_falls_back_to_the_epoch_before(interrupted, tiny_archive, capsys):
    model_file = interrupted / "checkpoint" / "epoch002.keras"
    model_file.write_bytes(model_file.read_bytes()[:1000])
    metrics = _train_tiny(interrupted, tiny_archive)
    said = capsys.readouterr().out
    assert f"warning: {model_file} is damaged (" in said
    assert "resuming from the epoch before it (1)" in said and "Resuming from the checkpoint after epoch 1" in said
    assert metrics["epochs_run"] == 2


@pytest.mark.parametrize("damage", ["", '{"hash": ', "[]", '{"epoch": 2}'])
def test_damaged_checkpoint_states_are_named(interrupted, tiny_archive, damage):
    for name in ("state.json", "state.previous.json"):
        (interrupted / "checkpoint" / name).write_text(damage)
    with pytest.raises(training.RunStopped) as stopped:
        _train_tiny(interrupted, tiny_archive)
    message = str(stopped.value)
    assert message.startswith(f"cannot resume from {interrupted / 'checkpoint'}: ")
    assert f"{interrupted / 'checkpoint' / 'state.json'} is damaged (" in message
    assert message.endswith(f"delete {interrupted / 'checkpoint'} to start over") and "\n" not in message


@pytest.fixture(scope="module")
def finished_once(tmp_path_factory, tiny_archive):
    out = tmp_path_factory.mktemp("finished") / "smoke" / "custom"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(config, "CACHE_DIR", out.parents[1] / "cache")
        _train_tiny(out, tiny_archive)
    return out


@pytest.fixture
def finished(finished_once, tmp_path):
    return Path(shutil.copytree(finished_once, tmp_path / "smoke" / "custom"))


@pytest.mark.parametrize(
    "file, damage, reason",
    [
        ("metrics.json", '{"val_age_mae": 8.3}', "is damaged (no train_gender_accuracy, val_gender_accuracy"),
        ("metrics.json", "", "is damaged (empty)"),
        ("manifest.json", '{"hash": "abc"', "is damaged (Expecting"),
        ("predictions_val_custom.csv", "", "is damaged (empty)"),
        ("history_custom.csv", None, "is missing"),
    ],
)
def test_a_damaged_result_file_is_named_with_what_to_do(finished, file, damage, reason):
    if damage is None:
        (finished / file).unlink()
    else:
        (finished / file).write_text(damage)
    with pytest.raises(results.DamagedRun) as damaged:
        results.load("custom", finished)
    message = str(damaged.value)
    assert message.startswith(f"the custom run in {finished} is damaged: {finished / file} {reason}")
    assert "retrain it (RETRAIN=1, or delete the folder)" in message and "\n" not in message


def test_evaluate_and_make_report_name_a_damaged_run_in_one_line(finished, tiny_archive):
    (finished / "metrics.json").write_text('{"val_age_mae": 8.3}')
    env = dict(os.environ, UTKFACE=str(tiny_archive))
    profile = ["--profile", "smoke", "--set", f"n_images={json.dumps(TINY['n_images'])}"] + [
        arg for key, value in TINY.items() if key != "n_images" for arg in ("--set", f"{key}={json.dumps(value)}")
    ]
    for command in (
        ["evaluate", "--model", "custom", "--out", str(finished)],
        ["plan", "--results-dir", str(finished.parents[1])],
    ):  # plan: make report's first step
        done = subprocess.run(
            [sys.executable, "-m", "tools", *command, *profile], cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
        assert done.stderr.startswith(f"error: the custom run in {finished} is damaged: {finished / 'metrics.json'}")
