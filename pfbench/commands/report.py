"""`pfbench report RUN_DIR [--compare OTHER_RUN]`: (re)build results and report.md / report.html of a run."""
from __future__ import annotations

import argparse
from pathlib import Path

from pfbench.results import has_raw_results, load_results, parse_threshold, write_results


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "report", help="write report.md and report.html for a run folder",
        description="Collect a run folder's raw results (rows/*.jsonl, benchmarks/*.json) into results.parquet/csv "
                    "and write report.md plus a self-contained report.html with plots.",
    )
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a folder written by `pfbench run`")
    p.add_argument("--compare", type=Path, default=None, metavar="OTHER_RUN",
                   help="add a comparison section against this baseline run folder")
    p.add_argument("--fail-above", default="5%", help="regression threshold for the comparison: 5%% or 0.05")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pfbench.report import write_report

    threshold = parse_threshold(args.fail_above)
    df = load_results(args.run_dir)
    if has_raw_results(args.run_dir):
        write_results(df, args.run_dir)
    md, html = write_report(args.run_dir, df, compare_with=args.compare, threshold=threshold)
    print(f"{len(df)} result rows; wrote {md} and {html}")
    return 0
