"""VBench / EvalCrafter formulas on stub encoders, flows and heads whose answers are known by hand.

The stubs are injected into a MetricContext's cache, so each test runs the real accumulators and the real
aggregation and only the networks are replaced. Every frame is a constant image whose grey value names it,
which lets a stub tell frames apart.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from pfbench.metrics.vbench.base import MetricContext
from pfbench.metrics.vbench.scoring import aggregate, chunk_array, score_stream


def constant_frames(values, h: int = 16, w: int = 16) -> np.ndarray:
    """(T, H, W, 3) uint8, frame i filled with values[i]."""
    return np.stack([np.full((h, w, 3), v, dtype=np.uint8) for v in values])


class StubEncoder:
    """Frame of grey value v -> the unit feature e_{v mod 3} (3-d)."""

    backend = "stub-encoder"

    def __call__(self, frames: np.ndarray) -> torch.Tensor:
        ids = torch.as_tensor(frames[:, 0, 0, 0].astype(np.int64) % 3)
        return torch.eye(3)[ids]  # (t, 3)


class StubFlow:
    """Flow of every pair (a, b): a constant field of magnitude ``moving(a, b)`` pixels along x."""

    name = "stub-flow"

    def __init__(self, magnitude=lambda a, b: 0.0):
        self.magnitude = magnitude

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        out = np.zeros(a.shape[:3] + (2,), np.float32)  # (P, H, W, 2)
        for i in range(len(a)):
            out[i, ..., 0] = self.magnitude(int(a[i, 0, 0, 0]), int(b[i, 0, 0, 0]))
        return out


def context(**stubs) -> MetricContext:
    ctx = MetricContext()
    ctx._cache.update(stubs)
    return ctx


def run(frames, dims, ctx, fps=8.0, chunk=2):
    scores, _ = score_stream(chunk_array(frames, chunk), fps, dims, ctx)
    return scores


def test_subject_consistency_and_clip_temp_on_orthogonal_features():
    # features e1, e2, e1: s_1 = (cos(e1, e2) + cos(e1, e2)) / 2 = 0, s_2 = (cos(e2, e1) + cos(e1, e1)) / 2 = 1/2
    frames = constant_frames([1, 2, 1])
    ctx = context(**{"enc:dino-vitb16": StubEncoder(), "enc:clip-vit-base-patch32": StubEncoder()})
    s = run(frames, ["subject_consistency", "background_consistency", "clip_temp_score"], ctx)
    assert s["subject_consistency"].value == pytest.approx(0.25)
    assert s["subject_consistency"].weight == 2
    assert s["background_consistency"].value == pytest.approx(0.25)
    assert s["clip_temp_score"].value == pytest.approx(0.0)  # consecutive frames are orthogonal
    # e1, e1, e2: clip_temp = (1 + 0) / 2; against frame 0 instead of the previous frame it would also be 1/2,
    # so use e1, e2, e2: consecutive (0 + 1) / 2 = 1/2, against frame 0 (0 + 0) / 2 = 0
    for chunk in (2, 8):  # pairs across chunk boundaries and inside one chunk
        s = run(constant_frames([1, 2, 2]), ["clip_temp_score"], ctx, chunk=chunk)
        assert s["clip_temp_score"].value == pytest.approx(0.5)
        s = run(constant_frames([1, 2, 1]), ["subject_consistency", "clip_temp_score"], ctx, chunk=chunk)
        assert s["subject_consistency"].value == pytest.approx(0.25) and s["clip_temp_score"].value == 0


def test_warping_error_of_a_brightness_ramp_under_zero_flow():
    frames = constant_frames([100, 110, 120, 130, 140])  # +10 per frame, zero motion
    s = run(frames, ["warping_error", "flow_score"], context(flow=StubFlow()))
    assert s["warping_error"].value == pytest.approx((10 / 255) ** 2, rel=1e-5)
    assert s["flow_score"].value == pytest.approx(0.0)


def test_flow_score_is_the_mean_magnitude():
    frames = constant_frames([0, 1, 2, 3])
    s = run(frames, ["flow_score"], context(flow=StubFlow(lambda a, b: float(a + 1))))
    assert s["flow_score"].value == pytest.approx((1 + 2 + 3) / 3)


@pytest.mark.parametrize("moving_pairs, dynamic", [(4, True), (3, False)])
def test_dynamic_degree_needs_exactly_the_threshold_count(moving_pairs, dynamic):
    # 16 frames at 8 fps: every frame kept, count_num = round(4 * 16 / 16) = 4 pairs above
    # thres = max(1, 8 / 8) * 6 * min(16, 16) / 256 = 0.375 px. Moving pairs get 0.5 px.
    frames = constant_frames(range(16))
    flow = StubFlow(lambda a, b: 0.5 if a < moving_pairs else 0.0)
    s = run(frames, ["dynamic_degree"], context(flow=flow), chunk=5)
    assert s["dynamic_degree"].video_result is dynamic
    assert aggregate("dynamic_degree", [s["dynamic_degree"]]) == float(dynamic)


def test_dynamic_degree_magnitude_threshold():
    frames = constant_frames(range(16))
    below = run(frames, ["dynamic_degree"], context(flow=StubFlow(lambda a, b: 0.37)))
    above = run(frames, ["dynamic_degree"], context(flow=StubFlow(lambda a, b: 0.38)))
    assert below["dynamic_degree"].video_result is False and above["dynamic_degree"].video_result is True


def test_aesthetic_quality_divides_the_head_by_ten():
    head = torch.nn.Linear(3, 1)
    with torch.no_grad():
        head.weight.zero_()
        head.bias.fill_(6.5)
    ctx = context(**{"enc:clip-vit-large-patch14": StubEncoder(), "aesthetic": head})
    s = run(constant_frames([1, 2, 3]), ["aesthetic_quality"], ctx)
    assert s["aesthetic_quality"].value == pytest.approx(0.65)
    assert aggregate("aesthetic_quality", [s["aesthetic_quality"]]) == pytest.approx(0.65)


def test_imaging_quality_is_musiq_per_video_and_divided_by_100_across_videos():
    class StubMusiq:
        def __call__(self, x):
            return torch.tensor([[70.0 if x.mean() > 0.2 else 50.0]])

    ctx = context(musiq=StubMusiq())
    bright = run(constant_frames([200, 200]), ["imaging_quality"], ctx)["imaging_quality"]
    dark = run(constant_frames([10, 10]), ["imaging_quality"], ctx)["imaging_quality"]
    assert bright.value == pytest.approx(70.0) and dark.value == pytest.approx(50.0)
    assert aggregate("imaging_quality", [bright, dark]) == pytest.approx(0.6)


def test_imaging_quality_scales_pixels_to_unit_range_and_caps_the_longer_side_at_512():
    class Recorder:
        def __init__(self):
            self.shapes = []

        def __call__(self, x):
            self.shapes.append(tuple(x.shape[-2:]))
            return torch.tensor([[float(x.max()) * 100.0]])

    rec = Recorder()
    ctx = context(musiq=rec)
    s = run(constant_frames([255, 255], h=640, w=1024), ["imaging_quality"], ctx)["imaging_quality"]
    assert s.value == pytest.approx(100.0, abs=1e-4)          # 255 / 255 = 1 -> 100
    assert rec.shapes == [(320, 512), (320, 512)]               # 1024 -> 512, aspect kept
    rec.shapes.clear()
    run(constant_frames([10], h=512, w=256), ["imaging_quality"], ctx)
    assert rec.shapes == [(512, 256)]                           # <= 512 stays


def test_aggregate_uses_only_ok_included_values():
    from pfbench.metrics.vbench.base import VideoScore
    scores = [VideoScore("temporal_flickering", 0.5, "b"), VideoScore("temporal_flickering", 0.9, "b", status="error"),
              VideoScore("temporal_flickering", 0.1, "b", include=False),
              VideoScore("temporal_flickering", None, "b", status="skipped")]
    assert aggregate("temporal_flickering", scores) == pytest.approx(0.5)
    assert aggregate("temporal_flickering", scores[1:]) is None
    weighted = [VideoScore("subject_consistency", 1.0, "b", weight=3), VideoScore("subject_consistency", 0.0, "b", weight=1)]
    assert aggregate("subject_consistency", weighted) == pytest.approx(0.75)


def test_quality_score_normalises_weights_and_marks_partial():
    from pfbench.metrics.vbench.names import NORMALIZATION, QUALITY_DIMENSIONS
    from pfbench.metrics.vbench.scoring import quality_score
    top = {name: NORMALIZATION[name][1] for name in QUALITY_DIMENSIONS}
    full = quality_score(top)
    assert full.score == pytest.approx(1.0) and not full.partial and full.missing == []
    # subject consistency halfway between its Min and Max, the rest at Max: (6.5 - 0.5) / 6.5
    half = dict(top, subject_consistency=(0.1462 + 1.0) / 2)
    assert quality_score(half).score == pytest.approx(6.0 / 6.5)
    # dynamic degree (weight 0.5) at 0, the rest at Max: 6 / 6.5
    assert quality_score(dict(top, dynamic_degree=0.0)).score == pytest.approx(6.0 / 6.5)
    partial = quality_score({"dynamic_degree": 1.0, "temporal_flickering": 0.6293, "imaging_quality": float("nan")})
    assert partial.partial and "imaging_quality" in partial.missing and len(partial.missing) == 5
    assert partial.score == pytest.approx(0.5 / 1.5)
    assert quality_score({}).score is None
