"""make land: the queue worktree's finished runs come onto the checkout as their small files, nothing else."""

import pytest

from helpers import files
from tools import landing
from tools.__main__ import main

RUN = "seed/experiments/all_images/vgg16"


def _run(root, relative, finished=True):
    """A run folder as training leaves it: small files, a model, its lock and (unfinished) a checkpoint."""
    folder = root / "results" / relative
    (folder / "checkpoint").mkdir(parents=True)
    (folder / "checkpoint" / "state.json").write_text("{}")
    (folder / "history_vgg16.csv").write_text("epoch,loss\n1,9.8\n")
    (folder / "vgg16.keras").write_bytes(b"model")
    (folder / files.LOCK_NAME).write_text("123\n")
    (folder / ".predictions_val_vgg16.part.csv").write_text("half")
    if finished:
        (folder / "metrics.json").write_text('{"val_age_mae": 7.0}')
        (folder / "MODEL_CARD.md").write_text("# card")
    return folder


def test_land_copies_only_the_finished_runs_small_files(tmp_path):
    queue, results = tmp_path / "queue", tmp_path / "main" / "results"
    _run(queue, RUN)
    _run(queue, "seed/experiments/all_images/face", finished=False)

    written, other_runs = landing.land(queue, results)

    assert other_runs == []
    assert sorted(path.relative_to(results).as_posix() for path in written) == [
        f"{RUN}/{name}" for name in ("MODEL_CARD.md", "history_vgg16.csv", "metrics.json")
    ]
    assert sorted(path.name for path in (results / RUN).iterdir()) == [
        "MODEL_CARD.md",
        "history_vgg16.csv",
        "metrics.json",
    ]
    assert not (results / "seed/experiments/all_images/face").exists()


def test_a_landed_run_keeps_its_files_here_and_gains_new_ones(tmp_path):
    queue, results = tmp_path / "queue", tmp_path / "main" / "results"
    run = _run(queue, RUN)
    landing.land(queue, results)
    (results / RUN / "MODEL_CARD.md").write_text("# card, rewritten here by helpers cards")
    assert landing.land(queue, results) == ([], [])

    (run / "twin_effect.json").write_text('{"advantage": 0.1}')  # an experiment writes it after its run
    written, _ = landing.land(queue, results)
    assert [path.name for path in written] == ["twin_effect.json"]
    assert (results / RUN / "MODEL_CARD.md").read_text() == "# card, rewritten here by helpers cards"


def test_another_run_of_the_same_folder_is_left_alone(tmp_path, capsys):
    queue, results = tmp_path / "queue", tmp_path / "main" / "results"
    run = _run(queue, RUN)
    (results / RUN).mkdir(parents=True)
    (results / RUN / "metrics.json").write_text('{"val_age_mae": 6.5}')
    assert landing.land(queue, results) == ([], [run.resolve()])
    assert main(["land", str(queue), "--results-dir", str(results)]) == 0
    assert f"left alone {run.resolve()}: results/ here holds another run of it" in capsys.readouterr().out
    assert sorted(path.name for path in (results / RUN).iterdir()) == ["metrics.json"]


def test_a_run_whose_training_holds_its_folder_waits(tmp_path):
    queue, results = tmp_path / "queue", tmp_path / "main" / "results"
    run = _run(queue, RUN)
    with files.folder_lock(run, "training"):
        assert landing.land(queue, results) == ([], [])
    assert len(landing.land(queue, results)[0]) == 3


def test_land_refuses_a_folder_that_is_not_a_queue_worktree(tmp_path, capsys):
    assert main(["land", str(tmp_path / "nowhere"), "--results-dir", str(tmp_path / "results")]) == 2
    assert "has no results/ folder: give the queue's worktree" in capsys.readouterr().err
    (tmp_path / "results").mkdir()
    with pytest.raises(ValueError, match="is this checkout"):
        landing.land(tmp_path, tmp_path / "results")


def test_land_command_names_each_copied_file(tmp_path, capsys):
    _run(tmp_path / "queue", RUN)
    assert main(["land", str(tmp_path / "queue"), "--results-dir", str(tmp_path / "results")]) == 0
    *copied, summary = capsys.readouterr().out.splitlines()
    assert [line.rsplit("/", 1)[1] for line in copied] == ["MODEL_CARD.md", "history_vgg16.csv", "metrics.json"]
    assert all(line.startswith("copied ") for line in copied)
    assert summary.startswith("3 files copied from")
