"""A run's table on disk: :func:`collect_run` reads every raw file into one DataFrame, :func:`write_results` stores
it as ``results.parquet`` and ``results.csv`` (never shrinking it silently), :func:`load_results` reads it back.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from pfbench.core.files import read_json
from pfbench.results.rows import read_benchmark_json, read_benchmark_rounds, read_rows_jsonl
from pfbench.results.schema import RESULTS_CSV, RESULTS_PARQUET, tidy_frame

# ---------------------------------------------------------------------------------------------
# Collecting a run folder into one table
# ---------------------------------------------------------------------------------------------


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
    from pfbench.core.files import atomic_path

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


def load_rounds(run_dir: str | Path) -> list[tuple[dict, list[float]]]:
    """Every pytest-benchmark entry's timed rounds in the run's benchmarks/*.json (empty when it has none)."""
    out = []
    for path in sorted((Path(run_dir) / "benchmarks").glob("*.json")):
        out += read_benchmark_rounds(path)
    return out


def read_statuses(run_dir: str | Path) -> pd.DataFrame:
    """status/<suite>.json files as a table (suite, status, exit_code, duration_s, note, log, ...)."""
    cols = ["suite", "status", "exit_code", "duration_s", "started", "finished", "log", "note", "load_average",
            "others_cpu_share", "steal_share", "cores"]
    records = [read_json(p) for p in sorted((Path(run_dir) / "status").glob("*.json"))]
    df = pd.DataFrame.from_records(records, columns=cols) if records else pd.DataFrame(columns=cols)
    for col in ("duration_s", "load_average", "others_cpu_share", "steal_share", "cores"):  # older files: NaN
        df[col] = pd.to_numeric(df[col], errors="coerce")
    return df
