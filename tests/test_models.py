"""The architecture facts of the study, checked layer by layer."""

import sys
import warnings

import keras
import numpy as np
import pytest

from helpers import augment, config, data, models, registry, training
from tools import bench

SEED = config.get_profile("seed")
# The seed's augmentation, as Keras itself normalises these arguments.
AUGMENTATION = [
    keras.layers.RandomFlip("horizontal"),
    keras.layers.RandomRotation(0.10),
    keras.layers.RandomZoom(0.10),
    keras.layers.RandomTranslation(0.10, 0.10),
    keras.layers.RandomContrast(0.10, value_range=(0, 255)),
]


@pytest.fixture(scope="module")
def custom():
    return registry.describe("custom", SEED)


@pytest.fixture(scope="module")
def vgg():
    return registry.describe("vgg16", SEED)


def _layers(description, class_name):
    return [layer for layer in description["layers"] if layer["class_name"] == class_name]


def _check_augmentation(description):
    found = description["layers"][1:6]
    for layer, expected in zip(found, AUGMENTATION):
        assert layer["class_name"] == type(expected).__name__
        for key, value in expected.get_config().items():
            if key not in ("name", "seed"):
                assert layer["config"][key] == value, (layer["class_name"], key)


def _check_heads(description, age_dropout, gender_dropout):
    by_name = {layer["name"]: layer for layer in description["layers"]}
    assert by_name["age_dropout"]["config"]["rate"] == age_dropout
    assert by_name["gender_dropout"]["config"]["rate"] == gender_dropout
    for branch in ("age_dense", "gender_dense"):
        assert (by_name[branch]["config"]["units"], by_name[branch]["config"]["activation"]) == (256, "relu")
    assert (by_name["age"]["config"]["units"], by_name["age"]["config"]["activation"]) == (1, "linear")
    assert (by_name["gender"]["config"]["units"], by_name["gender"]["config"]["activation"]) == (1, "sigmoid")


def test_custom_cnn_layer_order(custom):
    _check_augmentation(custom)
    names = [layer["class_name"] for layer in custom["layers"]]
    block = ["Conv2D", "FusedBatchNormalization", "ReLU", "MaxPooling2D"]  # Keras' BN, fused kernel on TF
    assert names[:7] == ["InputLayer", *[type(a).__name__ for a in AUGMENTATION], "Rescaling"]
    assert names[7:23] == block * 4
    assert names[23:27] == ["Flatten", "Dense", "BatchNormalization", "ReLU"]


def test_custom_cnn_convolutions(custom):
    convs = _layers(custom, "Conv2D")
    assert [c["config"]["filters"] for c in convs] == [32, 64, 128, 256]
    for conv in convs:
        assert conv["config"]["kernel_size"] == (3, 3) or conv["config"]["kernel_size"] == [3, 3]
        assert conv["config"]["padding"] == "same" and conv["config"]["use_bias"] is False
    pools = _layers(custom, "MaxPooling2D")
    assert all(tuple(p["config"]["pool_size"]) == (2, 2) for p in pools)


def test_custom_cnn_shared_dense_and_heads(custom):
    shared = next(layer for layer in custom["layers"] if layer["name"] == "shared_dense")
    assert shared["config"]["units"] == 512 and shared["config"]["use_bias"] is False
    _check_heads(custom, 0.20, 0.30)
    assert custom["trainable_params"] == {"train": 9_041_698}


def test_vgg16_stage1_trains_only_the_head(vgg):
    _check_augmentation(vgg)
    assert round(vgg["trainable_params"]["stage1"] / 1e6, 2) == 4.46  # as in the coursework, at 128 px
    head = next(layer for layer in vgg["layers"] if layer["name"] == "head_dense")
    assert head["config"]["units"] == 512
    _check_heads(vgg, 0.40, 0.30)
    conv_layers = [layer for layer in vgg["layers"] if layer["name"].startswith("block")]
    assert len([c for c in _layers(vgg, "Conv2D") if c["name"].startswith("block")]) == 13
    assert not any(layer["trainable"] for layer in conv_layers)
    preprocess = vgg["layers"][6]  # Keras' own layer: saved models load without this package
    assert (preprocess["class_name"], preprocess["name"], preprocess["trainable"]) == (
        "Conv2D",
        "vgg16_preprocess",
        False,
    )


