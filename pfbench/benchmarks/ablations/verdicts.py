"""The ablations' verdicts, each the test its claim calls for (pfbench.benchmarks.vocabulary), on paired gaps over
seeds (a - b: same initial weights, data and sample seeds) that suites/test_ablations.py wrote.

- Corrective noise, block artifacts (the paper's Fig. 10): superiority of the block correlation off - on.
- Corrective noise, quality: superiority of the clip-blocked kernel distance off - on (the Fréchet distance is read
  only where it is not bias-dominated).
- Causal attention "as good as bidirectional" (Fig. 11): non-inferiority of the kernel distance causal -
  bidirectional, margin EQUIVALENCE_MARGIN x bidirectional's value; the frame-to-frame similarity (which a static
  video maximises) is shown beside it, not tested.
- Temporal pyramid "keeps quality" (Fig. 8): equivalence (TOST) of the kernel distance pyramid_ar - ar_full_history,
  margin EQUIVALENCE_MARGIN x ar_full_history's value.

A call in favour of a setting less diverse than the one it is compared with is withheld (vocabulary.diversity_guard).
"""
from __future__ import annotations

import math
import re

from pfbench.benchmarks.base import Verdict
from pfbench.benchmarks.vocabulary import EQUIVALENCE_MARGIN, diversity_guard, equivalence, non_inferiority, superiority
from pfbench.render.context import ReportContext


def _gap(ctx: ReportContext, case: str, metric: str) -> dict | None:
    """The paired gap ``metric`` (e.g. kid_blocked_gap) of a case: value, 95% ends, note; None without rows."""
    d = ctx.rows("ablations", case=case)
    if d.empty:
        return None
    get = lambda m: d.loc[d["metric"] == m, "value"]  # noqa: E731
    if get(metric).empty or get(metric + "_ci_low").empty:
        return None
    return dict(value=float(get(metric).iloc[0]), low=float(get(metric + "_ci_low").iloc[0]),
                high=float(get(metric + "_ci_high").iloc[0]),
                note=str(d.loc[d["metric"] == metric, "note"].iloc[0]))


def _per_seed(ctx: ReportContext, case: str, setting: str, metric: str) -> list[float]:
    """One value per seed of ``setting`` (rows case per_seed, variant '<case>/<setting>/seed<i>'), seed order."""
    d = ctx.rows("ablations", case="per_seed", metric=metric)
    d = d[d["variant"].str.startswith(f"{case}/{setting}/seed")]
    key = lambda v: int(re.search(r"seed(\d+)$", v).group(1))  # noqa: E731
    return [float(r["value"]) for _, r in sorted(d.iterrows(), key=lambda ir: key(ir[1]["variant"]))]


def _mean(ctx: ReportContext, case: str, setting: str, metric: str) -> float:
    d = ctx.rows("ablations", case=case, variant=setting, metric=metric)
    return float(d["value"].iloc[0]) if len(d) and d["value"].notna().iloc[0] else math.nan


def _iv(g: dict, what: str) -> str:
    return f"{what} {g['value']:+.3g}, 95% CI {g['low']:+.3g} to {g['high']:+.3g}"


def verdicts(ctx: ReportContext) -> list[Verdict]:
    out = []
    g = _gap(ctx, "corrective_noise", "block_correlation_gap")
    if g:
        call = superiority(g["low"], g["high"])
        out.append(Verdict("Corrective noise: without it, samples show 2x2 block artifacts", call.status,
                           f"{call.words}: {_iv(g, 'block correlation off - on')}",
                           "blocky, blurred samples without it (Fig. 10)", g["note"]))
    g = _gap(ctx, "corrective_noise", "kid_blocked_gap")
    if g:
        call = diversity_guard(superiority(g["low"], g["high"]),
                               _mean(ctx, "corrective_noise", "renoise_on", "diversity_ratio"),
                               _mean(ctx, "corrective_noise", "renoise_off", "diversity_ratio"),
                               names=("renoise_on", "renoise_off"))
        out.append(Verdict("Corrective noise: quality is worse without it", call.status,
                           f"{call.words}: {_iv(g, 'kernel distance off - on')}", "Fig. 10 (qualitative)",
                           "reads the clip-blocked kernel distance (unbiased at this N); " + g["note"]))
    g = _gap(ctx, "attention", "kid_blocked_gap")
    if g:
        margin = EQUIVALENCE_MARGIN * abs(_mean(ctx, "attention", "bidirectional", "kid_blocked"))
        call = diversity_guard(non_inferiority(g["low"], g["high"], margin),
                               _mean(ctx, "attention", "causal", "diversity_ratio"),
                               _mean(ctx, "attention", "bidirectional", "diversity_ratio"),
                               names=("causal", "bidirectional"))
        sim = _gap(ctx, "attention", "frame_similarity_gap")
        shown = f"; frame similarity causal - bidirectional {sim['value']:+.3g} (not tested: a static video " \
                "maximises it)" if sim else ""
        out.append(Verdict("Causal attention: as good as bidirectional for pyramid_ar", call.status,
                           f"{call.words}: {_iv(g, 'kernel distance causal - bidirectional')}",
                           "bidirectional changes shape and colour (Fig. 11)",
                           f"non-inferiority, margin {EQUIVALENCE_MARGIN:.0%} of bidirectional's kernel distance"
                           f"{shown}; " + g["note"]))
    g = _gap(ctx, "temporal_pyramid", "kid_blocked_gap")
    if g:
        a = _per_seed(ctx, "temporal_pyramid", "pyramid_ar", "kid_blocked")
        b = _per_seed(ctx, "temporal_pyramid", "ar_full_history", "kid_blocked")
        margin = EQUIVALENCE_MARGIN * abs(_mean(ctx, "temporal_pyramid", "ar_full_history", "kid_blocked"))
        diffs = [x - y for x, y in zip(a, b)] if len(a) == len(b) else []
        call, lo90, hi90 = equivalence(diffs, margin)
        call = diversity_guard(call, _mean(ctx, "temporal_pyramid", "pyramid_ar", "diversity_ratio"),
                               _mean(ctx, "temporal_pyramid", "ar_full_history", "diversity_ratio"),
                               names=("pyramid_ar", "ar_full_history"))
        out.append(Verdict("Temporal pyramid: compressed history keeps quality (pyramid_ar vs ar_full_history)",
                           call.status, f"{call.words}: kernel distance pyramid_ar - ar_full_history "
                           f"{g['value']:+.3g}, 90% CI {lo90:+.3g} to {hi90:+.3g}",
                           "comparable quality at far fewer tokens (Fig. 8)",
                           f"equivalence (TOST over {len(diffs)} paired seeds), margin {EQUIVALENCE_MARGIN:.0%} of "
                           f"ar_full_history's kernel distance (+-{margin:.3g}); " + g["note"]))
    return out
