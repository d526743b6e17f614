"""Tokens, attention pairs and FLOPs per variant at the paper's sizes and the run preset.

Every analytic number (pfbench.accounting) is recorded next to its twin counted from reference_model's
real layout builder, and next to the paper's stated number where there is one. The benchmark times the
counting itself (enumerating every layout a variant builds).
"""
from __future__ import annotations

import pytest

from pfbench.accounting.counted import counted_counts, token_reduction
from pfbench.accounting.flops import variant_counts
from pfbench.accounting.plan import paper_plan_summary
from pfbench.accounting.shapes import ModelShape, VideoShape
from pfbench.core.config import VideoSpec, get_preset
from reference_model.variants import VARIANTS

PAPER_PRESETS = ("paper-384p-5s", "paper-768p-5s", "paper-768p-10s")
# The paper's stated final-stage sequence lengths (PAPER_FACTS.md, "Token and compute counts").
PAPER_MAX_TOKENS = {("paper-768p-10s", "full_sequence"): 119_040, ("paper-768p-10s", "pyramid_ar"): 15_360,
                    ("paper-768p-5s", "full_sequence"): 61_440, ("paper-768p-5s", "pyramid_ar"): 11_760}
UNITS = {"max_tokens": "tokens", "mean_tokens": "tokens", "attention_pairs": "pairs", "max_attention_pairs": "pairs",
         "train_flops_per_sample": "FLOP"}


def _shapes(preset):
    shape = VideoShape.from_preset(preset)
    model = ModelShape.from_preset(preset)
    schedule = preset.sampling_schedule()
    return shape, model, schedule


@pytest.mark.parametrize("preset_name", PAPER_PRESETS + ("run",))
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_tokens_analytic_vs_counted(benchmark, pf_preset, pf_record, preset_name, variant):
    preset = pf_preset if preset_name == "run" else get_preset(preset_name)
    shape, model, schedule = _shapes(preset)
    analytic = variant_counts(variant, shape, model, schedule)
    # one warm-up round: the first count in a process pays one-time set-up (seen: 1.4 s against 0.6 ms warm)
    counted = benchmark.pedantic(counted_counts, args=(variant, shape, model), rounds=3, warmup_rounds=1,
                                 iterations=1)
    benchmark.extra_info.update(case=preset.name, variant=variant, backend="counted",
                                max_tokens=counted["max_tokens"], layouts_counted=shape.frames * shape.stages)
    rows = []
    for metric, unit in UNITS.items():
        a = getattr(analytic, metric)
        rows.append(dict(case=preset.name, variant=variant, metric=metric, value=a, unit=unit, backend="analytic"))
        rows.append(dict(case=preset.name, variant=variant, metric=metric, value=counted[metric], unit=unit,
                         backend="counted"))
    rows.append(dict(case=preset.name, variant=variant, metric="sample_flops_per_video",
                     value=analytic.sample_flops_per_video, unit="FLOP", backend="analytic",
                     note=f"{analytic.sample_forwards_per_video} model evaluations, no guidance"))
    paper = PAPER_MAX_TOKENS.get((preset.name, variant))
    if paper is not None:
        rows.append(dict(case=preset.name, variant=variant, metric="max_tokens", value=paper, unit="tokens",
                         backend="paper"))
    pf_record(rows)
    for metric in ("max_tokens", "mean_tokens", "attention_pairs", "max_attention_pairs"):
        assert counted[metric] == pytest.approx(getattr(analytic, metric), rel=1e-12), metric
    assert counted["train_flops_per_sample"] == pytest.approx(analytic.train_flops_per_sample, rel=1e-12)
    if paper is not None:
        assert analytic.max_tokens == paper


def test_tokens_against_video_length(pf_record):
    """768p, 1..10 s: sequence lengths and attention pairs per variant (for the report's length plot)."""
    rows = []
    for seconds in range(1, 11):
        video = VideoSpec(1280, 768, seconds)
        shape = VideoShape.from_video(video)
        model = ModelShape.from_preset(get_preset("paper-768p-10s"))
        for variant in VARIANTS:
            a = variant_counts(variant, shape, model)
            for metric, unit in (("max_tokens", "tokens"), ("mean_tokens", "tokens"), ("attention_pairs", "pairs"),
                                 ("train_flops_per_sample", "FLOP")):
                rows.append(dict(case=f"768p-{seconds}s", variant=variant, metric=metric, value=getattr(a, metric),
                                 unit=unit, backend="analytic", x_name="seconds", x_value=seconds))
    pf_record(rows)
    ten = {r["variant"]: r["value"] for r in rows if r["case"] == "768p-10s" and r["metric"] == "max_tokens"}
    assert token_reduction(ten["full_sequence"], ten["pyramid_ar"]) == pytest.approx(0.871, abs=5e-4)


def test_paper_plan_gpu_hours(pf_record):
    """The MFU the paper's 20.7k A100-hours imply, and the full-sequence baseline's GPU-hours at that MFU."""
    summary = paper_plan_summary(ModelShape.from_preset(get_preset("paper-768p-10s")))
    note = "assumes: " + "; ".join(summary["assumptions"])
    pf_record([
        dict(case="paper-plan", variant="pyramid_ar", metric="gpu_hours", value=summary["reported_gpu_hours"],
             unit="GPU-h", backend="paper", note="A100-hours reported in the paper's Table 4"),
        dict(case="paper-plan", variant="pyramid_ar", metric="implied_mfu", value=summary["implied_mfu"],
             unit="fraction", backend="projection", note=note),
        dict(case="paper-plan", variant="pyramid_ar", metric="train_flops", value=summary["pyramid_ar_flops"],
             unit="FLOP", backend="analytic", note=note),
        dict(case="paper-plan", variant="full_sequence", metric="train_flops", value=summary["full_sequence_flops"],
             unit="FLOP", backend="analytic", note=note),
        dict(case="paper-plan", variant="full_sequence", metric="gpu_hours",
             value=summary["full_sequence_gpu_hours"], unit="GPU-h", backend="projection",
             note="A100-hours at the MFU the paper's budget implies; " + note),
    ])
    assert 0 < summary["implied_mfu"] < 1
    assert summary["full_sequence_gpu_hours"] > summary["reported_gpu_hours"]