def test_vgg16_stage2_unfreezes_exactly_block5():
    model = models.build_vgg16(SEED, weights=None)
    models.set_vgg16_stage(model, 2, SEED.stage2_unfrozen_layers)
    base = model.get_layer("vgg16")
    unfrozen = [
        layer.name
        for layer in base.layers
        if (layer.trainable and layer.weights) or (layer.trainable and layer.name == "block5_pool")
    ]
    assert unfrozen == ["block5_conv1", "block5_conv2", "block5_conv3", "block5_pool"]
    block5 = sum(int(np.prod(w.shape)) for w in base.trainable_weights)
    assert block5 == 3 * (3 * 3 * 512 * 512 + 512)
    models.set_vgg16_stage(model, 1)
    assert not base.trainable_weights


def test_vgg16_preprocess_matches_keras():
    """The frozen 1×1 convolution computes exactly what preprocess_input does (so does the older custom layer)."""
    images = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    expected = keras.applications.vgg16.preprocess_input(images.copy())
    for layer in (models.vgg16_preprocessing(), models.VGG16Preprocess()):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(images)), expected)


def test_portable_models_hold_only_keras_layers_and_compute_the_same():
    profile = config.get_profile("smoke")
    images = np.random.default_rng(3).integers(0, 256, (4, 64, 64, 3), dtype=np.uint8)
    custom = models.build_custom_cnn(profile)
    resampled_once = models.build_custom_cnn(config.get_profile("smoke", {"augment_resampling": "once"}))
    inputs = keras.Input((64, 64, 3))
    base = models.build_vgg16(profile, weights=None).get_layer("vgg16")
    older_vgg16 = keras.Model(inputs, base(models.VGG16Preprocess(name="vgg16_preprocess")(inputs)))
    for model in (custom, resampled_once, older_vgg16):
        portable = models.portable(model)
        kinds = {type(layer).__module__.split(".")[0] for layer in models.flat_layers(portable)}
        assert kinds == {"keras"}
        np.testing.assert_array_equal(
            keras.tree.flatten(portable.predict(images, verbose=0)),
            keras.tree.flatten(model.predict(images, verbose=0)),
        )
    for model in (custom, resampled_once):  # saved in the study's order: conv → BN → ReLU → pool
        inbound = {
            layer["name"]: layer["inbound_nodes"][0]["args"][0]["config"]["keras_history"][0]
            for layer in models.portable(model).get_config()["layers"]
            if layer["inbound_nodes"]
        }
        for i in range(1, 5):
            assert [inbound[f"block{i}_relu"], inbound[f"block{i}_pool"]] == [f"block{i}_bn", f"block{i}_relu"]
        augmentation = models.portable(model).get_layer("augmentation").layers
        assert [type(layer) for layer in augmentation] == [type(layer) for layer in AUGMENTATION]


def _smooth_faces(n=6, size=64):
    import tensorflow as tf

    coarse = np.random.default_rng(5).uniform(0, 255, (n, 8, 8, 3)).astype("float32")
    return tf.image.resize(coarse, (size, size), method="bicubic").numpy()


def test_random_affine_draws_what_the_three_layers_draw_and_resamples_once():
    """Same parameter draws, composed in the same order: on smooth images the one resampling lands within a
    pixel value of the three (the difference is interpolation blur and the borders), far closer than the same
    draws composed in the reverse order."""
    images = _smooth_faces()
    three = keras.ops.convert_to_numpy(augment.augmentation(7, "each")(images, training=True))
    once_layer = augment.augmentation(7, "once")
    once = keras.ops.convert_to_numpy(once_layer(images, training=True))
    inner = (slice(None), slice(10, -10), slice(10, -10))  # away from the reflected borders
    assert np.abs(once - three)[inner].mean() < 2.0 < np.abs(three - images)[inner].mean()
    # The three layers' own draws (fresh layers, same seed), composed in either order and applied once.
    composed = {}
    for order in ("same", "reverse"):
        flip, *affine, contrast = augment.augmentation(7, "each").layers
        transforms = [_first_transform(layer, images) for layer in affine]
        transform = augment.compose_transforms(*(transforms if order == "same" else reversed(transforms)))
        composed[order] = keras.ops.convert_to_numpy(
            contrast(
                keras.ops.image.affine_transform(flip(images, training=True), transform, fill_mode="reflect"),
                training=True,
            )
        )
    np.testing.assert_allclose(composed["same"], once, atol=1e-3)
    assert np.abs(composed["reverse"] - three)[inner].mean() > 5 * np.abs(once - three)[inner].mean()
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(once_layer(images, training=False)), images)


