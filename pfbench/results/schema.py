"""The tidy result schema: one row per measured number, with the context it was measured in (:data:`COLUMNS`)."""
from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd

# What was measured (written by suites or derived from pytest-benchmark JSON). ``bound``: "" when ``value`` is the
# measurement itself, "lower" when the true value is at least ``value`` (e.g. a frontier search stopped by its time
# cap), "upper" when it is at most ``value``; runs written before the column existed read as "". ``rounds``: how many
# independent measurements ``value`` and ``spread`` summarise (NaN when not recorded).
MEASURE_COLUMNS = [
    "suite", "case", "variant", "metric", "value", "unit", "spread", "spread_kind", "rounds", "bound", "backend",
    "x_name", "x_value", "status", "note",
]
# Where and when it was measured (added by the collector from config.json / env.json).
CONTEXT_COLUMNS = ["run_id", "preset", "device", "dtype", "seed", "commit", "time", "source"]
COLUMNS = ["run_id"] + MEASURE_COLUMNS + [c for c in CONTEXT_COLUMNS if c != "run_id"]

FLOAT_COLUMNS = ["value", "spread", "rounds", "x_value"]
STRING_COLUMNS = [c for c in COLUMNS if c not in FLOAT_COLUMNS + ["seed"]]
BOUNDS = ("", "lower", "upper")

RESULTS_PARQUET = "results.parquet"
RESULTS_CSV = "results.csv"


def utc_now_iso() -> str:
    """The current UTC time, ISO 8601 with seconds."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# ---------------------------------------------------------------------------------------------
# pytest-benchmark JSON -> rows
# ---------------------------------------------------------------------------------------------

def declared_unit(suite: str, metric: str) -> str:
    """The unit the suite's benchmark declares for ``metric`` (pfbench.benchmarks); "" when undeclared."""
    from pfbench.benchmarks import metric_spec

    spec = metric_spec(suite, metric)
    return spec.unit if spec else ""


def tidy_frame(rows: list[dict], context: dict | None = None) -> pd.DataFrame:
    """Rows (dicts) -> a DataFrame with exactly :data:`COLUMNS`, context filled where a row lacks it."""
    context = context or {}
    records = []
    for row in rows:
        rec = {col: row.get(col) for col in COLUMNS}
        for col, val in context.items():
            if rec.get(col) in (None, ""):
                rec[col] = val
        if rec.get("unit") in (None, "") and rec.get("suite") and rec.get("metric"):
            rec["unit"] = declared_unit(str(rec["suite"]), str(rec["metric"]))
        records.append(rec)
    df = pd.DataFrame.from_records(records, columns=COLUMNS)
    for col in FLOAT_COLUMNS:
        df[col] = pd.to_numeric(df[col], errors="coerce").astype("float64")
    df["seed"] = pd.to_numeric(df["seed"], errors="coerce").astype("Int64")
    for col in STRING_COLUMNS:
        df[col] = df[col].fillna("").astype(str)
    df.loc[df["status"] == "", "status"] = "ok"
    return df
