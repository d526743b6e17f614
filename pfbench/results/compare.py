"""Comparing two runs row by row. Each change is judged by its benchmark's declarations and the evidence the runs
recorded, never by a metric's name or backend:

- a metric declared ``deterministic`` (a count) fails on any change (``changed``);
- a metric declared ``over_rounds`` (pytest-benchmark's timings) is tested on the rounds both runs recorded
  (a two-sided rank test, :func:`pfbench.metrics.stats.rounds_differ_p`): worse only when the rounds differ AND the
  value moved beyond the declared threshold; ``unknown: too few rounds`` when either run has fewer rounds than the
  test needs (never a failure);
- any metric declared ``timed`` (timings, speeds, speedups) is ``unknown: machine busy`` when either run's suite ran
  on a busy machine (pfbench.measure.machine_load.BUSY_RULE over its recorded window; never a failure), and fails
  only beyond its threshold (50% unless it declares one: timings drift between runs), and is
  ``unknown: too few rounds`` when its row records fewer rounds than the rank test needs in either run: the spread
  of three rounds says nothing about the next process;
- any other measured metric is judged by its recorded spread (interval half-width, IQR): beyond the combined spread
  and the threshold; without a spread in either run, or a spread of 0 (an IQR over one round), it is
  ``unknown: too few rounds``;
- a change that rounds to 0.0% is ``same``.
"""
from __future__ import annotations

import math

import pandas as pd

from pfbench.metrics.stats import RANK_TEST_ALPHA, min_rounds_for_rank_test, rounds_differ_p

KEY_COLUMNS = ["suite", "case", "variant", "metric", "backend", "x_name", "x_value"]
DEFAULT_FAIL_ABOVE = 0.05  # a metric that declares no threshold of its own
MIN_ROUNDS = min_rounds_for_rank_test(RANK_TEST_ALPHA)
UNKNOWN = "unknown: too few rounds"
BUSY = "unknown: machine busy"
BOUND = "unknown: a bound"
CUT_SHORT = "unknown: sweep cut short"
FAILING_VERDICTS = ("regression", "changed", "missing")
# verdicts a listing leaves out unless asked for every row: nothing moved, a setting moved, or nothing can be said
QUIET_VERDICTS = ("same", "differs", UNKNOWN, BUSY, BOUND, CUT_SHORT)
# what each verdict means, for the help text and the report
VERDICTS = {
    "same": "equal, or a change that rounds to 0.0%",
    "better": "moved in the better direction beyond the noise",
    "worse": "moved in the worse direction beyond the noise, within the threshold",
    "regression": "worse beyond the noise and the threshold (fails)",
    "changed": "a declared deterministic count moved (fails)",
    "within-noise": "moved within the spread, or the rounds do not differ",
    UNKNOWN: "either run has too few rounds (or no spread) to tell noise from a change",
    BUSY: "a timing measured while other processes competed for the CPUs (a busy machine) in either run",
    BOUND: "one run's value is only a lower or upper bound (e.g. a frontier search its time cap stopped)",
    CUT_SHORT: "a sweep point of A that B's sweep did not reach because its time cap stopped it (a skipped point)",
    "differs": "a setting (no better side) moved",
    "missing": "in A, not in B (fails; `why` says whether B's suite was skipped, failed or did not emit it)",
    "new": "in B only",
    "n/a": "no value on one side",
}


def is_deterministic(suite: str, metric: str) -> bool:
    """True when the suite's benchmark declares the metric a deterministic count (any change is a failure)."""
    from pfbench.benchmarks import metric_spec

    spec = metric_spec(suite, metric)
    return bool(spec and spec.deterministic)


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


def _x_text(value) -> str:
    return "" if value is None or pd.isna(value) else f"{float(value):.12g}"


def keyed(df: pd.DataFrame) -> pd.DataFrame:
    """The rows indexed by their comparison key. On an x axis a benchmark declares measured (e.g. wall seconds
    of training) the value differs between runs, so those points are keyed by their order ("#1", "#2", ...)."""
    from pfbench.benchmarks import measured_axes

    out = df.copy()
    for col, missing in (("rounds", float("nan")), ("bound", "")):  # frames built before these columns existed
        if col not in out:
            out[col] = missing
    out["x_key"] = out["x_value"].map(_x_text)
    measured = [(s, x) in measured_axes() for s, x in zip(out["suite"], out["x_name"])]
    if any(measured):
        group = ["suite", "case", "variant", "metric", "backend", "x_name"]
        sub = out[measured]
        rank = sub.groupby(group, sort=False)["x_value"].rank(method="first").astype(int)
        out.loc[sub.index, "x_key"] = ["#" + str(r) for r in rank]
    keys = [c if c != "x_value" else "x_key" for c in KEY_COLUMNS]
    return out.drop_duplicates(subset=keys, keep="last").set_index(keys)