def _first_transform(layer, images):
    """The 8-number transform that Keras' RandomRotation, RandomZoom or RandomTranslation draws next."""
    draw = layer.get_random_transformation(images, training=True)
    if isinstance(layer, keras.layers.RandomRotation):
        return draw["rotation_matrix"]
    if isinstance(layer, keras.layers.RandomZoom):
        return layer._get_zoom_matrix(
            keras.ops.concatenate([draw["width_zoom"], draw["height_zoom"]], axis=1), images.shape[1], images.shape[2]
        )
    return layer._get_translation_matrix(draw["translations"])


def test_optimizer_and_losses():
    model = models.build_custom_cnn(config.get_profile("smoke"))
    bench.compile_model(model, SEED.learning_rate, SEED.weight_decay)
    assert isinstance(model.optimizer, keras.optimizers.AdamW)
    assert np.isclose(float(model.optimizer.learning_rate), 5e-5)
    assert np.isclose(model.optimizer.weight_decay, 1e-5)
    assert model.loss == {"age": "mae", "gender": "binary_crossentropy"}


def test_on_jax_the_random_affine_layers_no_longer_keep_the_model_op_by_op(monkeypatch):
    """Keras marks RandomRotation, RandomZoom and RandomTranslation unfit for XLA (a TensorFlow limit), which on JAX
    ran every training step op by op. Here (TensorFlow) nothing changes; on JAX the layers and a loaded, compiled
    model are let through. (Same draws and losses either way: checked on JAX, benchmarks/README.md.)"""

    def affine(model):
        return [layer for layer in models.flat_layers(model) if isinstance(layer, augment.AFFINE_LAYERS)]

    profile = config.get_profile("smoke")
    model = models.build_custom_cnn(profile)
    bench.compile_model(model, profile.learning_rate, profile.weight_decay)
    assert len(affine(model)) == 3 and not any(layer.supports_jit for layer in affine(model))
    assert model.jit_compile is False  # TensorFlow on a CPU: no XLA, as before
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    assert models.jit_on_jax(model) is model
    assert all(layer.supports_jit for layer in models.flat_layers(model)) and model.jit_compile is True


@pytest.mark.parametrize("model, size, message", [("custom", 72, "multiple of 16"), ("vgg16", 80, "multiple of 32")])
def test_image_size_must_fit_the_stride(model, size, message):
    with pytest.raises(ValueError, match=message):
        registry.build_model(model, config.get_profile("smoke", {"image_size": size}), weights=None)


def test_weights_resolution(tmp_path, monkeypatch):
    monkeypatch.delenv("VGG16_WEIGHTS", raising=False)
    assert models.resolve_weights("env") == "imagenet"
    assert models.resolve_weights("none") is None
    with pytest.raises(ValueError, match="does not exist"):
        models.resolve_weights(tmp_path / "missing.weights.h5")
    file = tmp_path / "w.weights.h5"
    file.write_bytes(b"x")
    monkeypatch.setenv("VGG16_WEIGHTS", str(file))
    assert models.resolve_weights("env") == str(file)
    assert models.describe_weights(str(file))["label"].startswith("local weights file")


def test_weights_that_are_not_vgg16_are_reported(tmp_path):
    file = tmp_path / "other.weights.h5"
    keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]).save_weights(file)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # refused with one error, not Keras' warnings about layers left random
        with pytest.raises(ValueError, match=r"could not load VGG16 weights .*: the file has no weights for some"):
            models.build_vgg16(config.get_profile("smoke"), weights=str(file))


def test_a_few_training_steps_lower_the_loss_on_a_fixed_batch():
    keras.utils.set_random_seed(0)
    profile = config.get_profile("smoke", {"image_size": 32})
    model = models.build_custom_cnn(profile)
    bench.compile_model(model, learning_rate=1e-3, weight_decay=1e-5)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (16, 32, 32, 3)).astype("uint8")
    targets = {"age": rng.uniform(1, 90, 16).astype("float32"), "gender": rng.integers(0, 2, 16).astype("float32")}
    before = model.evaluate(images, targets, verbose=0, return_dict=True)["loss"]
    for _ in range(5):
        model.train_on_batch(images, targets)
    after = model.evaluate(images, targets, verbose=0, return_dict=True)["loss"]
    assert after < before


