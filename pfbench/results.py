"""The tidy result schema: one row per measured number, with the context it was measured in.

A run folder (see ``pfbench.runner``) holds two kinds of raw results:

- ``rows/<suite>.jsonl``: tidy rows written by the suites through :func:`append_rows`;
- ``benchmarks/<suite>.json``: pytest-benchmark ``--benchmark-json`` output, turned into rows by
  :func:`benchmark_rows` (median time with its IQR, mean, min, rounds, and every numeric ``extra_info``).

:func:`collect_run` reads both into one DataFrame with the columns in :data:`COLUMNS`;
:func:`write_results` stores it as ``results.parquet`` and ``results.csv``.
"""
from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

# What was measured (written by suites or derived from pytest-benchmark JSON). ``bound``: "" when ``value`` is the
# measurement itself, "lower" when the true value is at least ``value`` (e.g. a frontier search stopped by its time
# cap), "upper" when it is at most ``value``; runs written before the column existed read as "".
MEASURE_COLUMNS = [
    "suite", "case", "variant", "metric", "value", "unit", "spread", "spread_kind", "bound", "backend",
    "x_name", "x_value", "status", "note",
]
# Where and when it was measured (added by the collector from config.json / env.json).
CONTEXT_COLUMNS = ["run_id", "preset", "device", "dtype", "seed", "commit", "time", "source"]
COLUMNS = ["run_id"] + MEASURE_COLUMNS + [c for c in CONTEXT_COLUMNS if c != "run_id"]

FLOAT_COLUMNS = ["value", "spread", "x_value"]
STRING_COLUMNS = [c for c in COLUMNS if c not in FLOAT_COLUMNS + ["seed"]]
ROW_STATUSES = ("ok", "skipped", "error", "oom")
BOUNDS = ("", "lower", "upper")

RESULTS_PARQUET = "results.parquet"
RESULTS_CSV = "results.csv"


def utc_now_iso() -> str:
    """The current UTC time, ISO 8601 with seconds."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# ---------------------------------------------------------------------------------------------
# Writing rows (suites call this through a fixture)
# ---------------------------------------------------------------------------------------------

def append_rows(run_dir: str | Path, suite: str, rows: Iterable[dict]) -> Path:
    """Append tidy rows (dicts with case, variant, metric, value, unit, ...) to rows/<suite>.jsonl.

    Each row is checked for the required keys and stamped with the current UTC ``time`` unless it
    carries one. Returns the path written.
    """
    path = Path(run_dir) / "rows" / f"{suite}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for row in rows:
        missing = [k for k in ("case", "metric", "value") if k not in row]
        if missing:
            raise ValueError(f"row for suite {suite!r} lacks {missing}: every row needs case, metric and value "
                             f"(value may be None with status 'skipped' and a note); got {row!r}")
        if row.get("bound") not in (None, *BOUNDS):
            raise ValueError(f"row for suite {suite!r} has bound {row['bound']!r}: use one of {BOUNDS} "
                             f"('' = exact, 'lower' = the true value is at least value); got {row!r}")
        row = {"time": utc_now_iso(), **row}
        lines.append(json.dumps(row, default=_json_default, allow_nan=True))
    with path.open("a", encoding="utf-8") as handle:
        for line in lines:
            handle.write(line + "\n")
    return path


def _json_default(obj: Any) -> Any:
    """Serialise numpy / torch scalars as Python numbers."""
    if hasattr(obj, "item"):
        return obj.item()
    return str(obj)


def read_rows_jsonl(path: str | Path, suite: str | None = None) -> list[dict]:
    """Read one rows/<suite>.jsonl file; a malformed line raises a ValueError naming file and line."""
    path = Path(path)
    suite = suite or path.stem
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}:{number}: not a JSON line ({err.msg}); fix or delete that line") from None
        rows.append({"suite": suite, "source": "rows", **row})
    return rows


# ---------------------------------------------------------------------------------------------
# pytest-benchmark JSON -> rows
# ---------------------------------------------------------------------------------------------

def declared_unit(suite: str, metric: str) -> str:
    """The unit the suite's benchmark declares for ``metric`` (pfbench.benchmarks); "" when undeclared."""
    from pfbench.benchmarks import metric_spec

    spec = metric_spec(suite, metric)
    return spec.unit if spec else ""


# extra_info string keys that fill row columns (device/dtype override the run's context).
_EXTRA_STRING_COLUMNS = ("case", "variant", "backend", "device", "dtype", "x_name", "status", "note", "unit",
                         "bound")


