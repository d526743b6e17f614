"""The training-speed verdict: pyramid_ar's measured training-step speedup over full_sequence, with its interval.
A pure function of the run's tidy rows (tests/test_verdicts.py)."""
from __future__ import annotations

import math
import re

import pandas as pd

from pfbench.benchmarks.base import Verdict

SPEED_CLAIM = "Training speed: pyramid_ar trains faster than full_sequence"
MIN_ROUNDS = 3  # fewer interleaved rounds give no interval worth the name


def training_speed_verdict(df: pd.DataFrame, why_missing: str = "the throughput suite was not run",
                           variant: str = "pyramid_ar") -> Verdict:
    """Reproduced when the interval of the measured speedup (median of interleaved rounds +- half its IQR) lies
    above 1 with at least MIN_ROUNDS rounds; not reproduced when it lies below 1; inconclusive otherwise."""
    paper = "fewer tokens and FLOPs per step (Sec. 3); FLOP-predicted speedup beside it"
    t = df[(df["suite"] == "throughput") & (df["variant"] == variant)]
    s = t[(t["metric"] == "speedup_vs_full_sequence") & t["value"].notna()]
    s = s[s["case"] == "train_step_interleaved"] if (s["case"] == "train_step_interleaved").any() else \
        s[s["case"] == "train_step"]
    if s.empty:
        return Verdict(SPEED_CLAIM, "not measured here", "", paper, f"no training-step speedup ({why_missing})")
    row = s.iloc[0]
    value, half = float(row["value"]), float(row["spread"]) / 2 if not pd.isna(row["spread"]) else math.nan
    pred = t[(t["metric"] == "predicted_speedup") & (t["case"] == row["case"])]["value"]
    rounds = _rounds(row["note"]) or _rounds_metric(t, row["case"])
    lo, hi = value - half, value + half
    shown = (f"{value:.2f}x (IQR {lo:.2f}-{hi:.2f}, {rounds or '?'} rounds)" if half == half else f"{value:.2f}x")
    if len(pred):
        shown += f"; FLOP-predicted {float(pred.iloc[0]):.2f}x"
    where = f"`{row['case']}`"
    if half != half or not rounds or rounds < MIN_ROUNDS:
        return Verdict(SPEED_CLAIM, "inconclusive", shown, paper,
                       f"{where}: fewer than {MIN_ROUNDS} timed rounds, no interval (run a larger preset)")
    if lo > 1:
        return Verdict(SPEED_CLAIM, "reproduced", shown, paper, f"{where}: the whole interval lies above 1x")
    if hi < 1:
        return Verdict(SPEED_CLAIM, "not reproduced", shown, paper, f"{where}: the whole interval lies below 1x")
    return Verdict(SPEED_CLAIM, "inconclusive", shown, paper, f"{where}: the interval contains 1x")


def _rounds(note: str) -> int | None:
    m = re.search(r"median of (\d+)", str(note or ""))
    return int(m.group(1)) if m else None


def _rounds_metric(t: pd.DataFrame, case: str) -> int | None:
    r = t[(t["metric"] == "rounds") & (t["case"] == case)]["value"].dropna()
    return int(r.iloc[0]) if len(r) else None


def verdicts(ctx) -> list[Verdict]:
    return [training_speed_verdict(ctx.df, ctx.suite_state("throughput"))]
