"""Comparing two runs row by row: each change is classified by its benchmark's declarations (better direction,
determinism), never by the metric's name.
"""
from __future__ import annotations

import math

import pandas as pd

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
