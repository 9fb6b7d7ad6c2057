"""The project's command line: ``python -m tools train|predict|report|…`` (``--help`` on each)."""

from __future__ import annotations

import argparse
import json
import sys

from helpers import config, registry

DATA_HELP = "UTKFace folder or .tar.gz (default: $UTKFACE, then data/)"
PROFILE_HELP = "named profile (seed)"
RESULTS_DIR_HELP = "results root (default: results/)"


def parse_overrides(pairs: list[str]) -> dict:
    """Turn ``["epochs=5", "seed=1"]`` into ``{"epochs": 5, "seed": 1}``."""
    overrides = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set expects key=value, got {pair!r}")
        overrides[key.strip()] = config.parse_value(text.strip())
    return overrides


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not argparse's usage block
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _profile_option(parser, default="seed", help=PROFILE_HELP):
    parser.add_argument("--profile", default=default, choices=list(config.PROFILES), help=help)


def _overrides_option(parser, help=None):
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help=help)


def _profile_args(parser):
    parser.add_argument("--model", required=True, choices=registry.names(), help="which model")
    _profile_option(parser)
    _overrides_option(parser, "override a profile field, e.g. --set epochs=5 (repeatable; JSON values)")


def _profile(args) -> config.Profile:
    return config.get_profile(args.profile, parse_overrides(args.overrides))


# ---------------------------------------------------------------- one parser and one function per sub-command
def _add_train(commands):
    train = commands.add_parser("train", help="train a model through its notebook (papermill) into --out")
    _profile_args(train)
    train.add_argument("--out", required=True, help="results folder (created if needed)")
    train.add_argument("--data", default=None, help=DATA_HELP)
    train.add_argument(
        "--weights",
        default="env",
        help="pretrained weights: for vgg16 imagenet, none or a .weights.h5 file (default: $VGG16_WEIGHTS or "
        "imagenet); for face none or the folder of face_recognition_model.bin (default: $FACE_WEIGHTS, else "
        "the npm package @vladmandic/face-api 1.7.15, downloaded once)",
    )
    train.add_argument("--record", default=None, help="folder for the executed notebook (default: runs/train/…)")
    train.set_defaults(func=_train)


def _train(args) -> int:
    from . import execute

    profile = _profile(args)
    metrics = execute.train(args.model, profile, args.out, args.data, args.weights, args.record)
    profile = registry.get(args.model).profile_for(profile)
    print(
        f"{args.model} ({profile.name}, {profile.hash}): validation gender accuracy "
        f"{metrics['val_gender_accuracy']:.3f}, age MAE {metrics['val_age_mae']:.2f} years; "
        f"results in {args.out}"
    )
    return 0


def _add_evaluate(commands):
    evaluate = commands.add_parser("evaluate", help="add test-set predictions and metrics to a finished run")
    _profile_args(evaluate)
    evaluate.add_argument("--out", required=True, help="the run's results folder (holds <model>.keras)")
    evaluate.add_argument("--data", default=None, help=DATA_HELP)
    evaluate.set_defaults(func=_evaluate)


def _evaluate(args) -> int:
    from . import release

    profile = _profile(args)
    metrics = release.add_test_results(args.model, profile, args.out, args.data)
    print(
        f"{args.model} ({profile.name}): test gender accuracy {metrics['test_gender_accuracy']:.3f}, "
        f"age MAE {metrics['test_age_mae']:.2f} years on {metrics['n_test']} test images"
    )
    return 0


def _add_describe(commands):
    describe = commands.add_parser("describe", help="print the model's layers and parameter counts as JSON")
    _profile_args(describe)
    describe.set_defaults(func=_describe)


def _describe(args) -> int:
    print(json.dumps(registry.describe(args.model, _profile(args)), indent=1, default=str))
    return 0


def _add_bench(commands):
    bench = commands.add_parser("bench", help="measure training and prediction throughput on this machine")
    _profile_args(bench)
    bench.add_argument("--steps", type=int, default=10, help="timed training batches (default 10)")
    bench.add_argument("--synthetic", action="store_true", help="random images instead of UTKFace")
    bench.add_argument("--data", default=None, help=DATA_HELP)
    bench.add_argument("--json", action="store_true", help="print one JSON line")
    bench.add_argument("--record", metavar="LABEL", help="also store the result in benchmarks/throughput.json")
    bench.set_defaults(func=_bench)


def _bench(args) -> int:
    from . import bench

    profile = _profile(args)
    if args.steps < 1:
        raise ValueError(f"--steps must be at least 1, got {args.steps}")
    result = bench.benchmark(args.model, profile, args.steps, args.synthetic, args.data)
    if args.record:
        bench.record(result, args.record)
    print(json.dumps(result) if args.json else "\n".join(f"{k}: {v}" for k, v in result.items()))
    return 0


