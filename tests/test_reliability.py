"""Bad input, interrupted runs, determinism and safe loading."""

import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import time

import pandas as pd
import pytest
from conftest import (
    REAL_DATA,
    REAL_WEIGHTS,
    ROOT,
    face_names,
    jpeg_bytes,
    lock_holder,
    needs_real_data,
    train_cli,
    train_here,
)
from PIL import Image

from helpers import config, data, registry, sources, training

SMALL = {"n_images": None, "val_size": 2, "image_size": 32, "test_size": 0}


def _image_bytes(mode: str, size=(40, 40), fmt="JPEG") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, 128).save(buffer, format=fmt)
    return buffer.getvalue()


def test_odd_files_are_converted_or_counted(tmp_path):
    folder = tmp_path / "faces"
    (folder / "nested").mkdir(parents=True)
    names = face_names(9)
    files = {
        names[0]: jpeg_bytes(0),
        names[1]: _image_bytes("L"),  # grayscale
        names[2]: _image_bytes("CMYK"),
        names[3]: _image_bytes("RGB", fmt="PNG"),  # a PNG behind a .jpg name
        names[4]: _image_bytes("RGB", size=(300, 240)),  # another size (and not square)
        names[5]: b"",  # zero bytes
        names[6]: jpeg_bytes(6)[:200],  # truncated
        names[7]: b"GIF89a not really",  # corrupt
        "notes.txt": b"not an image",
        "0_0_0_20170116174525125.jpg.chip.jpg": jpeg_bytes(9),  # age 0
        "nested/" + names[8]: jpeg_bytes(8),  # a nested folder is read too
    }
    for name, payload in files.items():
        (folder / name).write_bytes(payload)
    splits = data.load_splits(config.get_profile("smoke", SMALL), folder, progress=False)
    kept = sorted(splits.train.names + splits.val.names)
    assert kept == sorted([names[i] for i in (0, 1, 2, 3, 4, 8)])
    assert splits.train.images.shape[1:] == (32, 32, 3)
    assert sorted(splits.info["skipped"]["unreadable image"]["examples"]) == sorted(names[5:8])
    assert splits.info["skipped"]["not a UTKFace name"]["examples"] == ["notes.txt"]
    assert splits.info["skipped"]["label out of range"]["count"] == 1


def test_empty_folder_and_archive_without_faces(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(sources.DataError, match="no UTKFace file names"):
        data.load_splits(config.get_profile("smoke"), tmp_path / "empty", progress=False)
    archive = tmp_path / "other.tar.gz"
    (tmp_path / "readme.txt").write_text("hello")
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "readme.txt", arcname="readme.txt")
    with pytest.raises(sources.DataError, match="no UTKFace file names"):
        data.load_splits(config.get_profile("smoke"), archive, progress=False)


