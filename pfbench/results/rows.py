"""Raw results of a run folder, turned into rows: ``rows/<suite>.jsonl`` (written by the suites through
:func:`append_rows`) and ``benchmarks/<suite>.json`` (pytest-benchmark's ``--benchmark-json``: median time with its
IQR, mean, min, rounds, and every numeric ``extra_info``).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

from pfbench.results.schema import BOUNDS, declared_unit, utc_now_iso

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
        base, extra = _entry_base(bench, suite)
        stats = bench.get("stats") or {}
        if when:
            base["time"] = when
        base.setdefault("status", "ok")
        group = bench.get("group")
        base["note"] = base.get("note") or (f"group {group}" if group else "")
        timed = {**base, "rounds": stats.get("rounds")}  # the time rows summarise that many rounds
        if "median" in stats:
            rows.append({**timed, "metric": "time_s", "value": stats["median"], "unit": "s",
                         "spread": stats.get("iqr"), "spread_kind": "iqr"})
        if "mean" in stats:
            rows.append({**timed, "metric": "time_mean_s", "value": stats["mean"], "unit": "s",
                         "spread": stats.get("stddev"), "spread_kind": "std"})
        if "min" in stats:
            rows.append({**timed, "metric": "time_min_s", "value": stats["min"], "unit": "s"})
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


def _entry_base(bench: dict, suite: str) -> tuple[dict, dict]:
    """(the row columns one pytest-benchmark entry fills, its numeric extra_info left to become rows)."""
    extra = dict(bench.get("extra_info") or {})
    base = {"suite": suite, "source": "benchmark", "case": bench.get("name", ""), "variant": "", "backend": ""}
    for key in _EXTRA_STRING_COLUMNS:
        if isinstance(extra.get(key), str):
            base[key] = extra.pop(key)
    if isinstance(extra.get("x_value"), (int, float)) and not isinstance(extra["x_value"], bool):
        base["x_value"] = float(extra.pop("x_value"))
    return base, extra


def benchmark_rounds(data: dict, suite: str) -> list[tuple[dict, list[float]]]:
    """(row columns, seconds of every timed round) per pytest-benchmark entry that kept its rounds
    (``stats.data``; the runner passes --benchmark-json, which keeps them). The columns match the entry's rows
    from :func:`benchmark_rows`, so a timing row finds its rounds by its key."""
    out = []
    for bench in data.get("benchmarks", []):
        seconds = (bench.get("stats") or {}).get("data")
        if isinstance(seconds, list) and all(isinstance(s, (int, float)) for s in seconds):
            out.append((_entry_base(bench, suite)[0], [float(s) for s in seconds]))
    return out


def _read_benchmark_document(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid pytest-benchmark JSON ({err.msg}); rerun that suite "
                         f"(`pfbench run --resume RUN_DIR`) or delete the file") from None


def read_benchmark_json(path: str | Path, suite: str | None = None) -> list[dict]:
    """Read one pytest-benchmark JSON file into rows; a broken file raises a ValueError naming it."""
    path = Path(path)
    return benchmark_rows(_read_benchmark_document(path), suite or path.stem)


def read_benchmark_rounds(path: str | Path, suite: str | None = None) -> list[tuple[dict, list[float]]]:
    """The timed rounds of one pytest-benchmark JSON file (:func:`benchmark_rounds`)."""
    path = Path(path)
    return benchmark_rounds(_read_benchmark_document(path), suite or path.stem)
