"""`pfbench compare RUN_A RUN_B [--fail-above 5%]`: per metric both values, the change, and a CI exit status."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pfbench.cli.args import add_force, check_new_file, existing_dir
from pfbench.core.files import atomic_path
from pfbench.results.compare import compare_results, comparison_failed, context_differences, parse_threshold
from pfbench.results.store import load_results


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "compare", help="compare two runs; exit 1 on a regression",
        description="Match the rows of two runs on (suite, case, variant, metric, backend, x_value) and show both "
                    "values, the change and whether it is beyond the measured spread. Exit status 1 when a metric "
                    "got worse beyond the spread and the threshold, an analytic/counted/paper number changed, or "
                    "rows of RUN_A are missing from RUN_B. Differing presets, devices or dtypes are warned about.",
    )
    p.add_argument("run_a", type=existing_dir, metavar="RUN_A", help="baseline run folder")
    p.add_argument("run_b", type=existing_dir, metavar="RUN_B", help="new run folder")
    p.add_argument("--fail-above", default="5%", help="relative change that fails: 5%% or 0.05 (default 5%%)")
    p.add_argument("--all", action="store_true", help="list identical rows too")
    p.add_argument("--csv", type=Path, default=None, help="also write the full comparison table to this CSV")
    p.add_argument("--html", type=Path, default=None, help="also write an HTML page of the comparison, regressions "
                                                           "highlighted")
    add_force(p, "--csv / --html file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pfbench.report.compare import format_comparison

    threshold = parse_threshold(args.fail_above)
    if args.csv:
        check_new_file(args.csv, "--csv", args.force)
    if args.html:
        check_new_file(args.html, "--html", args.force)
    a, b = load_results(args.run_a), load_results(args.run_b)
    table = compare_results(a, b, threshold)
    if args.csv:
        with atomic_path(args.csv) as tmp:
            table.to_csv(tmp, index=False)
    if args.html:
        from pfbench.report.compare import comparison_html
        with atomic_path(args.html) as tmp:
            Path(tmp).write_text(comparison_html(table, a, b, threshold, str(args.run_a), str(args.run_b)),
                                 encoding="utf-8")
    shown = table if args.all else table[table["verdict"] != "same"]
    if shown.empty:
        print("no differences")
    else:
        print(format_comparison(shown).to_string(index=False))
    counts = ", ".join(f"{k} {v}" for k, v in table["verdict"].value_counts().items())
    failed = comparison_failed(table)
    warnings = context_differences(a, b)
    print(f"\n{len(table)} rows compared (A = {args.run_a}, B = {args.run_b}, threshold {threshold:.1%}): {counts}")
    for line in warnings:
        print(f"pfbench compare: warning: {line}", file=sys.stderr)
    missing = int((table["verdict"] == "missing").sum())
    print("FAIL: regression beyond the threshold and the spread, a deterministic count changed, or baseline rows "
          "are missing" if failed else "pass: no regression beyond the threshold")
    if failed:
        reasons = [f"{n} {v}" for v, n in table["verdict"].value_counts().items()
                   if v in ("regression", "changed", "missing")]
        hint = f"; {missing} row(s) of A are missing from B: rerun those suites in B" if missing else ""
        print(f"pfbench compare: error: {', '.join(reasons)}{hint}", file=sys.stderr)
    return 1 if failed else 0
