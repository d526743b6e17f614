"""Fast checks of pfbench.experiments: shapes, equal-token batches, block correlation, compute-to-reach,
snapshots, FID evaluator and sample-set scoring on known inputs."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from pfbench.core.config import get_preset
from pfbench.experiments.clips import clips_to_frames, heldout_clips, procedural_clips
from pfbench.experiments.recipe import FidEvaluator, Snapshots, fid_config, initial_model, sample_clips, train_variant
from pfbench.experiments.sample_measures import block_correlation, score_sample_sets
from pfbench.experiments.shapes import (
    equal_token_batches,
    experiment_shape,
    mean_tokens_per_sample,
    train_flops_per_sample,
)
from pfbench.metrics.fid.extractors import default_extractor
from reference_model.pyramid import check_pyramid_size, upsample

VARIANTS = ("full_sequence", "spatial_pyramid", "pyramid_ar")


@pytest.mark.parametrize("name", ["smoke", "cpu", "gpu"])
def test_experiment_shapes_are_valid(name):
    base = get_preset(name)
    shape = experiment_shape(base)
    preset = shape.preset(base)
    check_pyramid_size(preset.height, preset.width, preset.stages, preset.patch_size)
    assert preset.channels == 3 and preset.model == shape.model
    conv = shape.convergence
    assert list(conv.eval_steps) == sorted(conv.eval_steps) and conv.eval_steps[-1] == conv.steps
    assert (conv.model, conv.frames, conv.height, conv.width) == (shape.model, shape.frames, shape.height, shape.width)


def test_shape_only_presets_are_refused():
    with pytest.raises(ValueError, match="shape-only"):
        experiment_shape(get_preset("paper-768p-5s"))


def test_equal_token_batches():
    base = get_preset("cpu")
    preset = experiment_shape(base).preset(base)
    batches = equal_token_batches(VARIANTS, preset, 8)
    assert batches["full_sequence"] == 8
    assert batches["full_sequence"] < batches["spatial_pyramid"] < batches["pyramid_ar"]
    full = 8 * mean_tokens_per_sample("full_sequence", preset)
    for v in VARIANTS:
        # rounding to whole clips: within half a clip's tokens of the full-sequence batch
        assert abs(batches[v] * mean_tokens_per_sample(v, preset) - full) <= mean_tokens_per_sample(v, preset) / 2
    assert train_flops_per_sample("spatial_pyramid", preset, "uniform") > train_flops_per_sample(
        "spatial_pyramid", preset, "1:2:1")


def test_block_correlation_known_inputs():
    g = torch.Generator().manual_seed(0)
    iid = torch.randn(4, 3, 2, 16, 16, generator=g)
    blocky = upsample(torch.randn(4, 3, 2, 8, 8, generator=g), 2)
    assert abs(block_correlation(iid)["value"]) < 0.05
    assert block_correlation(blocky)["value"] > 1.0
    base = get_preset("smoke")
    real, _ = heldout_clips(experiment_shape(base).preset(base), 8)
    assert abs(block_correlation(real)["value"]) < 0.05
    # shift by one pixel: a blocky image's cells straddle the grid, the sign flips
    assert block_correlation(blocky[..., 1:-1, 1:-1])["value"] < -0.5
    with pytest.raises(ValueError):
        block_correlation(iid[0])



def test_snapshots_training_and_sampling():
    base = get_preset("smoke")
    preset = experiment_shape(base).preset(base)
    data = procedural_clips(preset, 8, 0)
    init = initial_model(preset, 0)
    snaps = Snapshots((2, 4))
    result = train_variant("pyramid_ar", preset, init, data, steps=4, batch_size=2, seed=0, callback=snaps)
    assert sorted(snaps.weights) == [2, 4] and sorted(snaps.window_loss) == [2, 4]
    assert snaps.window_loss[2] == pytest.approx(np.mean(result.losses[:2]))
    final = result.model.state_dict()
    assert all(torch.equal(w, final[k]) for k, w in snaps.weights[4].items())
    # the init is copied, never trained in place
    assert all(torch.equal(a, b) for a, b in zip(init.state_dict().values(), initial_model(preset, 0).state_dict().values()))
    from reference_model.variants import SamplingSchedule
    sched = SamplingSchedule(2, (1, 1, 1), (1, 1, 1))
    a = sample_clips("spatial_pyramid", result.model, preset, 3, sched, seed=5)
    b = sample_clips("spatial_pyramid", result.model, preset, 3, sched, seed=5)
    c = sample_clips("spatial_pyramid", result.model, preset, 3, sched, seed=5, renoise=False)
    assert a.shape == (3, 3, preset.frames, 16, 16) and torch.equal(a, b) and not torch.equal(a, c)


def test_fid_evaluator_and_sample_scores():
    base = get_preset("smoke")
    shape = experiment_shape(base)
    preset = shape.preset(base)
    real, _ = heldout_clips(preset, 8)
    other, _ = procedural_clips(preset, 8, 3)
    ev = FidEvaluator(clips_to_frames(real), fid_config(shape.convergence))
    same_dist = ev(clips_to_frames(other))
    noise = ev(clips_to_frames(torch.rand(8, 3, preset.frames, 16, 16) * 2 - 1))
    assert same_dist.fid < noise.fid and same_dist.extractor == default_extractor()  # efficientnet-lite0 if installed
    from pfbench.metrics.vbench.base import VBenchConfig
    videos = [f for f in (clips_to_frames(other[:1]), clips_to_frames(other[1:2]))]
    rows = score_sample_sets({"x": videos}, 8.0, ("motion_smoothness", "temporal_flickering"), VBenchConfig(), "c")
    by = {r["metric"]: r for r in rows}
    assert set(by) == {"motion_smoothness", "temporal_flickering", "vbench_quality_score"}
    assert by["motion_smoothness"]["status"] == "ok" and 0 < by["motion_smoothness"]["value"] <= 1
    assert all(r["case"] == "c" and r["variant"] == "x" for r in rows)