def _add_experiment(commands):
    experiment = commands.add_parser(
        "experiment", help="train an experiment's variants (those not on disk yet) and print its table"
    )
    experiment.add_argument("name", help="conjectures or duplicates (see extensions/experiments.py)")
    experiment.add_argument(
        "--model",
        default=registry.DEFAULT_MODEL,
        choices=registry.names(),
        help=f"which model ({registry.DEFAULT_MODEL})",
    )
    _profile_option(experiment)
    _overrides_option(experiment, "override a profile field for every variant")
    experiment.add_argument("--only", action="append", metavar="VARIANT", help="train only this variant (repeatable)")
    experiment.add_argument("--data", default=None, help=DATA_HELP)
    experiment.add_argument("--weights", default="env", help="pretrained weights, as for train")
    experiment.add_argument("--results-dir", default=None, help=RESULTS_DIR_HELP)
    experiment.set_defaults(func=_experiment)


def _experiment(args) -> int:
    from . import experiments

    profile = _profile(args)
    experiments.check_name(args.name)
    table = experiments.run(args.name, profile, args.model, args.only, args.data, args.weights, args.results_dir)
    print(table.drop(columns="label").to_string(float_format=lambda v: f"{v:.3f}"))
    return 0


def _add_predict(commands):
    predict = commands.add_parser("predict", help="find the faces in photos and predict their age and gender")
    predict.add_argument("photos", nargs="+", metavar="PHOTO", help="image files (JPEG, PNG, …)")
    predict.add_argument(
        "--model",
        required=True,
        metavar="PATH.keras",
        help="a trained model, e.g. results/seed/custom/custom.keras, or the URL of a released one "
        "(make release): downloaded once, checked against its SHA256SUMS",
    )
    predict.add_argument(
        "--sha256", default=None, help="the released model file's sha256 (default: from the SHA256SUMS beside it)"
    )
    predict.add_argument("--json", action="store_true", help="one JSON line per face")
    predict.set_defaults(func=_predict)


def _predict(args) -> int:
    """Print one line per face; exit status 1 if some photo holds no face, 2 if one cannot be read."""
    from extensions import predict

    model = predict.load_model(args.model, args.sha256)
    status = 0
    for photo in args.photos:
        try:
            faces = predict.predict_photo(model, photo)
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            status = 2
            continue
        if not faces:
            print(
                f"{photo}: no face found (the detector looks for frontal faces of at least {predict.MIN_FACE} pixels)",
                file=sys.stderr,
            )
            status = max(status, 1)
        for number, face in enumerate(faces, 1):
            if args.json:
                print(json.dumps({"photo": photo, "face": number, **face}))
            else:
                print(
                    f"{photo} face {number} at {face['box']}: age {face['age']:.0f}, {face['gender']} "
                    f"(P(female) {face['prob_female']:.2f})"
                )
    return status


def _add_sweep(commands):
    sweep = commands.add_parser("sweep", help="mean ± sd of the final metrics over the seed sweep (make sweep)")
    _profile_option(sweep)
    _overrides_option(sweep)
    sweep.add_argument("--dir", default=None, help="root of the sweep runs (default: results/sweeps/)")
    sweep.set_defaults(func=_sweep)


def _sweep(args) -> int:
    from extensions import seed_sweeps

    profile = _profile(args)
    found = False
    for model in registry.names():
        summary = seed_sweeps.sweep_summary(profile, model, args.dir)
        if summary is not None:
            found = True
            print(
                f"{model} ({profile.name}), seeds {summary.attrs['seeds']}:\n"
                + summary.to_string(float_format=lambda v: f"{v:.3f}")
            )
    if not found:
        raise ValueError(
            f"no finished sweep runs of profile {profile.name} in "
            f"{seed_sweeps.sweep_root(args.dir)} (run make sweep first)"
        )
    return 0


def _add_plan(commands):
    plan = commands.add_parser("plan", help="say what `make report` will train and how long it should take")
    _profile_option(plan)
    _overrides_option(plan)
    plan.add_argument("--train", action="store_true", help="models without results will be trained (TRAIN=1)")
    plan.add_argument("--retrain", action="store_true", help="every model will be retrained (RETRAIN=1)")
    plan.add_argument("--results-dir", default=None, help=RESULTS_DIR_HELP)
    plan.add_argument(
        "--has",
        choices=registry.names(),
        help="print nothing; exit 0 if this model's results are on disk for the profile, 1 if not",
    )
    plan.set_defaults(func=_plan)


def _plan(args) -> int:
    from helpers import results

    profile = _profile(args)
    if args.has:
        return 0 if results.finished(args.has, profile, args.results_dir) else 1
    from . import bench

    print("\n".join(bench.plan(profile, args.train, args.retrain, args.results_dir)))
    return 0


def _add_data(commands):
    data = commands.add_parser(
        "data",
        help="say where UTKFace is (downloading it into data/ when it is missing) "
        "and whether it holds the profile's images",
    )
    data.add_argument("--data", default=None, help=DATA_HELP)
    _profile_option(data, None, "also check that the copy holds this profile's images (the study's, by name)")
    _overrides_option(data)
    data.add_argument(
        "--export",
        metavar="FOLDER",
        help="copy the images of --profile (default seed: the study's "
        "7,000) into FOLDER, e.g. for Drive or a GPU machine",
    )
    data.set_defaults(func=_data)


