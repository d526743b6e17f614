"""`pfbench report RUN_DIR [--compare OTHER_RUN]`: (re)build results and report.md / report.html of a run."""
from __future__ import annotations

import argparse
import sys

from pfbench.cli_args import add_force, existing_dir
from pfbench.results import (ShrinkingResultsError, check_not_shrinking, has_raw_results, load_results,
                             parse_threshold, write_results)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "report", help="write report.md and report.html for a run folder",
        description="Collect a run folder's raw results (rows/*.jsonl, benchmarks/*.json) into results.parquet/csv "
                    "and write report.md plus a self-contained report.html with plots.",
    )
    p.add_argument("run_dir", type=existing_dir, metavar="RUN_DIR", help="a folder written by `pfbench run`")
    p.add_argument("--compare", type=existing_dir, default=None, metavar="OTHER_RUN",
                   help="add a comparison section against this baseline run folder")
    p.add_argument("--fail-above", default="5%", help="regression threshold for the comparison: 5%% or 0.05")
    add_force(p, "results tables with a smaller one (rows/ or benchmarks/ lost files)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pfbench.report import write_report

    threshold = parse_threshold(args.fail_above)
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
