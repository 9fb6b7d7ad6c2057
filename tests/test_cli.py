"""The command line: JSON from describe, one clear line and exit code 2 for bad input."""

import json

import pytest

from tools.cli import main


def test_describe_prints_layers_and_stage_parameter_counts(capsys):
    assert main(["describe", "--model", "vgg16", "--profile", "seed"]) == 0
    described = json.loads(capsys.readouterr().out)
    assert set(described["trainable_params"]) == {"stage1", "stage2"}
    assert described["total_params"] > described["trainable_params"]["stage2"] > described["trainable_params"]["stage1"]
    layer = described["layers"][0]
    assert set(layer) == {"name", "class_name", "trainable", "config"}
    assert "vgg16" not in [layer["name"] for layer in described["layers"]]  # nested base is flattened


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--model", "custom", "--profile", "fast", "--out", "x"], "invalid choice: 'fast'"),
        (["train", "--model", "resnet", "--out", "x"], "invalid choice: 'resnet'"),
        (["describe", "--model", "custom", "--set", "epoch=5"], "unknown setting 'epoch'"),
        (["describe", "--model", "custom", "--set", "epochs=-1"], "epochs must be positive"),
        (["describe", "--model", "vgg16", "--set", "image_size=100"], "must be a multiple of 32"),
        (
            ["describe", "--model", "custom", "--set", "age_weighting=sqrt"],
            "age_weighting must be one of none, inverse",
        ),
        (["describe", "--model", "custom", "--set", "images=list"], "images must be one of study, draw, got 'list'"),
        (["experiment", "conjecture", "--profile", "smoke"], "unknown experiment 'conjecture'"),
        (["experiment", "duplicates", "--profile", "smoke", "--only", "res192"], "has no variant res192"),
        (["sweep", "--profile", "smoke", "--dir", "/nonexistent"], "no finished sweep runs of profile smoke"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, message, capsys):
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse's own errors
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_missing_data_is_one_line(tmp_path, capsys):
    code = main(
        [
            "train",
            "--model",
            "custom",
            "--profile",
            "smoke",
            "--out",
            str(tmp_path / "out"),
            "--data",
            str(tmp_path / "missing.tar.gz"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: UTKFace source") and "does not exist" in err
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_missing_weights_file_is_one_line(tmp_path, face_archive, capsys):
    code = main(
        [
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
            str(tmp_path / "nope.weights.h5"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "VGG16 weights file" in err and "does not exist" in err


def test_bench_prints_one_json_line_with_the_throughputs(capsys):
    assert main(["bench", "--model", "custom", "--profile", "smoke", "--steps", "1", "--synthetic", "--json"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    for key in ("train_images_per_s", "predict_images_per_s", "gflops_per_s"):
        assert result[key] > 0
    assert result["load_seconds_cold"] is None and result["synthetic"] is True  # no data was read


def test_run_time_estimate_adds_training_and_validation():
    from helpers import config
    from tools import bench

    seed = config.get_profile("seed")
    speeds = {"train_images_per_s": 40.0, "train_images_per_s_stage2": 20.0, "predict_images_per_s": 100.0}
    # custom: 60 × (4000/40 + 1000/100) s; VGG16: 10 × (100 + 10) + 25 × (200 + 10) s
    assert bench.estimate_minutes("custom", seed, speeds) == pytest.approx(60 * 110 / 60)
    assert bench.estimate_minutes("vgg16", seed, speeds) == pytest.approx((10 * 110 + 25 * 210) / 60)
    # With validation on frozen features: one frozen pass of the 1,000 images per stage, then the trainable part.
    speeds.update(
        frozen_images_per_s_stage1=100.0,
        val_images_per_s_stage1=1000.0,
        frozen_images_per_s_stage2=125.0,
        val_images_per_s_stage2=500.0,
    )
    assert bench.estimate_minutes("vgg16", seed, speeds) == pytest.approx(
        (10 + 10 * (100 + 1) + 8 + 25 * (200 + 2)) / 60
    )
    assert bench.estimate_minutes("vgg16", seed, speeds, cached_validation=False) == pytest.approx(
        (10 * 110 + 25 * 210) / 60
    )


def test_plan_has_reports_results_on_disk(tmp_path, monkeypatch, capsys):
    from helpers import config

    monkeypatch.setattr(config, "RESULTS_DIR", tmp_path)
    assert main(["plan", "--profile", "smoke", "--has", "custom"]) == 1
    assert main(["plan", "--profile", "smoke"]) == 0  # make report: trains nothing unless asked
    said = capsys.readouterr().out
    assert f"custom: no results for smoke in {tmp_path / 'smoke' / 'custom'}: not training it" in said
    assert "TRAIN=1 trains it" in said and "will train" not in said
    assert main(["plan", "--profile", "smoke", "--train"]) == 0  # make report TRAIN=1
    assert "custom: will train for profile smoke" in capsys.readouterr().out
    checkpoint = tmp_path / "smoke" / "custom" / "checkpoint"  # an interrupted run: the plan says where it resumes
    checkpoint.mkdir(parents=True)
    (checkpoint / "state.json").write_text(json.dumps({"hash": config.get_profile("smoke").hash, "epoch": 1}))
    assert main(["plan", "--profile", "smoke", "--train"]) == 0
    assert "1 of 1 epochs checkpointed: training resumes there" in capsys.readouterr().out
