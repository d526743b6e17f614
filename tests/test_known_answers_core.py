"""Known answers for formulas a mutation audit found untested: sampling forward counts and FLOPs, plan_flops,
history corruption, and the timing statistics."""
from __future__ import annotations

import pytest
import torch
from oracle_model import OracleModel

from pfbench.accounting.counted import counted_sampling_forwards
from pfbench.accounting.flops import forward_flops, variant_counts
from pfbench.accounting.plan import TrainingPhase, TrainingPlan, plan_flops
from pfbench.accounting.shapes import ModelShape, VideoShape
from pfbench.core.config import VideoSpec
from pfbench.measure.timing import Stats
from reference_model.temporal import HISTORY_CORRUPTION_MAX, corrupt_history
from reference_model.variants import VARIANTS, SamplingSchedule, get_variant, sample_video

PAPER_SCHEDULE = SamplingSchedule(full_sequence_steps=30, steps_first_frame=(20, 20, 20),
                                  steps_later_frames=(10, 10, 10))
SHAPE = VideoShape(frames=4, height=16, width=16, patch_size=2, stages=3)
MODEL = ModelShape(hidden_size=32, depth=2, mlp_hidden=128, in_channels=3, patch_size=2)


def _run_sampler(variant: str) -> OracleModel:
    """Generate one T = 4 clip with the oracle and keep the layouts of every forward it was asked for."""
    x1 = torch.randn((1, 3, SHAPE.frames, SHAPE.height, SHAPE.width), dtype=torch.float64)
    oracle = OracleModel(x1, 3 if get_variant(variant).spatial_pyramid else 1)
    sample_video(variant, oracle, (1, 3, SHAPE.frames, SHAPE.height, SHAPE.width),
                 generator=torch.Generator().manual_seed(0), schedule=PAPER_SCHEDULE, dtype=torch.float64)
    return oracle


@pytest.mark.parametrize("variant, forwards", [("full_sequence", 30), ("spatial_pyramid", 60), ("pyramid_ar", 150),
                                               ("ar_full_history", 150), ("pyramid_ar_bidirectional", 150)])
def test_sampling_forwards_hand_values_analytic_counted_and_run(variant, forwards):
    # full: 30 steps; spatial: 20 + 20 + 20; AR at T = 4: (20 + 20 + 20) + 3 x (10 + 10 + 10) = 150
    oracle = _run_sampler(variant)
    assert len(oracle.calls) == forwards
    assert variant_counts(variant, SHAPE, MODEL, PAPER_SCHEDULE).sample_forwards_per_video == forwards
    assert counted_sampling_forwards(variant, SHAPE, PAPER_SCHEDULE) == forwards
    from pfbench.accounting.shapes import sampling_cases
    cases = sampling_cases(variant, SHAPE, PAPER_SCHEDULE)
    assert sum(n for _, n in cases) == forwards
    counted = sorted((layout.num_tokens, layout.attention_pairs()) for layout, _ in oracle.calls)
    enumerated = sorted((c.tokens, c.pairs) for c, n in cases for _ in range(n))
    assert enumerated == counted


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_sampling_flops_equal_the_flops_of_the_forwards_the_sampler_ran(variant):
    oracle = _run_sampler(variant)
    autoregressive = get_variant(variant).autoregressive
    counted = sum(forward_flops(MODEL, layout.num_tokens, layout.attention_pairs(),
                                layout.current_tokens if autoregressive else None) for layout, _ in oracle.calls)
    assert variant_counts(variant, SHAPE, MODEL, PAPER_SCHEDULE).sample_flops_per_video == counted


def test_first_frame_schedule_applies_to_frame_zero_only():
    oracle = _run_sampler("pyramid_ar")
    frames = [layout.segments[-1].frame_ids[0] for layout, _ in oracle.calls]
    assert [frames.count(i) for i in range(4)] == [60, 30, 30, 30]


def test_plan_flops_is_steps_times_batch_times_flops_per_sample():
    model = ModelShape(hidden_size=64, depth=3, mlp_hidden=256, in_channels=16, patch_size=2)
    plan = TrainingPlan("tiny", (TrainingPhase("a", 10, 3, VideoSpec(128, 64, 0), image_only=True),
                                 TrainingPhase("b", 5, 2, VideoSpec(128, 64, 1, fps=8))))
    # full_sequence by hand: 3 x forward over all tokens, bidirectional pairs
    # phase a: 1 latent frame of 8x16 -> 4 x 8 = 32 tokens; phase b: 9 pixel frames -> 2 latent frames, 64 tokens
    flops_a = 3 * forward_flops(model, 32, 32 * 32)
    flops_b = 3 * forward_flops(model, 64, 64 * 64)
    assert plan_flops(plan, "full_sequence", model) == pytest.approx(10 * 3 * flops_a + 5 * 2 * flops_b, rel=1e-12)


def test_history_corruption_of_an_all_ones_history():
    history = [torch.ones(2, 3, 2, 8, 8), torch.ones(2, 3, 1, 4, 4)]
    out = corrupt_history(history, torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)  # the same draws in the same order: sigma per sample, then noise
    sigma = (torch.rand(2, generator=g) * HISTORY_CORRUPTION_MAX).view(2, 1, 1, 1, 1)
    for h, o in zip(history, out):
        noise = torch.randn(h.shape, generator=g)
        assert torch.allclose(o, sigma * noise + (1 - sigma) * 1.0, atol=1e-6)
    # and without replaying the draws: a large all-ones history keeps mean (1 - sigma) and std sigma per sample
    big = corrupt_history([torch.ones(2, 1, 1, 128, 128)], torch.Generator().manual_seed(4))[0].flatten(1)
    s = torch.rand(2, generator=torch.Generator().manual_seed(4)) * HISTORY_CORRUPTION_MAX
    assert torch.allclose(big.mean(1), 1 - s, atol=0.01) and torch.allclose(big.std(1), s, rtol=0.05)