def rounds_index(rounds: list[tuple[dict, list[float]]] | None) -> dict[tuple, list[float]]:
    """(suite, case, variant, backend, x_name, x_key) -> seconds per round, from a run's benchmark entries."""
    out = {}
    for cols, seconds in rounds or []:
        key = (cols.get("suite", ""), cols.get("case", ""), cols.get("variant", ""), cols.get("backend", ""),
               cols.get("x_name", ""), _x_text(cols.get("x_value")))
        out[key] = seconds
    return out


def compare_results(a: pd.DataFrame, b: pd.DataFrame, threshold: float | None = None, *,
                    rounds_a: list | None = None, rounds_b: list | None = None,
                    missing_why: dict[str, str] | None = None, busy: dict[str, str] | None = None) -> pd.DataFrame:
    """Match rows of two runs (A = baseline, B = new) and classify each change (see :data:`VERDICTS`).

    ``threshold``: the relative change in the worse direction that fails, for every row; None: each metric's
    declared ``fail_above`` (DEFAULT_FAIL_ABOVE where none is declared). ``rounds_a`` / ``rounds_b``: the runs'
    timed rounds (:func:`pfbench.results.store.load_rounds`). ``missing_why``: suite -> why B lacks its rows.
    ``busy``: suite -> the load that makes its timings inconclusive (in either run).
    Columns: the key, unit, value_a, value_b, status_a, status_b, change (B - A), change_rel, spread (combined),
    rounds_a, rounds_b, p_value, direction, threshold, verdict, why.
    """
    from pfbench.benchmarks import direction, metric_spec

    ka, kb = keyed(a), keyed(b)
    cols = ["unit", "value", "spread", "status", "rounds", "bound"]
    joined = ka[cols].add_suffix("_a").join(kb[cols].add_suffix("_b"), how="outer")
    joined = joined.rename(columns={"rounds_a": "recorded_rounds_a", "rounds_b": "recorded_rounds_b"})
    in_a, in_b = joined.index.isin(ka.index), joined.index.isin(kb.index)
    out = joined.reset_index()
    out["unit"] = out["unit_b"].fillna(out["unit_a"]).fillna("")
    out["change"] = out["value_b"] - out["value_a"]
    out["change_rel"] = out["change"] / out["value_a"].abs().where(out["value_a"] != 0)
    sa, sb = out["spread_a"], out["spread_b"]
    out["spread"] = sa.fillna(0) + sb.fillna(0)
    out.loc[sa.isna() & sb.isna(), "spread"] = float("nan")
    specs = [metric_spec(s, m) for s, m in zip(out["suite"], out["metric"])]
    out["direction"] = [direction(s, m) for s, m in zip(out["suite"], out["metric"])]
    out["deterministic"] = [bool(s and s.deterministic) for s in specs]
    out["timed"] = [bool(s and s.timed) for s in specs]
    out["threshold"] = [threshold if threshold is not None else
                        (s.fail_above if s and s.fail_above is not None else DEFAULT_FAIL_ABOVE) for s in specs]
    ra, rb = rounds_index(rounds_a), rounds_index(rounds_b)
    round_keys = list(zip(out["suite"], out["case"], out["variant"], out["backend"], out["x_name"], out["x_key"]))
    over = [bool(s and s.over_rounds) for s in specs]
    out["rounds_a"] = [ra.get(k) if o else None for k, o in zip(round_keys, over)]
    out["rounds_b"] = [rb.get(k) if o else None for k, o in zip(round_keys, over)]
    cuts = sweep_cuts(b)
    judged = [_verdict(row, has_a, has_b, missing_why or {}, busy or {}, cuts)
              for row, has_a, has_b in zip(out.itertuples(index=False), in_a, in_b)]
    out["verdict"] = [v for v, _, _ in judged]
    out["p_value"] = [p for _, p, _ in judged]
    out["why"] = [w for _, _, w in judged]
    out["x_value"] = pd.to_numeric(out["x_key"].where(~out["x_key"].str.startswith("#")).replace("", None),
                                   errors="coerce")
    out["x_point"] = out.pop("x_key")
    for side in ("a", "b"):
        out[f"rounds_{side}"] = [len(r) if isinstance(r, list) else n
                                 for r, n in zip(out[f"rounds_{side}"], out[f"recorded_rounds_{side}"])]
    cols = KEY_COLUMNS + ["x_point", "unit", "value_a", "value_b", "status_a", "status_b", "change", "change_rel",
                          "spread", "rounds_a", "rounds_b", "p_value", "direction", "threshold", "verdict", "why"]
    return out[cols].sort_values(KEY_COLUMNS[:4], kind="stable").reset_index(drop=True)


def sweep_cuts(df: pd.DataFrame) -> dict[tuple, tuple[float, str]]:
    """(suite, case, variant, x_name) -> (x, note) of the first point a sweep skipped (its time cap stopped it
    there): points beyond it were never measured in that run."""
    skipped = df[(df["status"] == "skipped") & (df["x_name"] != "") & df["x_value"].notna()]
    out: dict[tuple, tuple[float, str]] = {}
    for row in skipped.sort_values("x_value").itertuples(index=False):
        out.setdefault((row.suite, row.case, row.variant, row.x_name), (float(row.x_value), str(row.note)))
    return out


