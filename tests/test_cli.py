"""The command line: JSON from describe, one clear line and exit code 2 for bad input."""

import json

import pytest

from helpers.__main__ import main


def test_describe_prints_layers_and_stage_parameter_counts(capsys):
    assert main(["describe", "--model", "vgg16", "--profile", "seed"]) == 0
    described = json.loads(capsys.readouterr().out)
    assert set(described["trainable_params"]) == {"stage1", "stage2"}
    assert described["total_params"] > described["trainable_params"]["stage2"] > described["trainable_params"]["stage1"]
    layer = described["layers"][0]
    assert set(layer) == {"name", "class_name", "trainable", "config"}
    assert "vgg16" not in [layer["name"] for layer in described["layers"]]  # nested base is flattened


@pytest.mark.parametrize("argv, message", [
    (["train", "--model", "custom", "--profile", "fast", "--out", "x"], "invalid choice: 'fast'"),
    (["train", "--model", "resnet", "--out", "x"], "invalid choice: 'resnet'"),
    (["describe", "--model", "custom", "--set", "epoch=5"], "unknown setting 'epoch'"),
    (["describe", "--model", "custom", "--set", "epochs=-1"], "epochs must be positive"),
    (["describe", "--model", "vgg16", "--set", "image_size=100"], "must be a multiple of 32"),
])
def test_bad_input_is_one_line_and_exit_2(argv, message, capsys):
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse's own errors
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_missing_data_is_one_line(tmp_path, capsys):
    code = main(["train", "--model", "custom", "--profile", "smoke", "--out", str(tmp_path / "out"),
                 "--data", str(tmp_path / "missing.tar.gz")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: UTKFace source") and "does not exist" in err
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_missing_weights_file_is_one_line(tmp_path, face_archive, capsys):
    code = main(["train", "--model", "vgg16", "--profile", "smoke", "--out", str(tmp_path / "out"),
                 "--data", str(face_archive), "--weights", str(tmp_path / "nope.weights.h5")])
    err = capsys.readouterr().err
    assert code == 2 and "VGG16 weights file" in err and "does not exist" in err