def _data(args) -> int:
    from helpers import sources

    from . import copies

    source = sources.resolve_source(args.data, download=True)
    print(f"UTKFace: {source}")
    if args.profile or args.export:
        profile = config.get_profile(args.profile or "seed", parse_overrides(args.overrides))
        print(copies.check_study_images(profile, source))
    if args.export:
        written = copies.export_study_images(profile, args.export, source)
        print(
            f"{args.export}: {written:,} images written, the rest already there; "
            f"train from it with UTKFACE={args.export}"
        )
    return 0


def _add_hold(commands):
    hold = commands.add_parser(
        "hold",
        help="run a command while holding FOLDER's lock (one writer per folder; make report and make sweep use it)",
    )
    hold.add_argument("folder", help="the folder the command writes")
    hold.add_argument("what", help="what the command is, for the message a second writer gets")
    hold.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- COMMAND", help="the command and its arguments")
    hold.set_defaults(func=_hold)


def _hold(args) -> int:
    import subprocess

    from helpers import files

    command = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not command:
        raise ValueError("hold needs a command after --")
    with files.folder_lock(args.folder, args.what):
        return subprocess.call(command)


def _add_release(commands):
    release = commands.add_parser(
        "release",
        help="gather the profile's trained model files, their model cards and SHA256SUMS into release/<profile>/",
    )
    _profile_option(release)
    _overrides_option(release)
    release.add_argument("--results-dir", default=None, help=RESULTS_DIR_HELP)
    release.add_argument("--out", default=None, help="output folder (default: release/<profile>/)")
    release.set_defaults(func=_release)


def _release(args) -> int:
    from . import release

    for path in release.release(_profile(args), args.results_dir, args.out):
        print(path)
    return 0


def _add_cards(commands):
    cards = commands.add_parser("cards", help="write MODEL_CARD.md beside every finished run's results")
    cards.add_argument("--results-dir", default=None, help=RESULTS_DIR_HELP)
    cards.set_defaults(func=_cards)


def _cards(args) -> int:
    from . import release

    print(f"{len(release.write_cards(args.results_dir))} model cards written")
    return 0


def _add_land(commands):
    land = commands.add_parser("land", help="copy the finished runs' small result files from the queue's worktree")
    land.add_argument("worktree", help="the git worktree that make queue trains in, e.g. ../queue")
    land.add_argument("--results-dir", default=None, help=RESULTS_DIR_HELP)
    land.set_defaults(func=_land)


def _land(args) -> int:
    from . import landing

    written, other_runs = landing.land(args.worktree, args.results_dir)
    for path in written:
        print(f"copied {path}")
    for run in other_runs:
        print(f"left alone {run}: results/ here holds another run of it (its metrics.json differs)")
    print(f"{len(written)} files copied from {args.worktree}; no model, lock or checkpoint (git keeps none)")
    return 0


def _add_readme(commands):
    readme = commands.add_parser("readme", help="write the README's and docs' result blocks from results/")
    readme.add_argument("--check", action="store_true", help="write nothing; exit 1 if a block is not up to date")
    readme.set_defaults(func=_readme)


def _readme(args) -> int:
    from . import readme

    stale = readme.write(check=args.check)
    for block in stale:
        print(f"{block}: {'differs from results/' if args.check else 'rewritten'}")
    return 1 if args.check and stale else 0


def _add_report(commands):
    report = commands.add_parser("report", help="build report/build/<profile>/report.html and report.pdf")
    _profile_option(report)
    _overrides_option(report, "the overrides the runs were made with")
    report.add_argument("--results-dir", default=None, help=RESULTS_DIR_HELP)
    report.add_argument("--figures-dir", default=None, help="figures root (default: figures/)")
    report.add_argument("--sweep-dir", default=None, help="root of the seed sweep runs (default: results/sweeps/)")
    report.add_argument("--out", default=None, help="output folder (default: report/build/<profile>/)")
    report.add_argument("--no-pdf", action="store_true", help="write the HTML only")
    report.set_defaults(func=_report)


def _report(args) -> int:
    from . import report

    written = report.build(
        _profile(args), args.results_dir, args.figures_dir, args.out, pdf=not args.no_pdf, sweep_dir=args.sweep_dir
    )
    print("report written: " + ", ".join(str(p) for p in written.values()))
    return 0


SUB_COMMANDS = (  # in the order --help lists them
    _add_train,
    _add_evaluate,
    _add_describe,
    _add_predict,
    _add_experiment,
    _add_sweep,
    _add_plan,
    _add_report,
    _add_data,
    _add_bench,
    _add_land,
    _add_readme,
    _add_release,
    _add_cards,
    _add_hold,
)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m tools", description=__doc__)
    parser.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for add in SUB_COMMANDS:
        add(commands)
    return parser


def main(argv=None) -> int:
    """Run the command ``argv`` names; a bad input's error is one line on stderr and exit code 2."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, OSError, RuntimeError) as err:
        if args.debug:
            raise
        print(f"error: {err}", file=sys.stderr)
        return 2