def test_history_and_final_metrics_agree_with_predictions():
    import pandas as pd

    history = pd.DataFrame([{f"{p}{k}": 0.5 for p in ("", "val_") for k in training.HISTORY_METRICS}])
    predictions = pd.DataFrame(
        {"age": [20, 30], "gender": [0, 1], "pred_age": [22.0, 27.0], "prob_female": [0.2, 0.4], "pred_gender": [0, 0]}
    ).assign(pred_age_flip=[20.0, 29.0], prob_female_flip=[0.2, 0.6])
    metrics = training.final_metrics(history, predictions)
    assert metrics["val_gender_accuracy_from_predictions"] == 0.5
    assert metrics["val_age_mae_from_predictions"] == 2.5
    assert metrics["val_gender_accuracy_flip"] == 1.0 and metrics["val_age_mae_flip"] == 0.5
    assert metrics["epochs_run"] == 1 and metrics["train_gender_accuracy"] == 0.5


def test_fused_batch_normalization_is_keras_batch_normalization():
    """Same outputs, gradients and moving statistics as Keras' layer, to float32 rounding."""
    import tensorflow as tf

    from helpers.models import FusedBatchNormalization

    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(2, 3, (16, 8, 8, 5)).astype("float32"))
    weights = rng.normal(size=x.shape).astype("float32")
    results = []
    for cls in (keras.layers.BatchNormalization, FusedBatchNormalization):
        layer = cls(momentum=0.9)
        layer.build(x.shape)
        with tf.GradientTape() as tape:
            tape.watch(x)
            total = tf.reduce_sum(layer(x, training=True) * weights)
        grads = tape.gradient(total, [x, layer.gamma, layer.beta])
        results.append(
            [layer(x, training=True), *grads, layer.moving_mean, layer.moving_variance, layer(x, training=False)]
        )
    assert issubclass(FusedBatchNormalization, keras.layers.BatchNormalization)
    for keras_value, fused_value in zip(*results):
        np.testing.assert_allclose(np.asarray(fused_value), np.asarray(keras_value), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("stage", [1, 2])
def test_frozen_and_trainable_parts_compute_the_whole_model(stage):
    """What FrozenPartValidation runs (trainable part on features computed once) is what the model computes."""
    profile = config.get_profile("smoke")
    keras.utils.set_random_seed(0)
    model = models.build_vgg16(profile, weights=None)
    models.set_vgg16_stage(model, stage, profile.stage2_unfrozen_layers)
    frozen, trainable = models.split_at_frozen(model, stage, profile.stage2_unfrozen_layers)
    assert frozen.output_shape[1:] == ((2, 2, 512) if stage == 1 else (4, 4, 512))  # 64 px
    assert count_trainable(trainable) == count_trainable(model) and not frozen.trainable_weights
    images = np.random.default_rng(1).integers(0, 256, (6, 64, 64, 3), dtype=np.uint8)
    whole = model.predict(images, verbose=0)
    parts = trainable.predict(frozen.predict(images, verbose=0), verbose=0)
    for output in ("age", "gender"):
        np.testing.assert_allclose(parts[output], whole[output], rtol=1e-5, atol=1e-5)


def count_trainable(model):
    return models.count_params(model.trainable_weights)


def test_cached_validation_gives_keras_own_validation_values():
    """Features computed once before training still give, after each of two epochs of either stage, the values
    of Keras' own validation (which the cached ones overwrite in the same logs)."""
    profile = config.get_profile("smoke", {"batch_size": 8, "image_size": 32})
    rng = np.random.default_rng(2)
    faces = data.FaceSet(
        [f"{i}.jpg" for i in range(40)],
        rng.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8),
        rng.integers(1, 90, 40),
        rng.integers(0, 2, 40),
        rng.integers(0, 5, 40),
    )
    train, val = faces.take(np.arange(20, 40)), faces.take(np.arange(20))
    for stage in (1, 2):
        keras.utils.set_random_seed(0)
        model = models.build_vgg16(profile, weights=None)
        models.set_vgg16_stage(model, stage, profile.stage2_unfrozen_layers)
        bench.compile_model(model, 1e-4, 1e-5)
        parts = models.split_at_frozen(model, stage, profile.stage2_unfrozen_layers)
        cached = training.FrozenPartValidation(parts, val, 8)
        # The cached callback sees the logs without Keras' validation keys, so what it writes is its own.
        cached_logs, cached_end = [], cached.on_epoch_end
        cached.on_epoch_end = lambda epoch, logs: cached_logs.append(  # noqa: B023 (called in this iteration's fit)
            _logs_after(cached_end, epoch, {k: v for k, v in logs.items() if not k.startswith("val_")})  # noqa: B023
        )
        keras_logs = []
        recorder = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: keras_logs.append(dict(logs)))  # noqa: B023
        model.fit(
            train.images,
            training.targets(train),
            batch_size=8,
            epochs=2,
            verbose=0,
            validation_data=(val.images, training.targets(val)),
            callbacks=[recorder, cached],
        )
        assert len(cached_logs) == len(keras_logs) == 2
        for epoch, (logs, mine) in enumerate(zip(keras_logs, cached_logs)):
            keys = [key for key in logs if key.startswith("val_")]
            assert len(keys) == 5 and sorted(keys) == sorted(k for k in mine if k.startswith("val_"))
            for key in keys:
                assert np.isclose(mine[key], logs[key], rtol=1e-5), (stage, epoch, key)


