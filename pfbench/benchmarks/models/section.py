"""The models benchmark's report section: per model, counted = analytic, the measured per-stage cost against the
FLOP-predicted one, and the pyramid's measured end-to-end saving against the predicted one (one plot)."""
from __future__ import annotations

import math

import pandas as pd

from pfbench.render.blocks import image, table, text
from pfbench.render.context import no_data, value_of
from pfbench.render.format import fmt


def _ratio(x) -> str:
    return "—" if x is None or math.isnan(x) else f"{x:.2f}"


def section_models(ctx) -> list:
    d = ctx.rows("models")
    if d.empty:
        return [no_data(ctx, "models", "diffusers video transformers")]
    ctx.mark(d)
    rows = []
    for model in dict.fromkeys(d["case"]):
        m = d[d["case"] == model]
        def get(metric, m=m, **w):
            return value_of(m, metric=metric, **w)
        full = m[m["variant"] == "full_config"]
        counted = (f"{fmt(get('forward_flops', variant='full_config', backend='flop-counter'), 'FLOP')} = "
                   f"{fmt(get('forward_flops', variant='full_config', backend='analytic'), 'FLOP')} "
                   f"({get('counted_vs_analytic', variant='full_config'):+.4%})") if not full.empty else \
            "not counted at this preset"
        config = m[m["metric"] == "sample_s"]["note"].iloc[0].split("; ", 1)[1] if (m["metric"] == "sample_s").any() \
            else ""
        rows.append({
            "model": model, "counted = analytic (full config, native video)": counted,
            **{f"stage {k}: measured / predicted": _ratio(get("stage_cost_measured_over_predicted",
                                                              variant=f"stage{k}")) for k in (1, 2)},
            "pyramid saving measured": f"{get('pyramid_saving_measured', variant='pyramid'):.1%}",
            "predicted (FLOPs)": f"{get('pyramid_saving_predicted', variant='pyramid'):.1%}",
            "full / pyramid sampler": f"{fmt(get('sample_s', variant='full_sequence'), 's')} / "
                                      f"{fmt(get('sample_s', variant='pyramid'), 's')}",
            "measured config": config})
    schedule = d[d["metric"] == "pyramid_saving_measured"]["note"].iloc[0].split(";")[0]
    return [image(_plot_savings(ctx, d), "Pyramid saving per model: measured by timing the samplers vs predicted "
                                         "from counted FLOPs"),
            table(pd.DataFrame(rows), f"Each family's diffusers transformer through pfbench's samplers ({schedule}); "
                                      "a stage's measured / predicted is its forward time over the full size's, "
                                      "divided by the same ratio of counted FLOPs (1: time follows FLOPs)"),
            text("Counted FLOPs come from torch's FlopCounterMode over the module on the meta device; analytic ones "
                 "from the card (pfbench.accounting.card_flops). `pfbench flops --arch NAME --counted` prints both "
                 "per stage and per term. Reduced configs are the same classes with fewer layers and narrower "
                 "heads; small stages of a small config pay fixed per-call costs, so measured > predicted there.")]


def _plot_savings(ctx, d: pd.DataFrame):
    import matplotlib.pyplot as plt
    import numpy as np
    models = list(dict.fromkeys(d["case"]))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * len(models)), 3.6))
    x = np.arange(len(models))
    for j, (metric, label) in enumerate((("pyramid_saving_predicted", "predicted (counted FLOPs)"),
                                         ("pyramid_saving_measured", "measured (sampler time)"))):
        vals = [value_of(d[d["case"] == m], metric=metric, variant="pyramid") for m in models]
        ax.bar(x + (j - 0.5) * 0.38, vals, 0.38, label=label)
    ax.axhline(0, color="black", lw=0.6)
    ax.set_xticks(x, models, rotation=15, ha="right", fontsize=8)
    ax.set_ylabel("saving vs full-sequence")
    ax.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return ctx.save(fig, "model_savings")


section = section_models
