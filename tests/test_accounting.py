"""Accounting: analytic counts against counted layouts and FlopCounterMode; GPU-hour arithmetic."""
import pytest
import torch

from pfbench.accounting.counted import counted_counts
from pfbench.accounting.flops import forward_flops, variant_counts
from pfbench.accounting.plan import (
    A100_BF16_PEAK_FLOPS,
    PAPER_PLAN,
    a100_equivalent,
    gpu_hours,
    implied_mfu,
    paper_plan_summary,
    plan_flops,
)
from pfbench.accounting.shapes import Case, ModelShape, VideoShape, training_cases
from pfbench.measure.flops import count_flops
from reference_model.dit import DiT, dit_config
from reference_model.layout import PackedLayout
from reference_model.variants import VARIANTS, training_layouts

SMALL = VideoShape(frames=4, height=16, width=16, patch_size=2, stages=3)


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("shape", [SMALL, VideoShape(5, 32, 16, 2, 3, "uniform"), VideoShape(3, 16, 32, 2, 2, "1:1"),
                                   VideoShape(31, 96, 160, 2, 3)])
def test_analytic_tokens_and_pairs_equal_counted(variant, shape):
    model = ModelShape(64, 2, 256, 3)
    analytic = variant_counts(variant, shape, model)
    counted = counted_counts(variant, shape, model)
    assert counted["max_tokens"] == analytic.max_tokens
    assert counted["max_attention_pairs"] == analytic.max_attention_pairs
    assert counted["mean_tokens"] == pytest.approx(analytic.mean_tokens, rel=1e-12)
    assert counted["attention_pairs"] == pytest.approx(analytic.attention_pairs, rel=1e-12)
    assert counted["train_flops_per_sample"] == pytest.approx(analytic.train_flops_per_sample, rel=1e-12)


def test_causal_pair_formula_by_hand():
    # frames of 4, 1, 2 tokens in order, blockwise causal: 4*4 + 1*5 + 2*7 = 35
    assert Case(1.0, (4, 1, 2), True, 2).pairs == 35
    assert Case(1.0, (4, 1, 2), False, 2).pairs == 49


def test_forward_flops_by_hand():
    # D=4, M=8, C=1, p=1, one block, 2 tokens, 4 pairs, freq 256
    model = ModelShape(hidden_size=4, depth=1, mlp_hidden=8, in_channels=1, patch_size=1)
    per_block = 2 * 4 * 24 + 2 * 2 * 4 * 12 + 2 * 2 * 4 * 4 + 4 * 4 * 4 + 2 * 2 * 4 * 8 * 2
    embed = 2 * 2 * 1 * 4 + 2 * (256 * 4 + 16)
    final = 2 * 4 * 8 + 2 * 2 * 4 * 1
    assert forward_flops(model, tokens=2, pairs=4) == per_block + embed + final


def _forward_flops_measured(model, layout):
    """FlopCounterMode on one real forward of a layout (batch 1)."""
    segments = layout.segments
    latents = [torch.randn(1, model.cfg.in_channels, s.frames, s.height, s.width) for s in segments]
    if isinstance(layout, PackedLayout):
        t = torch.full((layout.num_samples,), 0.5)
    else:
        t = torch.tensor([0.5])
    output = "last" if any(s.role == "history" for s in segments) else "all"
    with torch.no_grad():
        return count_flops(lambda: model(latents, layout, t, output=output)).total_flops, output


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_analytic_flops_match_flop_counter_within_2_percent(variant):
    torch.manual_seed(0)
    cfg = dit_config("tiny", in_channels=3)
    model = DiT(cfg).eval()
    mshape = ModelShape.from_config(cfg)
    for layout, _ in training_layouts(variant, SMALL.frames, SMALL.height, SMALL.width, 2, 3):
        measured, output = _forward_flops_measured(model, layout)
        out_tokens = layout.current_tokens if output == "last" else None
        analytic = forward_flops(mshape, layout.num_tokens, layout.attention_pairs(), out_tokens)
        assert measured == pytest.approx(analytic, rel=0.02), layout.describe()


def test_packed_forward_flops_are_the_sum_of_its_samples():
    torch.manual_seed(0)
    cfg = dit_config("tiny", in_channels=3)
    model = DiT(cfg).eval()
    layouts = [layout for layout, _ in training_layouts("pyramid_ar", 4, 16, 16, 2, 3)][:5]
    packed = PackedLayout(tuple(layouts))
    measured, _ = _forward_flops_measured(model, packed)
    mshape = ModelShape.from_config(cfg)
    analytic = sum(forward_flops(mshape, l.num_tokens, l.attention_pairs(), l.current_tokens) for l in layouts)
    assert measured == pytest.approx(analytic, rel=0.02)


def test_training_cases_sum_to_one_and_mix_matters():
    for variant in VARIANTS:
        assert sum(c.probability for c in training_cases(variant, SMALL)) == pytest.approx(1.0)
    uniform = variant_counts("spatial_pyramid", VideoShape(4, 16, 16, 2, 3, "uniform"), ModelShape(64, 2, 256, 3))
    mix = variant_counts("spatial_pyramid", SMALL, ModelShape(64, 2, 256, 3))
    # 1:2:1 puts half the mass on the middle stage: (64*.25 + 16*.5 + 4*.25) * 4 frames
    assert mix.mean_tokens == pytest.approx(4 * (64 * 0.25 + 16 * 0.5 + 4 * 0.25))
    assert uniform.mean_tokens == pytest.approx(4 * (64 + 16 + 4) / 3)


def test_gpu_hour_arithmetic():
    flops = 312e12 * 0.5 * 3600  # one hour of an A100 at 50% MFU
    assert gpu_hours(flops, A100_BF16_PEAK_FLOPS, 0.5) == pytest.approx(1.0)
    assert implied_mfu(flops, 1.0, A100_BF16_PEAK_FLOPS) == pytest.approx(0.5)
    projection = a100_equivalent(0.4, flops)
    assert projection["kind"] == "projection" and projection["a100_seconds"] == pytest.approx(3600 * 0.5 / 0.4)
    with pytest.raises(ValueError, match="MFU"):
        gpu_hours(1.0, 1.0, 0.0)


def test_paper_plan_summary_is_consistent():
    model = ModelShape.from_config(dit_config("sd3-medium-like"))
    summary = paper_plan_summary(model)
    assert summary["pyramid_ar_flops"] == pytest.approx(plan_flops(PAPER_PLAN, "pyramid_ar", model))
    assert 0 < summary["implied_mfu"] < 1
    ratio = summary["full_sequence_gpu_hours"] / summary["reported_gpu_hours"]
    assert ratio == pytest.approx(summary["flops_ratio"])