def benchmark_rows(data: dict, suite: str) -> list[dict]:
    """Rows from one pytest-benchmark JSON document (already parsed).

    Per benchmark: ``time_s`` (median, spread = IQR), ``time_mean_s`` (spread = stddev), ``time_min_s``,
    ``rounds``; then one row per numeric ``extra_info`` key (None -> a skipped row).
    """
    when = data.get("datetime")
    rows: list[dict] = []
    for bench in data.get("benchmarks", []):
        extra = dict(bench.get("extra_info") or {})
        stats = bench.get("stats") or {}
        base = {"suite": suite, "source": "benchmark", "case": bench.get("name", ""), "variant": "", "backend": ""}
        if when:
            base["time"] = when
        for key in _EXTRA_STRING_COLUMNS:
            if isinstance(extra.get(key), str):
                base[key] = extra.pop(key)
        if isinstance(extra.get("x_value"), (int, float)) and not isinstance(extra["x_value"], bool):
            base["x_value"] = float(extra.pop("x_value"))
        base.setdefault("status", "ok")
        group = bench.get("group")
        base["note"] = base.get("note") or (f"group {group}" if group else "")
        if "median" in stats:
            rows.append({**base, "metric": "time_s", "value": stats["median"], "unit": "s",
                         "spread": stats.get("iqr"), "spread_kind": "iqr"})
        if "mean" in stats:
            rows.append({**base, "metric": "time_mean_s", "value": stats["mean"], "unit": "s",
                         "spread": stats.get("stddev"), "spread_kind": "std"})
        if "min" in stats:
            rows.append({**base, "metric": "time_min_s", "value": stats["min"], "unit": "s"})
        if "rounds" in stats:
            rows.append({**base, "metric": "rounds", "value": stats["rounds"], "unit": "count"})
        for key, value in extra.items():
            if value is None:
                rows.append({**base, "metric": key, "value": None, "unit": declared_unit(suite, key), "status": "skipped",
                             "note": f"{key} not available in this run (benchmark extra_info was None)"})
            elif isinstance(value, (int, float)):
                rows.append({**base, "metric": key, "value": float(value), "unit": declared_unit(suite, key)})
            # strings that are not columns, lists and dicts are context, not measurements: ignored
    return rows


