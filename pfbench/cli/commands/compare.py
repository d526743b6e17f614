"""`pfbench compare RUN_A RUN_B [--fail-above 5%] [--json]`: per metric both values, the change, the verdict and why,
and a CI exit status."""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from pfbench.cli.args import add_force, check_new_file, existing_dir
from pfbench.core.files import atomic_path
from pfbench.results.compare import MIN_ROUNDS, QUIET_VERDICTS, RANK_TEST_ALPHA, parse_threshold
from pfbench.results.run_pair import compare_runs


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "compare", help="compare two runs; exit 1 on a regression",
        description="Match the rows of two runs on (suite, case, variant, metric, backend, x) and show both values, "
                    "the change, the verdict and why. A metric its benchmark declares a deterministic count fails on "
                    "any change; a timing is tested on the rounds both runs recorded (two-sided rank test at "
                    f"{RANK_TEST_ALPHA:g}; fewer than {MIN_ROUNDS} rounds in either run: 'unknown: too few rounds', "
                    "never a failure); other measures are judged by their recorded spread. Exit status 1 on a "
                    "regression beyond the threshold, a changed count, or rows of RUN_A missing from RUN_B (the "
                    "advice says whether RUN_B skipped the suite, the suite failed or did not emit the row). "
                    "Differing presets, devices or dtypes are warned about.",
    )
    p.add_argument("run_a", type=existing_dir, metavar="RUN_A", help="baseline run folder")
    p.add_argument("run_b", type=existing_dir, metavar="RUN_B", help="new run folder")
    p.add_argument("--fail-above", default=None, metavar="FRACTION",
                   help="relative change in the worse direction that fails, for every row: 5%% or 0.05 (default: "
                        "each metric's declared threshold, 5%% where none is declared, 50%% for timings)")
    p.add_argument("--all", action="store_true",
                   help="list every row (by default the table and --json list only rows that moved beyond the noise "
                        "or are missing; the summary line counts all)")
    p.add_argument("--ignore-load", action="store_true",
                   help="test timings even where a run's suite ran on a busy machine (other processes took > 15%% of "
                        "the CPU, or steal > 5%%; by default those timings are 'unknown: machine busy')")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object (summary, passed, counts, rows, warnings) instead of the table")
    p.add_argument("--csv", type=Path, default=None, help="also write the full comparison table to this CSV")
    p.add_argument("--html", type=Path, default=None, help="also write an HTML page of the comparison, regressions "
                                                           "highlighted")
    add_force(p, "--csv / --html file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pfbench.report.compare import format_comparison

    threshold = None if args.fail_above is None else parse_threshold(args.fail_above)
    if args.csv:
        check_new_file(args.csv, "--csv", args.force)
    if args.html:
        check_new_file(args.html, "--html", args.force)
    cmp = compare_runs(args.run_a, args.run_b, threshold, ignore_load=args.ignore_load)
    table = cmp.table
    if args.csv:
        with atomic_path(args.csv) as tmp:
            table.to_csv(tmp, index=False)
    if args.html:
        from pfbench.report.compare import comparison_html
        with atomic_path(args.html) as tmp:
            Path(tmp).write_text(comparison_html(cmp), encoding="utf-8")
    shown = table if args.all else table[~table["verdict"].isin(QUIET_VERDICTS)]
    for line in cmp.warnings():
        print(f"pfbench compare: warning: {line}", file=sys.stderr)
    if args.json:
        print(json.dumps(_as_json(cmp, shown), indent=1, allow_nan=False))
    else:
        print("nothing moved beyond the noise" if shown.empty else format_comparison(shown).to_string(index=False))
        quiet = {v: n for v, n in cmp.counts.items() if v in QUIET_VERDICTS}
        if quiet and not args.all:
            print("\nnot listed: " + ", ".join(f"{v} {n}" for v, n in quiet.items()) + " (--all lists every row)")
        print(f"\n{cmp.summary()}")
    if cmp.failed:
        reasons = [f"{n} {v}" for v, n in cmp.counts.items() if v in ("regression", "changed", "missing")]
        worst = cmp.failures().head(3)
        named = "; ".join(f"{r.verdict}: {r.suite} {r.case} {r.variant} {r.metric}".replace("  ", " ")
                          for r in worst.itertuples())
        print(f"pfbench compare: error: {', '.join(reasons)} (e.g. {named})", file=sys.stderr)
        for line in cmp.missing_advice():
            print(f"pfbench compare: {line}", file=sys.stderr)
    return 1 if cmp.failed else 0


def _clean(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):
        return _clean(value.item())
    return value


def _as_json(cmp, shown) -> dict:
    rows = [{k: _clean(v) for k, v in rec.items()} for rec in shown.to_dict("records")]
    return {"summary": cmp.summary(), "passed": not cmp.failed, "counts": cmp.counts,
            "threshold": cmp.threshold, "run_a": cmp.name_a, "run_b": cmp.name_b, "rows": rows,
            "warnings": cmp.warnings(), "missing": cmp.missing_advice()}
