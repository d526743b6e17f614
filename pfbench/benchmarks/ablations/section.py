"""The ablations benchmark's report section: one table per ablation (corrective noise, attention, stage mix)."""
from __future__ import annotations

import pandas as pd

from pfbench.render.blocks import Block, table, text
from pfbench.render.context import ReportContext, no_data
from pfbench.render.format import fmt


def section_ablations(ctx: ReportContext) -> list[Block]:
    a = ctx.rows("ablations")
    if a.empty:
        return [no_data(ctx, "ablations", "ablation results")]
    ctx.mark(a)
    blocks = []
    for case in dict.fromkeys(a["case"]):
        d = a[a["case"] == case]
        wide = {}
        for r in d.itertuples():
            cell = fmt(r.value, r.unit) if r.status == "ok" else r.status
            if not pd.isna(r.spread):
                cell += f" ± {fmt(r.spread)}"
            wide.setdefault(r.variant, {"variant": r.variant})[f"{r.metric} [{r.backend}]" if r.backend
                                                              else r.metric] = cell
        blocks.append(table(pd.DataFrame(list(wide.values())).fillna("—"), f"Ablation: {case}"))
    missing = [c for c in ("corrective_noise", "attention", "stage_mix") if c not in set(a["case"])]
    if missing:
        blocks.append(text(f"_No rows for {', '.join(missing)} ({ctx.suite_state('ablations')})._"))
    return blocks


section = section_ablations
