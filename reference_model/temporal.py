"""Temporal pyramid: compressed history, its token layout, and history corruption.

When latent frame i is generated at spatial stage k, history frame i - j sits at pyramid level
min(k + j - 1, K - 1) (paper Eqs. 16-17): frame i - 1 at the current stage's resolution, i - 2 one
level coarser, and so on, capped at the coarsest. ``full_history=True`` keeps every history frame at
full resolution (the ``ar_full_history`` baseline). The sequence is history (oldest first), then the
current frame; frame ids are latent-frame indices, so the blockwise-causal rule lets the current frame
see all its history while history never sees the future. ``window=W`` keeps only the last W history
frames (a sliding window: frame i sees frames i - W .. i - 1, at the levels above), so the sequence, and
the cost of a frame, stop growing once i >= W.
"""
from __future__ import annotations

import torch

from reference_model.layout import SegmentSpec, SequenceLayout
from reference_model.pyramid import downsample

HISTORY_CORRUPTION_MAX = 1.0 / 3.0


def history_level(j: int, k: int, num_stages: int, full_history: bool = False) -> int:
    """Pyramid level of history frame i - j (j >= 1) while generating at stage k."""
    if j < 1:
        raise ValueError(f"history offset j must be >= 1, got {j}")
    return 0 if full_history else min(k + j - 1, num_stages - 1)


def history_frames(frame_index: int, window: int | None = None) -> range:
    """History frame indices of current frame i, oldest first: 0 .. i-1, or the last ``window`` of them."""
    if window is not None and window < 0:
        raise ValueError(f"history window must be >= 0 frames (or None for all), got {window}")
    return range(0 if window is None else max(0, frame_index - window), frame_index)


def history_levels(frame_index: int, k: int, num_stages: int, full_history: bool = False,
                   window: int | None = None) -> list[int]:
    """Levels of the history frames (oldest first) for current frame i at stage k."""
    return [history_level(frame_index - f, k, num_stages, full_history) for f in history_frames(frame_index, window)]


def ar_layout(frame_index: int, k: int, num_stages: int, height: int, width: int, patch_size: int = 2,
              full_history: bool = False, causal: bool = True, window: int | None = None) -> SequenceLayout:
    """Token layout for generating latent frame ``frame_index`` at stage k, shapes only.

    height/width are the full-resolution latent sizes. History frames' spatial positions are spread over
    the current frame's grid (spatial_scale = their size ratio to the current frame); the current frame
    uses integer positions. Consecutive history frames at the same level share one segment. ``window``
    keeps only the last W history frames (None: all).
    """
    if not 0 <= k < num_stages:
        raise ValueError(f"stage {k} is outside 0..{num_stages - 1}")
    cur_h, cur_w = height >> k, width >> k
    segments: list[SegmentSpec] = []
    frames = history_frames(frame_index, window)
    for frame, level in zip(frames, history_levels(frame_index, k, num_stages, full_history, window)):
        scale = 2.0 ** (level - k)
        if segments and segments[-1].level == level:
            prev = segments[-1]
            segments[-1] = SegmentSpec(prev.height, prev.width, prev.frame_ids + (frame,), scale, level, "history")
        else:
            segments.append(SegmentSpec(height >> level, width >> level, (frame,), scale, level, "history"))
    segments.append(SegmentSpec(cur_h, cur_w, (frame_index,), 1.0, k, "current"))
    return SequenceLayout(segments=tuple(segments), patch_size=patch_size, causal=causal)


def history_latents(clip: torch.Tensor, layout: SequenceLayout) -> list[torch.Tensor]:
    """Cut and downsample the history segments of ``layout`` out of a clean clip (B, C, T, H, W)."""
    out = []
    for seg in layout.segments[:-1]:
        frames = clip[:, :, list(seg.frame_ids)]  # (B, C, T_s, H, W)
        out.append(downsample(frames, 2 ** seg.level))  # (B, C, T_s, H / 2^l, W / 2^l)
    return out


def corrupt_history(history: list[torch.Tensor], generator: torch.Generator | None = None,
                    max_sigma: float = HISTORY_CORRUPTION_MAX) -> list[torch.Tensor]:
    """Training-time history corruption: sigma_c ~ U[0, max_sigma] per sample, h <- sigma_c n + (1 - sigma_c) h.

    One sigma per sample is shared by all its history frames; the noise is fresh per element.
    """
    if not history:
        return history
    B = history[0].shape[0]
    ref = history[0]
    sigma = torch.rand(B, generator=generator, device=ref.device, dtype=ref.dtype) * max_sigma  # (B,)
    sigma = sigma.view(B, 1, 1, 1, 1)
    return [sigma * torch.randn(h.shape, generator=generator, device=h.device, dtype=h.dtype) + (1 - sigma) * h
            for h in history]
