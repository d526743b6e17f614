"""Verdicts of the tokens benchmark on two of the paper's claims: the token saving at its sizes, and the
20.7k A100-hours of its training plan. Pure functions of the run's tidy rows (tests/test_verdicts.py)."""
from __future__ import annotations

import math

import pandas as pd

from pfbench.benchmarks.base import Verdict
from pfbench.render.context import value_of

# PAPER_FACTS.md: 768p 10 s, full sequence 31 x 3840 tokens vs the pyramid's last frame at the final stage.
PAPER_TOKENS = {"paper-768p-10s": (119_040, 15_360), "paper-768p-5s": (61_440, 11_760)}
PAPER_A100_HOURS = 20_700
PLAUSIBLE_MFU = (0.03, 0.60)  # large-scale DiT training MFU: below/above this the stated hours are doubtful
TOKENS_CLAIM = "Tokens: pyramid_ar's longest sequence vs full_sequence at 768p 10 s"
GPU_HOURS_CLAIM = "GPU-hours: the paper's plan in 20.7k A100-hours"




def tokens_verdict(df: pd.DataFrame, why_missing: str = "the tokens suite was not run") -> Verdict:
    """Reproduced when the analytic and the counted max tokens of full_sequence and pyramid_ar at the paper's
    sizes equal PAPER_FACTS.md's numbers; not reproduced when either differs; inconclusive when the counted twin
    is missing."""
    paper = "119,040 vs 15,360 tokens (-87.1%)"
    t = df[(df["suite"] == "tokens") & (df["metric"] == "max_tokens")]
    cases = [c for c in PAPER_TOKENS if (t["case"] == c).any()]
    if not cases:
        return Verdict(TOKENS_CLAIM, "not measured here", "", paper, f"no paper-size token rows ({why_missing})")
    bad, uncounted, shown = [], [], ""
    for case in cases:
        d = t[t["case"] == case]
        for variant, want in zip(("full_sequence", "pyramid_ar"), PAPER_TOKENS[case]):
            got = value_of(d, variant=variant, backend="analytic")
            counted = value_of(d, variant=variant, backend="counted")
            if got != want:
                bad.append(f"{case} {variant}: analytic {got:,.0f} != paper {want:,}")
            if math.isnan(counted):
                uncounted.append(f"{case} {variant}")
            elif not math.isclose(counted, got, rel_tol=1e-9):
                bad.append(f"{case} {variant}: counted {counted:,.0f} != analytic {got:,.0f}")
    d = t[t["case"] == cases[0]]
    full, pyr = value_of(d, variant="full_sequence", backend="analytic"), value_of(d, variant="pyramid_ar",
                                                                                   backend="analytic")
    if full == full and pyr == pyr and full > 0:
        shown = f"{full:,.0f} vs {pyr:,.0f} tokens ({(pyr - full) / full:+.1%}) at {cases[0]}"
    if bad:
        return Verdict(TOKENS_CLAIM, "not reproduced", shown, paper, "; ".join(bad))
    if uncounted:
        return Verdict(TOKENS_CLAIM, "inconclusive", shown, paper,
                       f"analytic counts match the paper but no counted twin for {', '.join(uncounted)}")
    return Verdict(TOKENS_CLAIM, "reproduced", shown, paper,
                   f"analytic = counted = the paper's numbers at {', '.join(cases)}")


def gpu_hours_verdict(df: pd.DataFrame, why_missing: str = "the tokens suite was not run") -> Verdict:
    """The paper's A100-hours against the plan's counted training FLOPs: a plausibility check of the stated hours,
    not a reproduction (nothing here trains for 20.7k A100-hours).

    Plausible when the MFU the hours imply lies in PLAUSIBLE_MFU (large-scale DiT training); implausible when it
    exceeds 100% (the stated hours are too few for the counted FLOPs); inconclusive otherwise."""
    paper = f"{PAPER_A100_HOURS:,} A100-hours (Table 4)"
    g = df[(df["suite"] == "tokens") & (df["case"] == "paper-plan")]
    mfu = value_of(g, metric="implied_mfu", variant="pyramid_ar")
    if math.isnan(mfu):
        return Verdict(GPU_HOURS_CLAIM, "not measured here", "", paper, f"no paper-plan rows ({why_missing})")
    full = value_of(g, metric="gpu_hours", variant="full_sequence", backend="projection")
    extra = f"; full_sequence would need {full:,.0f} A100-hours at that MFU" if full == full else ""
    lo, hi = PLAUSIBLE_MFU
    shown = f"implied MFU {mfu:.1%} (plausibility check: plausible range {lo:.0%}-{hi:.0%})"
    if mfu > 1:
        return Verdict(GPU_HOURS_CLAIM, "implausible", shown, paper,
                       "the counted training FLOPs need more than 100% of the A100s' peak in the stated hours" + extra)
    if lo <= mfu <= hi:
        return Verdict(GPU_HOURS_CLAIM, "plausible", shown, paper,
                       f"the counted FLOPs of the plan fit the stated hours at an MFU of {mfu:.1%}, within the range "
                       f"large-scale training reaches ({lo:.0%}-{hi:.0%}); a plausibility check, not a reproduction"
                       + extra)
    return Verdict(GPU_HOURS_CLAIM, "inconclusive", shown, paper,
                   f"implied MFU outside the plausible {lo:.0%}-{hi:.0%}: uncounted work (text tokens, VAE) or "
                   "another reading of the plan" + extra)


def verdicts(ctx) -> list[Verdict]:
    why = ctx.suite_state("tokens")
    return [tokens_verdict(ctx.df, why), gpu_hours_verdict(ctx.df, why)]
