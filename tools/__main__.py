"""Command line of the study's tooling: ``python -m tools report|readme|land …`` (``--help`` on each)."""

from __future__ import annotations

import sys

import helpers.__main__ as cli
from helpers import config

RESULTS_DIR_HELP = "results root (default: results/)"


def _profile(args) -> config.Profile:
    return config.get_profile(args.profile, config.parse_overrides(args.overrides))


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
    report.add_argument("--profile", default="seed", choices=list(config.PROFILES), help="named profile (seed)")
    report.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="the overrides the runs were made with",
    )
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


SUB_COMMANDS = (_add_report, _add_readme, _add_land)  # in the order --help lists them


def main(argv=None) -> int:
    return cli.main(argv, cli.build_parser("python -m tools", __doc__, SUB_COMMANDS))


if __name__ == "__main__":
    sys.exit(main())