def test_truncated_archive_is_one_clear_error(tmp_path, face_archive):
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(face_archive.read_bytes()[: face_archive.stat().st_size // 2])
    with pytest.raises(sources.DataError, match="cannot read archive"):
        data.load_splits(config.get_profile("smoke", SMALL), broken, progress=False)


def test_absolute_member_paths_are_refused(tmp_path):
    archive = tmp_path / "abs.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("/etc/30_1_0_20170116174525125.jpg.chip.jpg")
        payload = jpeg_bytes(1)
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    with pytest.raises(sources.DataError, match="unsafe path"):
        sources.list_files(archive)


def test_results_of_other_settings_are_never_reused(tmp_path):
    folder = tmp_path / "smoke" / "custom"
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text("{}")
    (folder / "manifest.json").write_text(json.dumps({"hash": "0123456789ab"}))
    with pytest.raises(ValueError, match="holds results of other settings"):
        training.start("custom", config.get_profile("smoke"), results_dir=tmp_path)


def test_bad_input_fails_before_the_results_folder_is_touched(tmp_path, face_archive):
    out = tmp_path / "out"
    out.mkdir()
    (out / "metrics.json").write_text('{"kept": true}')
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tools",
            "train",
            "--model",
            "vgg16",
            "--profile",
            "smoke",
            "--out",
            str(out),
            "--data",
            str(face_archive),
            "--weights",
            str(tmp_path / "no.h5"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert (out / "metrics.json").read_text() == '{"kept": true}'


def test_imagenet_weights_offline_say_how_to_pass_a_file(tmp_path, face_archive):
    closed = "http://127.0.0.1:9"  # a proxy on a closed port: offline on purpose, whatever the machine's network
    proxies = {name: closed for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy")}
    env = dict(os.environ, KERAS_HOME=str(tmp_path / "keras"), NO_PROXY="", no_proxy="", **proxies)  # no cache
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tools",
            "train",
            "--model",
            "vgg16",
            "--profile",
            "smoke",
            "--out",
            str(tmp_path / "out"),
            "--data",
            str(face_archive),
            "--weights",
            "imagenet",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "could not load VGG16 weights 'imagenet'" in done.stderr and "VGG16_WEIGHTS=" in done.stderr


def _kill_after_epoch(out, model, epoch, *extra, cache):
    """Start a training, SIGKILL it once the checkpoint of ``epoch`` is on disk."""
    process = train_cli(out, model, *extra, cache=cache, wait=False)
    state = out / "checkpoint" / "state.json"
    deadline = time.monotonic() + 300
    while process.poll() is None and time.monotonic() < deadline:
        if state.is_file() and json.loads(state.read_text())["epoch"] >= epoch:
            os.kill(lock_holder(out), signal.SIGKILL)  # the kernel that trains, then the command that started it
            process.kill()
            break
        time.sleep(0.05)
    process.wait()
    assert process.returncode == -9, "the run finished before it could be killed"
    assert not (out / "metrics.json").exists()  # nothing that looks complete


def _assert_same_metrics(a, b):
    first = json.loads((a / "metrics.json").read_text())
    second = json.loads((b / "metrics.json").read_text())
    assert first.keys() == second.keys()
    for key in first:  # bit for bit: one machine, one thread count (docs/reproducibility.md)
        assert second[key] == first[key], key


@needs_real_data
@pytest.mark.slow
def test_the_queue_resumes_a_killed_run_to_the_same_result_then_skips_it(tmp_path, smoke_cache, shared_cache):
    """`make queue` (#35 §4), with a one-job queue of the smoke profile at two epochs: killed after epoch 1, run
    again it resumes there and ends with the uninterrupted run's metrics; run a third time it skips the finished
    run."""
    train_here("custom", config.get_profile("smoke", {"epochs": 2}), tmp_path / "whole", REAL_DATA)  # uninterrupted
    env = dict(os.environ, UTKFACE=str(REAL_DATA), HELPERS_CACHE_DIR=str(smoke_cache))
    queue = [
        "make",
        "queue",
        "QUEUE=conjectures:custom:baseline",  # the profile's own run: RESULTS_ROOT/smoke/custom
        "QUEUE_PROFILE=smoke",
        "QUEUE_SET=epochs=2",
        f"RESULTS_ROOT={tmp_path / 'queue'}",
        f"RUNS_ROOT={tmp_path / 'runs'}",
    ]
    run = tmp_path / "queue" / "smoke" / "custom"
    process = subprocess.Popen(
        queue, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    state = run / "checkpoint" / "state.json"
    deadline = time.monotonic() + 300
    while process.poll() is None and time.monotonic() < deadline:
        if state.is_file() and json.loads(state.read_text())["epoch"] >= 1:
            os.kill(lock_holder(run), signal.SIGKILL)  # the notebook's kernel (a session of its own), then make's
            os.killpg(process.pid, signal.SIGKILL)
            break
        time.sleep(0.05)
    process.wait()
    assert process.returncode == -9 and not (run / "metrics.json").exists(), "the queue ended before it was killed"
    resumed = subprocess.run(queue, cwd=ROOT, env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    assert "Resuming from the checkpoint after epoch 1" in resumed.stdout
    _assert_same_metrics(tmp_path / "whole", run)
    assert not (run / "checkpoint").exists()  # cleaned up once finished
    again = subprocess.run(queue, cwd=ROOT, env=env, capture_output=True, text=True)
    assert again.returncode == 0 and "not retraining" in again.stdout and "Epoch" not in again.stdout, again.stdout
    assert "== queue: done" in again.stdout


@needs_real_data
@pytest.mark.slow
def test_a_killed_cosine_run_resumes_mid_schedule_to_the_same_result(tmp_path, smoke_cache, shared_cache, capsys):
    """A decaying learning rate (``lr_schedule=cosine``) killed after epoch 1 of 2 resumes at the step it reached
    (the optimizer's step count is in the checkpoint) and ends bit for bit as the uninterrupted run."""
    cosine = config.get_profile("smoke", {"epochs": 2, "lr_schedule": "cosine"})
    train_here("custom", cosine, tmp_path / "whole", REAL_DATA)  # uninterrupted, in this process
    _kill_after_epoch(
        tmp_path / "resumed", "custom", 1, "--set", "epochs=2", "--set", "lr_schedule=cosine", cache=smoke_cache
    )
    train_here("custom", cosine, tmp_path / "resumed", REAL_DATA)
    assert "Resuming from the checkpoint after epoch 1" in capsys.readouterr().out
    _assert_same_metrics(tmp_path / "whole", tmp_path / "resumed")
    assert json.loads((tmp_path / "resumed" / "manifest.json").read_text())["profile"]["lr_schedule"] == "cosine"


@needs_real_data
@pytest.mark.slow
def test_killed_vgg16_run_resumes_into_stage_2(tmp_path, smoke_runs, smoke_cache, shared_cache, capsys, monkeypatch):
    _kill_after_epoch(tmp_path / "vgg16", "vgg16", 1, cache=smoke_cache)  # stage 1 done, stage 2 not begun
    with monkeypatch.context() as patched:
        patched.setenv("VGG16_WEIGHTS", str(REAL_WEIGHTS))
        train_here("vgg16", config.get_profile("smoke"), tmp_path / "vgg16", REAL_DATA)  # resumed in this process
    assert "Resuming from the checkpoint after epoch 1" in capsys.readouterr().out
    _assert_same_metrics(smoke_runs["vgg16"][0], tmp_path / "vgg16")
    history = pd.read_csv(tmp_path / "vgg16" / "history_vgg16.csv")
    assert history["stage"].tolist() == [1, 2] and history["epoch"].tolist() == [1, 2]
    assert list(history.columns) == list(pd.read_csv(smoke_runs["vgg16"][0] / "history_vgg16.csv").columns)


@needs_real_data
def test_saved_models_hold_no_lambda_layers(smoke_runs):
    import zipfile

    for model in registry.names():
        with zipfile.ZipFile(smoke_runs[model][0] / f"{model}.keras") as archive:
            assert "Lambda" not in archive.read("config.json").decode()
