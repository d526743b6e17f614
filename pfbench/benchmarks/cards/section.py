"""The cards benchmark's report section: what a K = 3 pyramid would save for public video DiTs."""
from __future__ import annotations

import pandas as pd

from pfbench.render.blocks import image, table, text
from pfbench.render.context import no_data, value_of
from pfbench.render.format import fmt

SCHEDULE_ORDER = ["full_sequence", "spatial_pyramid", "spatio_temporal_pyramid"]


def section_card_savings(ctx) -> list:
    d = ctx.rows("cards")
    if d.empty:
        return [no_data(ctx, "cards", "architecture-card projections")]
    ctx.mark(d)
    rows = []
    for card in dict.fromkeys(d["case"]):
        c = d[d["case"] == card]
        full = c[(c["variant"] == "full_sequence") & (c["metric"] == "sample_flops_per_video")]["value"]
        for sched in SCHEDULE_ORDER:
            s = c[c["variant"] == sched]
            if s.empty:
                continue
            flops = s[s["metric"] == "sample_flops_per_video"]["value"].iloc[0]
            note = s[s["metric"] == "max_tokens"]["note"].iloc[0]
            rows.append({"model": card, "schedule": sched, "stages, steps": note.split(";")[0].replace("stages ", ""),
                         "max tokens": fmt(s[s["metric"] == "max_tokens"]["value"].iloc[0], "tokens"),
                         "inference FLOPs / video": fmt(flops, "FLOP"),
                         "saving": f"{1 - flops / full.iloc[0]:.1%}" if not full.empty else "—",
                         "train FLOPs / sample": fmt(s[s["metric"] == "train_flops_per_sample"]["value"].iloc[0],
                                                     "FLOP"),
                         **{f"{g} s": fmt(s[s["metric"] == f"gpu_seconds_{g.lower()}"]["value"].iloc[0], "s")
                            for g in ("A100", "H100", "H200")}})
    out = pd.DataFrame(rows)
    backbone = d[d["variant"] == "backbone"]
    measured = []
    for card in dict.fromkeys(backbone["case"]):
        b = backbone[backbone["case"] == card]
        get = lambda m, be=None: value_of(b, metric=m, **({"backend": be} if be else {}))  # noqa: E731
        measured.append({"model": card, "forward FLOPs (analytic)": fmt(get("forward_flops", "analytic"), "FLOP"),
                         "FlopCounterMode": fmt(get("forward_flops", "flop-counter"), "FLOP"),
                         "forward time": fmt(get("forward_s"), "s"), "MFU": fmt(get("mfu")),
                         "peak memory": fmt(get("peak_memory_bytes"), "bytes"),
                         "note": b["note"].dropna().iloc[0] if b["note"].notna().any() else ""})
    mfu = next((n.split("MFU ")[1].split(" ")[0] for n in d["note"].dropna() if "MFU " in n), "?")
    return [image(_plot_card_savings(ctx, d), "Inference FLOPs per video, full resolution vs K = 3 pyramids "
                                              "(log scale)"),
            table(out, f"What a K = 3 pyramid would save at each card's native video (rounded to a pyramid size); "
                       f"GPU-seconds are projections at a stated MFU of {mfu}, one guidance branch"),
            text("Each number comes from the card's cited public config through pfbench.accounting.card_flops; "
                 "`pfbench flops --arch NAME` reproduces any row and lists what is and is not counted.")] + (
        [table(pd.DataFrame(measured), "The reference backbone at each card's width/heads/FFN (2 blocks, no text "
                                       "path) over the card's native full-resolution clip: one forward (time, MFU "
                                       "and memory on CUDA only)")] if measured else [])


def _plot_card_savings(ctx, d: pd.DataFrame):
    import matplotlib.pyplot as plt
    import numpy as np
    f = d[d["metric"] == "sample_flops_per_video"]
    cards = list(dict.fromkeys(f["case"]))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * len(cards)), 3.8))
    width = 0.8 / len(SCHEDULE_ORDER)
    for j, sched in enumerate(SCHEDULE_ORDER):
        vals = [f[(f["case"] == c) & (f["variant"] == sched)]["value"] for c in cards]
        ax.bar(np.arange(len(cards)) + (j - 1) * width, [v.iloc[0] if len(v) else np.nan for v in vals], width,
               label=sched)
    ax.set_yscale("log")
    ax.set_xticks(np.arange(len(cards)), cards, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("FLOPs per video")
    ax.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(SCHEDULE_ORDER), frameon=False)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return ctx.save(fig, "card_savings")


section = section_card_savings