def _verdict(row, has_a: bool, has_b: bool, missing_why: dict[str, str], busy: dict[str, str],
             cuts: dict[tuple, tuple[float, str]]) -> tuple[str, float, str]:
    """(verdict, p-value or NaN, why) of one matched row."""
    nan = float("nan")
    if not has_a:
        return "new", nan, "only in B"
    if not has_b:
        cut = cuts.get((row.suite, row.case, row.variant, row.x_name))
        x = pd.to_numeric(row.x_key, errors="coerce") if row.x_key and not row.x_key.startswith("#") else nan
        if cut and pd.notna(x) and x >= cut[0]:
            return CUT_SHORT, nan, f"B's sweep stopped at {row.x_name} = {cut[0]:g}: {cut[1]}".rstrip(": ")
        return "missing", nan, missing_why.get(row.suite, "not in B")
    va, vb = row.value_a, row.value_b
    if pd.isna(va) and pd.isna(vb):
        return ("same" if row.status_a == row.status_b else "n/a"), nan, f"no value ({row.status_a} / {row.status_b})"
    if pd.isna(vb) and row.status_b in ("oom", "error"):
        return "regression", nan, f"measured in A, {row.status_b} in B"
    if pd.isna(va) or pd.isna(vb):
        return "n/a", nan, f"no value in {'A' if pd.isna(va) else 'B'}"
    if math.isclose(va, vb, rel_tol=1e-9, abs_tol=0.0):
        return "same", nan, ""
    if row.deterministic:
        return "changed", nan, "a declared deterministic count moved"
    bounds = [f"{side}: a {b} bound" for side, b in (("A", row.bound_a), ("B", row.bound_b)) if b in ("lower", "upper")]
    if bounds:
        return BOUND, nan, "; ".join(bounds)
    rel = abs(vb - va) / abs(va) if va != 0 else math.inf
    if rel < 0.0005:
        return "same", nan, "the change rounds to 0.0%"
    if row.direction == 0:
        return "differs", nan, "a setting"
    worse = (vb - va) * row.direction < 0
    if row.timed and row.suite in busy:
        return BUSY, nan, busy[row.suite]
    if isinstance(row.rounds_a, list) or isinstance(row.rounds_b, list):
        return _judge_rounds(row, worse, rel)
    few = [n for n in (row.recorded_rounds_a, row.recorded_rounds_b) if pd.notna(n) and n < MIN_ROUNDS]
    if row.timed and few:
        return UNKNOWN, nan, (f"{_count(row.recorded_rounds_a)} round(s) in A, {_count(row.recorded_rounds_b)} in B; "
                              f"a spread over fewer than {MIN_ROUNDS} rounds is no evidence")
    if pd.isna(row.spread):
        return UNKNOWN, nan, "one measurement and no spread in either run"
    if row.spread <= 0:  # a measured spread of exactly 0 comes from one round (an IQR of one value), not from a test
        return UNKNOWN, nan, "a spread of 0 in both runs (one round each)"
    if abs(vb - va) <= row.spread:
        return "within-noise", nan, "within the combined spread"
    if not worse:
        return "better", nan, "beyond the combined spread"
    return ("regression" if rel > row.threshold else "worse"), nan, \
        f"beyond the combined spread; {rel:.1%} {'>' if rel > row.threshold else '<='} {row.threshold:.0%}"


def _count(n) -> str:
    return "?" if pd.isna(n) else f"{int(n)}"


def _judge_rounds(row, worse: bool, rel: float) -> tuple[str, float, str]:
    na = len(row.rounds_a) if isinstance(row.rounds_a, list) else 0
    nb = len(row.rounds_b) if isinstance(row.rounds_b, list) else 0
    if min(na, nb) < MIN_ROUNDS:
        return UNKNOWN, float("nan"), f"{na} round(s) in A, {nb} in B; the rank test needs {MIN_ROUNDS} in each"
    p = rounds_differ_p(row.rounds_a, row.rounds_b)
    over = f"{na} vs {nb} rounds, rank test p = {p:.2g}"
    if p >= RANK_TEST_ALPHA:
        return "within-noise", p, f"{over} >= {RANK_TEST_ALPHA:g}"
    if not worse:
        return "better", p, over
    return ("regression" if rel > row.threshold else "worse"), p, \
        f"{over}; {rel:.1%} {'>' if rel > row.threshold else '<='} {row.threshold:.0%}"


def comparison_failed(table: pd.DataFrame) -> bool:
    """True when a comparison holds a regression beyond the threshold, a changed deterministic count, or a
    baseline row that the new run lacks (lost results must not pass)."""
    return bool(table["verdict"].isin(FAILING_VERDICTS).any())


def verdict_counts(table: pd.DataFrame) -> str:
    """'same 120, unknown: too few rounds 12, ...' (most frequent first)."""
    return ", ".join(f"{k} {v}" for k, v in table["verdict"].value_counts().items())


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