def test_stats_of_a_known_sample():
    s = Stats.of((1.0, 2.0, 3.0, 4.0, 10.0))
    assert (s.median_s, s.mean_s, s.iqr_s, s.min_s, s.max_s, s.n) == (3.0, 4.0, 2.0, 1.0, 10.0, 5)
    assert s.stdev_s == pytest.approx(3.5355339, rel=1e-6)
    one = Stats.of((2.5,))
    assert (one.median_s, one.iqr_s, one.stdev_s) == (2.5, 0.0, 0.0)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_step_train_flops_of_a_concrete_batch_equals_its_counted_layouts(variant):
    from reference_model.layout import clip_layout
    from reference_model.temporal import ar_layout
    v = get_variant(variant)
    stages, frames = [0, 2, 1, 1], [3, 0, 2, 1]
    expected = 0.0
    for k, i in zip(stages, frames):
        if not v.spatial_pyramid:
            layout, out = clip_layout(SHAPE.frames, SHAPE.height, SHAPE.width, 2), None
        elif not v.autoregressive:
            layout, out = clip_layout(SHAPE.frames, SHAPE.height >> k, SHAPE.width >> k, 2, level=k), None
        else:
            layout = ar_layout(i, k, 3, SHAPE.height, SHAPE.width, 2, not v.compressed_history, v.causal)
            out = layout.current_tokens
        expected += 3 * forward_flops(MODEL, layout.num_tokens, layout.attention_pairs(), out)
    from pfbench.accounting.flops import step_train_flops
    assert step_train_flops(variant, SHAPE, MODEL, stages, frames) == expected


def test_all_variant_counts_table_and_token_reduction():
    from pfbench.accounting.counted import all_variant_counts, token_reduction
    table = all_variant_counts(SHAPE, MODEL, PAPER_SCHEDULE)
    assert set(table) == set(VARIANTS)
    for name, row in table.items():
        counts = variant_counts(name, SHAPE, MODEL, PAPER_SCHEDULE)
        assert row["max_tokens"] == counts.max_tokens and row["train_flops_per_sample"] == counts.train_flops_per_sample
        assert row["counted"]["max_tokens"] == row["max_tokens"]
        assert row["counted"]["sample_forwards_per_video"] == row["sample_forwards_per_video"]
    # T = 4 frames of 8 x 8 tokens: full sequence 256 tokens; pyramid_ar's longest: frame 3 at stage 0
    # with history 64 (level 0) + 16 (level 1) + 4 (level 2) -> 148 tokens
    assert table["full_sequence"]["max_tokens"] == 256 and table["pyramid_ar"]["max_tokens"] == 148
    assert token_reduction(256, 148) == pytest.approx(1 - 148 / 256)
    assert token_reduction(200, 50) == pytest.approx(0.75)
    assert "counted" not in all_variant_counts(SHAPE, MODEL, PAPER_SCHEDULE, counted=False)["pyramid_ar"]


def test_preset_shapes_follow_the_preset():
    from pfbench.core.config import get_preset
    preset = get_preset("cpu")
    shape = VideoShape.from_preset(preset)
    assert (shape.frames, shape.height, shape.width, shape.patch_size, shape.stages) == (
        preset.frames, preset.height, preset.width, preset.patch_size, preset.stages)
    assert shape.stage_mix == tuple(preset.stage_mix)
    model = ModelShape.from_preset(preset)
    assert (model.in_channels, model.patch_size) == (preset.channels, preset.patch_size)


def test_gpu_hours_mfu_and_a100_projection_by_hand():
    from pfbench.accounting.plan import A100_BF16_PEAK_FLOPS, a100_equivalent, gpu_hours, implied_mfu
    assert gpu_hours(3.6e15, 1e12, 0.5) == pytest.approx(2.0)
    assert gpu_hours(3.6e15, 1e12, 1.0) == pytest.approx(1.0)
    for bad in (0.0, 1.01, 2.0, -0.1):
        with pytest.raises(ValueError, match="MFU"):
            gpu_hours(1.0, 1.0, bad)
    assert implied_mfu(7.2e15, 4.0, 1e12) == pytest.approx(0.5)
    proj = a100_equivalent(0.4, 312e12 * 0.4 * 10)
    assert proj["a100_seconds"] == pytest.approx(10.0)
    assert proj["a100_flops_per_s"] == pytest.approx(A100_BF16_PEAK_FLOPS * 0.4)
    assert proj["kind"] == "projection" and "0.400" in proj["basis"]


def test_paper_plan_summary_fields():
    from pfbench.accounting.plan import A100_BF16_PEAK_FLOPS, PAPER_PLAN, paper_plan_summary
    model = ModelShape(hidden_size=1536, depth=24, mlp_hidden=6144, in_channels=16)
    s = paper_plan_summary(model)
    pyr, full = plan_flops(PAPER_PLAN, "pyramid_ar", model), plan_flops(PAPER_PLAN, "full_sequence", model)
    assert (s["plan"], s["gpu"], s["reported_gpu_hours"]) == ("paper-table4", "A100", 20_700.0)
    assert s["pyramid_ar_flops"] == pyr and s["full_sequence_flops"] == full
    assert s["flops_ratio"] == pytest.approx(full / pyr) and s["flops_ratio"] > 1
    assert s["implied_mfu"] == pytest.approx(pyr / (A100_BF16_PEAK_FLOPS * 20_700.0 * 3600.0))
    assert s["full_sequence_gpu_hours"] == pytest.approx(20_700.0 * full / pyr)
    assert s["assumptions"] == list(PAPER_PLAN.assumptions)
