"""The training-speed verdict: pyramid_ar's measured training-step speedup over full_sequence, with its interval.

The suite times at least 10 alternating rounds (one full_sequence step and one step of every variant, the order
reversed every other round) and records the median of the per-round ratios with a distribution-free interval for
that median (``pfbench.metrics.stats.median_ratio_interval``), by wall clock and by the process's CPU time, with
what else ran meanwhile (``pfbench.measure.machine_load``). On a quiet machine the verdict reads the wall-time
interval; on a busy one (``BUSY_RULE``) it reads the CPU-time interval and says so, and when that interval is wider
than the rule allows it is ``inconclusive: machine busy (...)``, never a failure. The verdict is a pure function of
the run's tidy rows; tests/test_speed_verdict.py shows its error rates on simulated pairs with a known truth.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from pfbench.benchmarks.base import Verdict
from pfbench.measure.machine_load import BUSY_RULE

SPEED_CLAIM = "Training speed: pyramid_ar trains faster than full_sequence"
CONFIDENCE = 0.95
MIN_PAIRS = 10  # fewer alternating pairs: too few for a verdict (at 95% an interval exists from 6 pairs on)
CASE = "train_step_interleaved"
LOW, HIGH = "speedup_vs_full_sequence_ci_low", "speedup_vs_full_sequence_ci_high"


def speed_status(low, high, pairs):
    """The rule: "reproduced" (faster) when the interval lies above 1x, "not reproduced" when it lies below 1x,
    else "inconclusive"; always "inconclusive" with fewer than MIN_PAIRS pairs or without an interval (NaN ends).
    Scalars give a str; arrays (a simulation) give an array of str."""
    low, high, pairs = np.broadcast_arrays(np.asarray(low, float), np.asarray(high, float), np.asarray(pairs))
    status = np.where(pairs < MIN_PAIRS, "inconclusive",
                      np.where(low > 1, "reproduced", np.where(high < 1, "not reproduced", "inconclusive")))
    return str(status) if status.ndim == 0 else status


def training_speed_verdict(df: pd.DataFrame, why_missing: str = "the throughput suite was not run",
                           variant: str = "pyramid_ar") -> Verdict:
    """The verdict on the interleaved pairs' rows (``speedup_vs_full_sequence`` with ``_ci_low``/``_ci_high``
    and ``speedup_pairs``); rows without an interval (older runs, the separate-medians ``train_step`` case) read
    as inconclusive, with the reason."""
    paper = "fewer tokens and FLOPs per step (Sec. 3); FLOP-predicted speedup beside it"
    t = df[(df["suite"] == "throughput") & (df["variant"] == variant)]
    s = t[(t["metric"] == "speedup_vs_full_sequence") & t["value"].notna()]
    s = s[s["case"] == CASE] if (s["case"] == CASE).any() else s[s["case"] == "train_step"]
    if s.empty:
        return Verdict(SPEED_CLAIM, "not measured here", "", paper, f"no training-step speedup ({why_missing})")
    row = s.iloc[0]
    case, where = row["case"], f"`{row['case']}`"
    value = float(row["value"])
    low, high = _value(t, case, LOW), _value(t, case, HIGH)
    pairs = _value(t, case, "speedup_pairs")
    shown = f"{value:.2f}x"
    if not (math.isnan(low) or math.isnan(high)):
        shown += f" ({CONFIDENCE:.0%} CI {low:.2f}-{high:.2f} over {_count(pairs)} alternating pairs, wall time)"
    pred = _value(t, case, "predicted_speedup")
    if not math.isnan(pred):
        shown += f"; FLOP-predicted {pred:.2f}x"
    if not {LOW, HIGH} & set(t[t["case"] == case]["metric"]):
        return Verdict(SPEED_CLAIM, "inconclusive", shown, paper,
                       f"{where}: no interval of the speedup in these rows (a run without the alternating-pair "
                       f"intervals); rerun the throughput suite")
    if math.isnan(pairs) or pairs < MIN_PAIRS:
        return Verdict(SPEED_CLAIM, "inconclusive", shown, paper,
                       f"{where}: fewer than {MIN_PAIRS} alternating pairs ({_count(pairs)}); run a larger preset")
    machine = _machine(t, case)
    clock = "wall time"
    busy = bool(machine) and BUSY_RULE.busy(machine["others"], machine["steal"])
    disagree = high / low > BUSY_RULE.max_interval_spread
    if busy or disagree:
        text = machine["text"] if machine else "no machine rows"
        busy = (f"machine busy ({text})" if busy else
                f"rounds disagree (wall-time interval {low:.2f}-{high:.2f} is wider than "
                f"{BUSY_RULE.max_interval_spread:g}x high/low; {text})")
        low, high = _value(t, case, CPU_LOW), _value(t, case, CPU_HIGH)
        value = _value(t, case, "speedup_cpu_vs_full_sequence")
        if math.isnan(low) or math.isnan(high) or high / low > BUSY_RULE.max_interval_spread:
            spread = "" if math.isnan(low) or math.isnan(high) else f" ({low:.2f}-{high:.2f})"
            return Verdict(SPEED_CLAIM, "inconclusive", shown, paper,
                           f"inconclusive: {busy}; even the process CPU-time interval{spread} is wider than "
                           f"{BUSY_RULE.max_interval_spread:g}x high/low; rerun on a quiet machine")
        clock = "process CPU time"
        shown = (f"{value:.2f}x ({CONFIDENCE:.0%} CI {low:.2f}-{high:.2f} over {_count(pairs)} alternating pairs, "
                 f"process CPU time: {busy})") + (f"; FLOP-predicted {pred:.2f}x" if not math.isnan(pred) else "")
    status = speed_status(low, high, pairs)
    cpu = _cpu_text(t, case) if clock == "wall time" else ""
    if status == "reproduced":
        why = f"{where}: the whole {CONFIDENCE:.0%} interval of the median pair ratio ({clock}) lies above 1x"
    elif status == "not reproduced":
        why = f"{where}: the whole {CONFIDENCE:.0%} interval of the median pair ratio ({clock}) lies below 1x"
    else:
        why = f"{where}: the {CONFIDENCE:.0%} interval ({clock}) contains 1x"
    if machine and clock == "wall time":
        why += f" (machine quiet: {machine['text']})"
    return Verdict(SPEED_CLAIM, status, shown, paper, why + cpu)


CPU_LOW, CPU_HIGH = "speedup_cpu_vs_full_sequence_ci_low", "speedup_cpu_vs_full_sequence_ci_high"


def _machine(t: pd.DataFrame, case: str) -> dict | None:
    """The machine while the pairs ran (others' CPU share, steal, load, cores), None for rows without it."""
    others = _value(t, case, "machine_others_cpu_share")
    load = _value(t, case, "machine_load_average")
    if math.isnan(load):
        load = _value(t, case, "load_average")
    if math.isnan(others) and math.isnan(load):
        return None
    steal = _value(t, case, "machine_steal_share")
    cores = _value(t, case, "machine_cores")
    text = f"load {load:.1f} on {_count(cores)} cores"
    if not math.isnan(others):
        text += f", others took {others:.0%} of CPU"
    if not math.isnan(steal) and steal > 0:
        text += f", steal {steal:.0%}"
    return dict(others=None if math.isnan(others) else others, steal=None if math.isnan(steal) else steal,
                text=text)


def _value(t: pd.DataFrame, case: str, metric: str) -> float:
    v = t[(t["metric"] == metric) & (t["case"] == case)]["value"].dropna()
    return float(v.iloc[0]) if len(v) else math.nan


def _count(pairs: float) -> str:
    return "?" if math.isnan(pairs) else str(int(pairs))


def _cpu_text(t: pd.DataFrame, case: str) -> str:
    value = _value(t, case, "speedup_cpu_vs_full_sequence")
    low, high = _value(t, case, CPU_LOW), _value(t, case, CPU_HIGH)
    if math.isnan(value):
        return ""
    ci = "" if math.isnan(low) or math.isnan(high) else f" ({CONFIDENCE:.0%} CI {low:.2f}-{high:.2f})"
    return f"; process CPU time gives {value:.2f}x{ci}"


def verdicts(ctx) -> list[Verdict]:
    return [training_speed_verdict(ctx.df, ctx.suite_state("throughput"))]
