"""Sliding-window history (last W latent frames): layouts, per-frame accounting against counted layouts, sampler."""
from __future__ import annotations

import pytest
import torch

from pfbench.accounting.flops import ar_frame_flops, forward_flops
from pfbench.accounting.shapes import ModelShape, VideoShape
from reference_model.dit import DiT, dit_config
from reference_model.temporal import ar_layout, history_frames
from reference_model.variants import SamplingSchedule, get_variant, sample_video, sampling_layouts

SHAPE = VideoShape(frames=6, height=16, width=16, patch_size=2, stages=3)
MODEL = ModelShape(64, 2, 256, 3, 2)


def test_window_keeps_the_last_w_frames_at_the_temporal_pyramid_levels():
    assert list(history_frames(5, 2)) == [3, 4] and list(history_frames(1, 2)) == [0]
    assert list(history_frames(4, None)) == [0, 1, 2, 3] and list(history_frames(4, 0)) == []
    full, windowed = ar_layout(5, 0, 3, 16, 16), ar_layout(5, 0, 3, 16, 16, window=2)
    assert [s.frame_ids for s in windowed.segments] == [(3,), (4,), (5,)]
    assert [s.level for s in windowed.segments] == [1, 0, 0]          # frame i-2 one level coarser
    assert windowed.segments[-2:] == full.segments[-2:]
    assert ar_layout(2, 1, 3, 16, 16, window=5) == ar_layout(2, 1, 3, 16, 16)
    with pytest.raises(ValueError, match="window"):
        history_frames(3, -1)


@pytest.mark.parametrize("variant, window", [("pyramid_ar", None), ("pyramid_ar", 2), ("ar_full_history", None),
                                             ("ar_full_history", 1)])
def test_per_frame_flops_match_the_counted_layouts(variant, window):
    schedule = SamplingSchedule(6, (2, 3, 4), (1, 1, 2), history_window=window)
    analytic = ar_frame_flops(variant, SHAPE, MODEL, schedule)
    counted = [0.0] * SHAPE.frames
    v = get_variant(variant)
    for layout, steps in sampling_layouts(variant, SHAPE.frames, SHAPE.height, SHAPE.width, 2, schedule):
        frame = layout.segments[-1].frame_ids[0]
        counted[frame] += steps * forward_flops(MODEL, layout.num_tokens, layout.attention_pairs(),
                                                layout.current_tokens)
    assert analytic == pytest.approx(counted, rel=1e-12)
    assert v.autoregressive


def test_window_makes_the_per_frame_cost_flat_and_full_history_grows():
    schedule = SamplingSchedule(6, (2, 2, 2), (2, 2, 2))
    full = ar_frame_flops("ar_full_history", SHAPE, MODEL, schedule)
    pyramid = ar_frame_flops("pyramid_ar", SHAPE, MODEL, schedule)
    window = ar_frame_flops("pyramid_ar", SHAPE, MODEL, SamplingSchedule(6, (2, 2, 2), (2, 2, 2), history_window=2))
    assert all(b > a for a, b in zip(full, full[1:]))
    assert all(b > a for a, b in zip(pyramid[1:], pyramid[2:]))        # compressed history still grows
    assert window[2:] == [window[2]] * (SHAPE.frames - 2)                 # flat once i >= W
    assert window[:3] == pyramid[:3] and window[-1] < pyramid[-1] < full[-1]
    with pytest.raises(ValueError, match="not autoregressive"):
        ar_frame_flops("full_sequence", SHAPE, MODEL, schedule)


def test_sampler_with_a_window_is_seeded_and_a_wide_window_changes_nothing():
    torch.manual_seed(0)
    model = DiT(dit_config("tiny", in_channels=3, zero_init=False)).eval()
    shape = (1, 3, 4, 16, 16)

    def run(window):
        gen = torch.Generator().manual_seed(3)
        seen = []
        schedule = SamplingSchedule(4, (1, 1, 1), (1, 1, 1), history_window=window)
        with torch.no_grad():
            out = sample_video("pyramid_ar", model, shape, generator=gen, schedule=schedule,
                               callback=lambda info: seen.append(info["frame"]))
        return out, seen

    wide, seen = run(10)
    none, _ = run(None)
    narrow, _ = run(1)
    assert torch.equal(wide, none) and seen == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert torch.equal(narrow[:, :, :2], none[:, :, :2])                  # frames 0, 1 see the same history
    assert not torch.allclose(narrow[:, :, 3], none[:, :, 3])             # frame 3 sees less
