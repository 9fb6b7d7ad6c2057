"""Where one epoch of the custom CNN's training goes, on whichever Keras back end runs it.

    [KERAS_BACKEND=jax] python benchmarks/epoch_parts.py [--size 128] [--train 4000] [--val 1000] [--json FILE]

Asked by the one GPU measurement (an H200 with JAX took about 28 s per epoch at 128 and at 192 px alike, twice
the 2-core CPU's pace): is it the training steps, the input batches, Keras' validation or the checkpoint? On
random images of the seed profile's shapes it times each part alone, each after an untimed run of it
(compilation), and then an epoch as notebook 02's training cell runs it (the study's ``Batches``, validation and
``Checkpoint``):

- ``steps``: ``fit`` on in-memory arrays, no validation, no callbacks;
- ``batches``: ``fit`` on ``training.Batches``, and ``host_batches``: those batches drawn without the model;
- ``validation``: ``evaluate`` on the validation arrays, as Keras validates;
- ``checkpoint``: ``checkpoint.Checkpoint``'s work after an epoch (the model and its optimizer state saved);
- ``epoch``: all of it.
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

import keras
import numpy as np

from helpers import config, data, host, registry, training
from helpers.checkpoint import Checkpoint
from tools import bench


def faces(n: int, size: int, rng) -> data.FaceSet:
    return data.FaceSet(
        [f"{i}" for i in range(n)],
        rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8),
        rng.integers(1, 91, n),
        rng.integers(0, 2, n),
        rng.integers(0, 5, n),
    )


def seconds(work, warm_up: bool = True) -> float:
    """Seconds of one call of ``work``, after one untimed call (a back end may trace or compile per ``fit``)."""
    if warm_up:
        work()
    start = time.perf_counter()
    work()
    return round(time.perf_counter() - start, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=128, help="image size in pixels (seed profile: 128)")
    parser.add_argument("--train", type=int, default=4000, help="training images (seed profile: 4,000)")
    parser.add_argument("--val", type=int, default=1000, help="validation images (seed profile: 1,000)")
    parser.add_argument("--json", type=Path, help="also write the result to this file")
    args = parser.parse_args()
    profile = config.get_profile("seed", {"image_size": args.size})
    keras.utils.set_random_seed(profile.seed)
    rng = np.random.default_rng(profile.seed)
    train, val = faces(args.train, args.size, rng), faces(args.val, args.size, rng)
    batches = training.Batches(train, profile.batch_size, profile.seed)
    model = registry.build_model("custom", profile, weights=None)
    bench.compile_model(model, profile.learning_rate, profile.weight_decay)
    fit = {"batch_size": profile.batch_size, "epochs": 1, "verbose": 0, "shuffle": False}
    val_data = (val.images, training.targets(val))
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = Checkpoint(Path(folder), profile.hash, None, [], batches)

        def study_epoch():
            model.fit(batches, validation_data=val_data, callbacks=[checkpoint], **fit)

        warm_up = seconds(study_epoch, warm_up=False)
        parts = {
            "steps": seconds(lambda: model.fit(train.images, training.targets(train), **fit)),
            "batches": seconds(lambda: model.fit(batches, **fit)),
            "host_batches": seconds(lambda: [batches[i] for i in range(len(batches))]),
            "validation": seconds(lambda: model.evaluate(*val_data, batch_size=profile.batch_size, verbose=0)),
            "checkpoint": seconds(lambda: checkpoint.on_epoch_end(1)),
            "epoch": seconds(study_epoch),
        }
    result = {
        "backend": keras.backend.backend(),
        "devices": host.accelerators() or ["cpu"],
        "image_size": args.size,
        "train_images": args.train,
        "val_images": args.val,
        "warm_up_epoch": warm_up,
        "seconds": parts,
        "train_images_per_s": round(args.train / max(parts["steps"], 0.01), 1),
    }
    print(json.dumps(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