def read_benchmark_json(path: str | Path, suite: str | None = None) -> list[dict]:
    """Read one pytest-benchmark JSON file into rows; a broken file raises a ValueError naming it."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid pytest-benchmark JSON ({err.msg}); rerun that suite "
                         f"(`pfbench run --resume RUN_DIR`) or delete the file") from None
    return benchmark_rows(data, suite or path.stem)


# ---------------------------------------------------------------------------------------------
# Collecting a run folder into one table
# ---------------------------------------------------------------------------------------------

def read_json(path: Path) -> dict:
    """Read a JSON object, {} when the file is absent."""
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def run_context(run_dir: str | Path) -> dict:
    """Context columns for a run from its config.json and env.json."""
    run_dir = Path(run_dir)
    config = read_json(run_dir / "config.json")
    preset = config.get("preset") or {}
    return {
        "run_id": config.get("run_id") or run_dir.name,
        "preset": preset.get("name", "") if isinstance(preset, dict) else str(preset),
        "device": config.get("device") or (preset.get("device", "") if isinstance(preset, dict) else ""),
        "dtype": config.get("dtype") or (preset.get("dtype", "") if isinstance(preset, dict) else ""),
        "seed": config.get("seed"),
        "commit": config.get("commit", ""),
        "time": config.get("started", ""),
    }


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


def collect_run(run_dir: str | Path) -> pd.DataFrame:
    """Read every rows/*.jsonl and benchmarks/*.json of a run folder into one tidy DataFrame."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run folder {run_dir} does not exist: run `pfbench run` first or check the path")
    rows: list[dict] = []
    for path in sorted((run_dir / "benchmarks").glob("*.json")):
        rows += read_benchmark_json(path)
    for path in sorted((run_dir / "rows").glob("*.jsonl")):
        rows += read_rows_jsonl(path)
    return tidy_frame(rows, run_context(run_dir))


def has_raw_results(run_dir: str | Path) -> bool:
    """True when the folder holds rows/*.jsonl or benchmarks/*.json to collect."""
    run_dir = Path(run_dir)
    return any((run_dir / "rows").glob("*.jsonl")) or any((run_dir / "benchmarks").glob("*.json"))


def write_results(df: pd.DataFrame, run_dir: str | Path) -> tuple[Path, Path]:
    """Write the table as results.parquet and results.csv in the run folder (each through a temporary file)."""
    from pfbench.cli_args import atomic_path

    run_dir = Path(run_dir)
    parquet, csv = run_dir / RESULTS_PARQUET, run_dir / RESULTS_CSV
    with atomic_path(parquet) as tmp:
        df.to_parquet(tmp, index=False)
    with atomic_path(csv) as tmp:
        df.to_csv(tmp, index=False)
    return parquet, csv


class ShrinkingResultsError(ValueError):
    """Refused: the re-collected table has fewer rows than the results table it would replace."""


def stored_row_count(run_dir: str | Path) -> int | None:
    """Rows in the run's existing results.parquet (else results.csv); None when neither exists."""
    run_dir = Path(run_dir)
    if (run_dir / RESULTS_PARQUET).exists():
        import pyarrow.parquet as pq
        return pq.ParquetFile(run_dir / RESULTS_PARQUET).metadata.num_rows
    if (run_dir / RESULTS_CSV).exists():
        return len(pd.read_csv(run_dir / RESULTS_CSV))
    return None


def check_not_shrinking(df: pd.DataFrame, run_dir: str | Path) -> None:
    """Raise ShrinkingResultsError when ``df`` is smaller than the results table already in ``run_dir``."""
    before = stored_row_count(run_dir)
    if before is not None and len(df) < before:
        raise ShrinkingResultsError(
            f"{Path(run_dir)}: the raw files (rows/, benchmarks/) hold {len(df)} rows but {RESULTS_PARQUET} has "
            f"{before}: raw results were deleted or emptied, so the table was NOT rewritten; restore them, or pass "
            f"--force to `pfbench report` to shrink the table to {len(df)} rows")


def load_results(run_dir: str | Path, *, refresh: bool = True) -> pd.DataFrame:
    """The run's table: re-collected from raw files when present (``refresh``), else results.parquet/csv."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir} is not a folder: point at a run folder such as reports/<run-id>")
    if refresh and has_raw_results(run_dir):
        return collect_run(run_dir)
    if (run_dir / RESULTS_PARQUET).exists():
        return tidy_frame(pd.read_parquet(run_dir / RESULTS_PARQUET).to_dict("records"))
    if (run_dir / RESULTS_CSV).exists():
        return tidy_frame(pd.read_csv(run_dir / RESULTS_CSV).to_dict("records"))
    raise FileNotFoundError(f"{run_dir} has no results: run `pfbench run` first or point at a folder containing "
                            f"{RESULTS_PARQUET} (or rows/*.jsonl, benchmarks/*.json)")


def read_statuses(run_dir: str | Path) -> pd.DataFrame:
    """status/<suite>.json files as a table (suite, status, exit_code, duration_s, note, log, ...)."""
    cols = ["suite", "status", "exit_code", "duration_s", "started", "finished", "log", "note"]
    records = [read_json(p) for p in sorted((Path(run_dir) / "status").glob("*.json"))]
    return pd.DataFrame.from_records(records, columns=cols) if records else pd.DataFrame(columns=cols)


# ---------------------------------------------------------------------------------------------
# Comparing two runs
# ---------------------------------------------------------------------------------------------

KEY_COLUMNS = ["suite", "case", "variant", "metric", "backend", "x_value"]
DETERMINISTIC_BACKENDS = {"analytic", "counted", "paper"}


def is_deterministic(suite: str, metric: str, backend: str) -> bool:
    """An analytic/counted/paper row, or a metric its benchmark declares deterministic: any change is a failure."""
    from pfbench.benchmarks import metric_spec

    spec = metric_spec(suite, metric)
    return backend in DETERMINISTIC_BACKENDS or bool(spec and spec.deterministic)


def parse_threshold(text: str | float) -> float:
    """'5%' or '0.05' -> 0.05."""
    raw = str(text).strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise ValueError(f"threshold {text!r} is not a number: write it as 5% or 0.05") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"threshold {text!r} is {'negative' if value < 0 else 'not finite'}: write it as 5% or 0.05")
    return value


def _keyed(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    out["x_key"] = out["x_value"].map(lambda v: "" if pd.isna(v) else f"{v:.12g}")
    keys = [c if c != "x_value" else "x_key" for c in KEY_COLUMNS]
    return out.drop_duplicates(subset=keys, keep="last").set_index(keys)


def compare_results(a: pd.DataFrame, b: pd.DataFrame, threshold: float = 0.05) -> pd.DataFrame:
    """Match rows of two runs (A = baseline, B = new) and classify each change.

    Columns: the key, unit, value_a, value_b, change (B - A), change_rel, spread (combined), beyond_spread,
    direction, verdict. Verdicts: same, better, worse, regression (worse, beyond spread and beyond the
    threshold), changed (a deterministic analytic/counted/paper number moved at all: a failure), differs
    (moved, no better side), within-noise, missing (only in A), new (only in B), n/a (no value on a side;
    a value in A that became oom/error in B is a regression).
    """
    ka, kb = _keyed(a), _keyed(b)
    cols = ["unit", "value", "spread", "status"]
    joined = ka[cols].add_suffix("_a").join(kb[cols].add_suffix("_b"), how="outer")
    in_a, in_b = joined.index.isin(ka.index), joined.index.isin(kb.index)
    out = joined.reset_index()
    out["x_value"] = pd.to_numeric(out.pop("x_key").replace("", None), errors="coerce")
    out["unit"] = out["unit_b"].fillna(out["unit_a"]).fillna("")
    out["change"] = out["value_b"] - out["value_a"]
    out["change_rel"] = out["change"] / out["value_a"].abs().where(out["value_a"] != 0)
    sa, sb = out["spread_a"], out["spread_b"]
    out["spread"] = sa.fillna(0) + sb.fillna(0)
    out.loc[sa.isna() & sb.isna(), "spread"] = float("nan")
    out["beyond_spread"] = out["spread"].isna() | (out["change"].abs() > out["spread"])
    from pfbench.benchmarks import direction

    # the better side and determinism come from each benchmark's declarations (pfbench.benchmarks), never names
    out["direction"] = [direction(su, m) for su, m in zip(out["suite"], out["metric"])]
    out["deterministic"] = [is_deterministic(su, m, be) for su, m, be in zip(out["suite"], out["metric"],
                                                                              out["backend"])]
    verdicts = []
    for row, has_a, has_b in zip(out.itertuples(index=False), in_a, in_b):
        verdicts.append(_verdict(row, has_a, has_b, threshold))
    out["verdict"] = verdicts
    cols = KEY_COLUMNS + ["unit", "value_a", "value_b", "status_a", "status_b", "change", "change_rel", "spread",
                          "beyond_spread", "direction", "verdict"]
    return out[cols].sort_values(KEY_COLUMNS[:4], kind="stable").reset_index(drop=True)


def _verdict(row, has_a: bool, has_b: bool, threshold: float) -> str:
    if not has_a:
        return "new"
    if not has_b:
        return "missing"
    va, vb = row.value_a, row.value_b
    if pd.isna(va) and pd.isna(vb):
        return "same" if row.status_a == row.status_b else "n/a"
    if pd.isna(vb) and row.status_b in ("oom", "error"):
        return "regression"  # measured before, fails (out of memory / error) now
    if pd.isna(va) or pd.isna(vb):
        return "n/a"
    if math.isclose(va, vb, rel_tol=1e-9, abs_tol=0.0):
        return "same"
    if row.deterministic:
        return "changed"
    if row.direction == 0:
        return "differs"
    if not row.beyond_spread:
        return "within-noise"
    worse = (vb - va) * row.direction < 0
    if not worse:
        return "better"
    rel = abs(vb - va) / abs(va) if va != 0 else math.inf
    return "regression" if rel > threshold else "worse"


FAILING_VERDICTS = ("regression", "changed", "missing")


def comparison_failed(table: pd.DataFrame) -> bool:
    """True when a comparison holds a regression beyond the threshold, a changed deterministic count, or a
    baseline row that the new run lacks (lost results must not pass)."""
    return bool(table["verdict"].isin(FAILING_VERDICTS).any())


CONTEXT_CHECKED = ("preset", "device", "dtype")


def context_differences(a: pd.DataFrame, b: pd.DataFrame) -> list[str]:
    """One line per context column (preset, device, dtype) whose values differ between two runs."""
    lines = []
    for col in CONTEXT_CHECKED:
        va = sorted(set(a[col].dropna().astype(str)) - {""}) if col in a else []
        vb = sorted(set(b[col].dropna().astype(str)) - {""}) if col in b else []
        if va != vb:
            lines.append(f"{col}s differ (A: {', '.join(va) or '-'}; B: {', '.join(vb) or '-'}): changes may come "
                         f"from the {col}, not the code")
    return lines
