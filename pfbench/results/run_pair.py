"""Two run folders compared: the one code path behind `pfbench compare A B`, `pfbench report A B` and a report's
``--compare`` section, so they agree on what differs. Besides the tables it reads each run's timed rounds and B's
suite statuses, so a missing row says why (B skipped its suite, the suite failed, or it did not emit the row)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pfbench.core.files import read_json
from pfbench.measure.machine_load import BUSY_RULE
from pfbench.results.compare import (FAILING_VERDICTS, compare_results, comparison_failed, context_differences,
                                     verdict_counts)
from pfbench.results.store import load_results, load_rounds, read_statuses


@dataclass(frozen=True)
class Comparison:
    """A comparison of run B against baseline A, with what it was judged on."""
    table: pd.DataFrame
    a: pd.DataFrame
    b: pd.DataFrame
    threshold: float | None  # None: each metric's declared threshold
    name_a: str
    name_b: str

    @property
    def failed(self) -> bool:
        return comparison_failed(self.table)

    @property
    def counts(self) -> dict[str, int]:
        return {str(k): int(v) for k, v in self.table["verdict"].value_counts().items()}

    def summary(self) -> str:
        """The one summary line: rows compared, the verdict counts, pass or FAIL."""
        limit = "each metric's declared threshold" if self.threshold is None else f"threshold {self.threshold:.1%}"
        return (f"{len(self.table)} rows compared (A = {self.name_a}, B = {self.name_b}, {limit}): "
                f"{verdict_counts(self.table)}: {'FAIL' if self.failed else 'pass'}")

    def failures(self) -> pd.DataFrame:
        return self.table[self.table["verdict"].isin(FAILING_VERDICTS)]

    def warnings(self) -> list[str]:
        return context_differences(self.a, self.b)

    def missing_advice(self) -> list[str]:
        """One line per suite whose rows of A are missing from B, saying why."""
        missing = self.table[self.table["verdict"] == "missing"]
        return [f"{n} row(s) of suite {suite} missing from B: {why}"
                for (suite, why), n in missing.groupby(["suite", "why"]).size().items()]


def suite_outcomes(run_dir: str | Path) -> dict[str, str]:
    """suite -> why a row of that suite can be absent from this run: not asked, not passed, or passed without it."""
    run_dir = Path(run_dir)
    from pfbench.benchmarks import all_benchmarks

    config = read_json(run_dir / "config.json") if (run_dir / "config.json").exists() else {}
    asked = set(config.get("suites") or [])
    statuses = read_statuses(run_dir).set_index("suite") if (run_dir / "status").is_dir() else pd.DataFrame()
    out = {}
    for bench in all_benchmarks():
        name = bench.name
        if name in statuses.index:
            status = str(statuses.loc[name, "status"])
            log = statuses.loc[name, "log"] or f"logs/{name}.log"
            out[name] = (f"suite {name} passed in B but did not emit the row" if status == "passed" else
                         f"suite {name} {status} in B (see {run_dir / str(log)}); rerun it with "
                         f"`pfbench run --resume {run_dir}`")
        elif asked and name not in asked:
            out[name] = f"suite {name} was not asked for in B (--suites {','.join(sorted(asked))})"
        else:
            out[name] = f"suite {name} did not run in B (no status/{name}.json)"
    return out


def busy_suites(run_dir: str | Path, side: str) -> dict[str, str]:
    """suite -> why its timings are inconclusive: while it ran, other processes took more of the machine's CPU (or
    the hypervisor stole more) than :data:`pfbench.measure.machine_load.BUSY_RULE` allows."""
    statuses = read_statuses(run_dir) if (Path(run_dir) / "status").is_dir() else pd.DataFrame()
    out = {}
    for rec in statuses.to_dict("records"):  # read_statuses gives NaN where a status file lacks a share
        others, steal, load, cores = (rec.get(k) for k in ("others_cpu_share", "steal_share", "load_average", "cores"))
        known = [not pd.isna(v) for v in (others, steal, load, cores)]
        if not BUSY_RULE.busy(others if known[0] else None, steal if known[1] else None):
            continue
        out[rec["suite"]] = (f"run {side}: other processes took {others if known[0] else 0.0:.0%} of the CPU"
                             + (f", steal {steal:.0%}" if known[1] and steal else "")
                             + (f", load average {load:.2f} on {int(cores)} cores" if known[2] and known[3] else "")
                             + f" while suite {rec['suite']} ran")
    return out


def compare_runs(run_a: str | Path, run_b: str | Path, threshold: float | None = None, *,
                 name_a: str | None = None, name_b: str | None = None, ignore_load: bool = False) -> Comparison:
    """Compare run folder B against baseline A (:func:`pfbench.results.compare.compare_results`); with
    ``ignore_load`` timings are tested even where a run's suite ran on a busy machine (:func:`busy_suites`)."""
    a, b = load_results(run_a), load_results(run_b)
    busy = {} if ignore_load else busy_suites(run_a, "A")
    for suite, why in ({} if ignore_load else busy_suites(run_b, "B")).items():
        busy[suite] = f"{busy[suite]}; {why}" if suite in busy else why
    table = compare_results(a, b, threshold, rounds_a=load_rounds(run_a), rounds_b=load_rounds(run_b),
                            missing_why=suite_outcomes(run_b), busy=busy)
    return Comparison(table, a, b, threshold, name_a or str(run_a), name_b or str(run_b))
