"""The ablations' verdicts: corrective noise, causal attention and the temporal pyramid, each read from a paired
gap over seeds (a - b with its Student-t interval) that suites/test_ablations.py wrote.
"""
from __future__ import annotations

from pfbench.benchmarks.base import Verdict
from pfbench.render.context import ReportContext


def _diff_line(status: str, g: dict, what: str) -> str:
    iv = f"{g['value']:+.3g}, 95% CI {g['low']:+.3g} to {g['high']:+.3g}"
    return {"reproduced": f"reproduced at this scale ({what} {iv})", "not reproduced": f"not reproduced ({what} {iv})",
            "inconclusive": f"inconclusive (the interval spans 0: {what} {iv})"}[status]


def _sign_status(g: dict, positive_is_claim: bool = True) -> str:
    lo, hi = (g["low"], g["high"]) if positive_is_claim else (-g["high"], -g["low"])
    return "reproduced" if lo > 0 else "not reproduced" if hi <= 0 else "inconclusive"


def verdicts(ctx: ReportContext) -> list[Verdict]:
    out = []
    g = _gap(ctx, "corrective_noise", "block_correlation_gap")
    if g:
        st = _sign_status(g)
        out.append(Verdict("Corrective noise: without it, samples show 2x2 block artifacts", st,
                           _diff_line(st, g, "block correlation off - on"), "blocky, blurred samples without it "
                           "(Fig. 10)", g["note"]))
    g = _gap(ctx, "corrective_noise", "fid_gap")
    if g:
        st = _sign_status(g)
        out.append(Verdict("Corrective noise: FID is worse without it", st, _diff_line(st, g, "FID off - on"),
                           "Fig. 10 (qualitative)", g["note"]))
    g = _gap(ctx, "attention", "frame_similarity_gap")
    if g:
        st = _sign_status(g)
        out.append(Verdict("Causal attention: more consistent frames than bidirectional", st,
                           _diff_line(st, g, "frame-to-frame similarity causal - bidirectional"),
                           "bidirectional changes shape and colour (Fig. 11)", g["note"]))
    g = _gap(ctx, "temporal_pyramid", "fid_gap")
    if g:
        st = _sign_status(g, positive_is_claim=False)
        out.append(Verdict("Temporal pyramid: compressed history keeps quality (FID pyramid_ar - ar_full_history)",
                           st, _diff_line(st, g, "FID pyramid_ar - ar_full_history"),
                           "comparable quality at far fewer tokens (Fig. 8)", g["note"]))
    return out


def _gap(ctx: ReportContext, case: str, metric: str) -> dict | None:
    d = ctx.rows("ablations", case=case)
    if d.empty:
        return None
    get = lambda m: d.loc[d["metric"] == m, "value"]  # noqa: E731
    if get(metric).empty or get(metric + "_ci_low").empty:
        return None
    return dict(value=float(get(metric).iloc[0]), low=float(get(metric + "_ci_low").iloc[0]),
                high=float(get(metric + "_ci_high").iloc[0]),
                note=str(d.loc[d["metric"] == metric, "note"].iloc[0]))
