"""`pfbench compare RUN_A RUN_B [--fail-above 5%]`: per metric both values, the change, and a CI exit status."""
from __future__ import annotations

import argparse
from pathlib import Path

from pfbench.results import compare_results, comparison_failed, load_results, parse_threshold


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "compare", help="compare two runs; exit 1 on a regression",
        description="Match the rows of two runs on (suite, case, variant, metric, backend, x_value) and show both "
                    "values, the change and whether it is beyond the measured spread. Exit status 1 when a metric "
                    "got worse beyond the spread and the threshold, or an analytic/counted/paper number changed.",
    )
    p.add_argument("run_a", type=Path, metavar="RUN_A", help="baseline run folder")
    p.add_argument("run_b", type=Path, metavar="RUN_B", help="new run folder")
    p.add_argument("--fail-above", default="5%", help="relative change that fails: 5%% or 0.05 (default 5%%)")
    p.add_argument("--all", action="store_true", help="list identical rows too")
    p.add_argument("--csv", type=Path, default=None, help="also write the full comparison table to this CSV")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pfbench.report import format_comparison

    threshold = parse_threshold(args.fail_above)
    table = compare_results(load_results(args.run_a), load_results(args.run_b), threshold)
    if args.csv:
        table.to_csv(args.csv, index=False)
    shown = table if args.all else table[table["verdict"] != "same"]
    if shown.empty:
        print("no differences")
    else:
        print(format_comparison(shown).to_string(index=False))
    counts = ", ".join(f"{k} {v}" for k, v in table["verdict"].value_counts().items())
    failed = comparison_failed(table)
    print(f"\n{len(table)} rows compared (A = {args.run_a}, B = {args.run_b}, threshold {threshold:.1%}): {counts}")
    print("FAIL: regression beyond the threshold and the spread, or a deterministic count changed" if failed
          else "pass: no regression beyond the threshold")
    return 1 if failed else 0