def _logs_after(callback, epoch, logs):
    """``logs`` after ``callback(epoch, logs)`` wrote into it."""
    callback(epoch, logs)
    return logs


def test_a_cosine_learning_rate_decays_to_zero_and_a_saved_model_goes_on_where_it_was(tmp_path):
    """A stage's ``learning_rate`` as the notebooks' compile cells take it: with ``decay_steps`` the rate follows
    lr · (1 + cos(π · step / steps)) / 2, step by step; the step count is part of the optimizer's state in a .keras
    file (a checkpoint), so a loaded model continues the schedule. Without, it stays constant."""

    def compile_as_the_notebooks_do(model, stage):
        optimizer = keras.optimizers.AdamW(learning_rate=stage.learning_rate(1e-3), weight_decay=1e-4)
        model.compile(optimizer=optimizer, loss=models.LOSSES, metrics=models.METRICS)

    inputs = keras.Input((2,))
    outputs = {"age": keras.layers.Dense(1, name="age")(inputs)}
    outputs["gender"] = keras.layers.Dense(1, activation="sigmoid", name="gender")(inputs)
    model = keras.Model(inputs, outputs)
    compile_as_the_notebooks_do(model, training.StageEpochs(0, 2, True, decay_steps=4))
    x, y = np.ones((8, 2), "float32"), {"age": np.ones(8, "float32"), "gender": np.ones(8, "float32")}
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-3)
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)  # 2 of 4 steps: half way down the cosine
    assert float(model.optimizer.learning_rate) == pytest.approx(0.5e-3)
    model.save(tmp_path / "half.keras")
    loaded = models.load(tmp_path / "half.keras")
    assert float(loaded.optimizer.learning_rate) == pytest.approx(0.5e-3)
    loaded.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert float(loaded.optimizer.learning_rate) == pytest.approx(0.0, abs=1e-12)
    compile_as_the_notebooks_do(model, training.StageEpochs(0, 1, True))  # no decay_steps: constant
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-3)


@pytest.mark.parametrize(
    "schedule, decaying", [("constant", [False, False]), ("cosine", [True, True]), ("cosine_last", [False, True])]
)
def test_which_stages_decay_their_learning_rate(schedule, decaying):
    profile = config.get_profile("seed", {"lr_schedule": schedule})
    assert [training.decays(profile, index, 2) for index in range(2)] == decaying
    assert training.decays(profile, 0, 1) == (schedule != "constant")  # a one-stage model's stage is its last


def test_the_training_cells_digest_is_the_code_run_from_start_to_finish(monkeypatch):
    """What a run's manifest records of its notebook's training cells (``training_cells``): the code from the last
    cell that calls ``training.start(`` to the current one, each cell once, comments and blank lines aside."""
    import types

    history = ["cfg = 1", "run = training.start(x)", "model.fit(a)  # stage 1", "run.finish(model)"]
    shell = types.SimpleNamespace(user_ns={"In": history})
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: shell))
    digest = training.training_cells()
    assert digest and len(digest) == 16
    history[1:] = ["run = training.start(x)", "# a comment\n\nmodel.fit(a)  # stage 1", "run.finish(model)"]
    assert training.training_cells() == digest  # a new comment line, a blank line: the same code
    history.insert(3, history[2])  # a cell run twice (an interrupted fit, run again)
    assert training.training_cells() == digest
    history[2] = "model.fit(b)"
    assert training.training_cells() != digest  # a changed training cell
    history[:] = ["cfg = 1"]
    assert training.training_cells() is None  # no run started in this kernel
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: None))
    assert training.training_cells() is None  # a plain process
