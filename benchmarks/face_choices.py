"""Which features the face-recognition network's head reads, and how deep its stage 2 fine-tunes (#36).

    UTKFACE=… FACE_WEIGHTS=… python benchmarks/face_choices.py [--only VARIANT ...]

Each variant is the registry's ``face`` entry with one choice changed, trained on the ``quick`` profile (the study's
4,000 / 1,000 images at 150 px, 3 + 5 epochs, seed 42) and scored on the validation and 2,000 test images. The
variant that matches the entry's current choices (``helpers.face_resnet.FEATURES``, ``STAGE2_UNFROZEN_BLOCKS``, unit
scale) trains as ``face`` into ``results/quick/face/``: the committed quick run. The others train into
``runs/face_choices/``, each through a copy of notebook 03b with its model's name and stage-2 blocks. Finished runs
are reused. Writes benchmarks/face_choices.json and prints a Markdown table.
"""

import argparse
import dataclasses
import json
from pathlib import Path

from helpers import config, face_resnet, registry, results
from tools import execute

VARIANTS = {  # name: (features, stage-2 unfrozen blocks, features at unit scale)
    "raw_descriptor_3": ("descriptor", 3, False),
    "descriptor_3": ("descriptor", 3, True),
    "pooled_3": ("pooled", 3, True),
    "descriptor_1": ("descriptor", 1, True),
}
OUT = Path(__file__).with_name("face_choices.json")


def variant_spec(name: str, features: str, blocks: int, unit_scale: bool) -> registry.ModelSpec:
    """The ``face`` entry with the head reading ``features`` (at unit scale or not) and stage 2 unfreezing
    ``blocks`` residual blocks."""
    face = registry.get("face")

    def build(profile, weights=None):
        return face_resnet.build_transfer(profile, weights, features, unit_scale)

    def stage(number: int) -> registry.Stage:
        def trainable(model, profile):
            face_resnet.set_stage(model, number, blocks)

        return dataclasses.replace(face.stages[number - 1], trainable=trainable)

    return dataclasses.replace(face, name=name, build=build, stages=(stage(1), stage(2)))


def variant_notebook(variant: str, name: str, blocks: int) -> Path:
    """Notebook 03b for the variant: its model's name and its stage-2 blocks in place of the face entry's."""
    source = (execute.NOTEBOOKS / "03b_face_transfer.py").read_text()
    source = source.replace('"face"', f'"{name}"').replace("face_resnet.STAGE2_UNFROZEN_BLOCKS", str(blocks))
    path = config.PROJ_ROOT / "runs" / "face_choices" / f"{variant}.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=VARIANTS, help="train these variants only")
    args = parser.parse_args()
    profile = config.get_profile("quick")
    current = (face_resnet.FEATURES, face_resnet.STAGE2_UNFROZEN_BLOCKS, True)
    rows = json.loads(OUT.read_text()) if OUT.is_file() else {}
    for variant in args.only or VARIANTS:
        features, blocks, unit_scale = VARIANTS[variant]
        if (features, blocks, unit_scale) == current:
            name, out = "face", results.run_folder("face", profile)
        else:
            name, out = f"face_{variant}", config.PROJ_ROOT / "runs" / "face_choices" / variant
            registry.register(variant_spec(name, features, blocks, unit_scale))
        if not (out / "metrics.json").is_file():
            execute.train_here(name, profile, out, notebook=variant_notebook(variant, name, blocks))
        metrics = json.loads((out / "metrics.json").read_text())
        keys = ("val_gender_accuracy", "val_age_mae", "test_gender_accuracy", "test_age_mae")
        rows[variant] = {
            "features": features,
            "stage2_unfrozen_blocks": blocks,
            "unit_scale": unit_scale,
            **{k: metrics[k] for k in keys},
            "minutes": round(json.loads((out / "manifest.json").read_text())["seconds"] / 60, 1),
        }
    OUT.write_text(json.dumps(rows, indent=1) + "\n")
    print("| variant | features | unit scale | stage-2 blocks | val acc | val MAE | test acc | test MAE | minutes |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for variant, row in rows.items():
        cells = [variant, row["features"], row["unit_scale"], row["stage2_unfrozen_blocks"]]
        cells += [f"{row[key]:.3f}" for key in ("val_gender_accuracy",)] + [f"{row['val_age_mae']:.2f}"]
        cells += [f"{row['test_gender_accuracy']:.3f}", f"{row['test_age_mae']:.2f}", row["minutes"]]
        print("| " + " | ".join(map(str, cells)) + " |")


if __name__ == "__main__":
    main()
