"""`pfbench report RUN_DIR [--compare OTHER_RUN]`: (re)build results and report.md / report.html of a run;
`pfbench report RUN_A RUN_B ... [--out DIR]`: one table per measure across the runs, with ratios."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pfbench.cli.args import add_force, existing_dir
from pfbench.core.errors import UsageError
from pfbench.results.compare import parse_threshold
from pfbench.results.store import (
    ShrinkingResultsError,
    check_not_shrinking,
    has_raw_results,
    load_results,
    write_results,
)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "report", help="write report.md and report.html for a run folder",
        description="Collect a run folder's raw results (rows/*.jsonl, benchmarks/*.json) into results.parquet/csv "
                    "and write report.md plus a self-contained report.html with plots.",
    )
    p.add_argument("run_dirs", type=existing_dir, nargs="+", metavar="RUN_DIR",
                   help="a folder written by `pfbench run`; several: a report comparing them (first = reference)")
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="with several runs: the new folder for report.md/report.html (default: "
                        "multi-<run ids> beside the first run)")
    p.add_argument("--compare", type=existing_dir, default=None, metavar="OTHER_RUN",
                   help="add a comparison section against this baseline run folder")
    p.add_argument("--fail-above", default=None, metavar="FRACTION",
                   help="regression threshold of the comparison (--compare, or several runs), for every row: 5%% or "
                        "0.05 (default: each metric's declared threshold, as `pfbench compare`)")
    add_force(p, "results tables with a smaller one (rows/ or benchmarks/ lost files)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if len(args.run_dirs) > 1:
        return run_multi(args)
    args.run_dir = args.run_dirs[0]
    from pfbench.report.build import write_report

    threshold = None if args.fail_above is None else parse_threshold(args.fail_above)
    df = load_results(args.run_dir)
    shrunk = None
    if has_raw_results(args.run_dir):
        try:
            check_not_shrinking(df, args.run_dir)
        except ShrinkingResultsError as err:
            if not args.force:
                raise
            shrunk = err
        write_results(df, args.run_dir)
    md, html = write_report(args.run_dir, df, compare_with=args.compare, threshold=threshold)
    print(f"{len(df)} result rows; wrote {md} and {html}")
    if shrunk is not None:
        print(f"pfbench report: warning: --force: results table shrunk as asked ({shrunk})", file=sys.stderr)
    return 0


def run_multi(args: argparse.Namespace) -> int:
    from pfbench.report.multi import write_multi

    if args.compare is not None:
        raise UsageError("--compare takes one run: with several RUN_DIRs the report already compares them")
    out = args.out or args.run_dirs[0].parent / ("multi-" + "-vs-".join(p.resolve().name for p in args.run_dirs))
    if out.exists() and any(out.iterdir()) and not args.force:
        raise UsageError(f"--out {out} exists and is not empty: pfbench never overwrites a folder it did not create "
                         "in this call; choose another --out or pass --force")
    threshold = None if args.fail_above is None else parse_threshold(args.fail_above)
    md, html, comparisons = write_multi(list(args.run_dirs), out, threshold)
    for cmp in comparisons:  # the same line `pfbench compare` prints for each pair
        print(cmp.summary())
    print(f"{len(args.run_dirs)} runs; wrote {md} and {html}")
    return 0
