"""A test-only oracle "model": the exact conditional velocity for a one-point data set.

With one data point x1, every training path is known up to its noise. In stage k (window [s, e]) the path is
x(t') = a(t') + c(t') n with
    a(t') = t' e D_k(x1) + (1 - t') s U_k(x1),   c(t') = t' (1 - e) + (1 - t') (1 - s),
D_k = Down(., 2^k), U_k = Up(Down(., 2^(k+1))) (D_k at the coarsest stage, where s = 0), so the exact velocity
d x / d t' = x_e - x_s = e D_k - s U_k + (s - e) n with n = (x - a(t')) / c(t'). The oracle reads the stage k
from the layout's current segment (its pyramid level), recovers the local time t' from the time it is fed
(``time_conditioning`` 'stage', the default: t' = (tau - a_k) / (b_k - a_k) on the stage's own segment of the
model's time scale; 'global': t' = (t - s) / (e - s)), solves for n and returns that velocity. Full-sequence flow matching is the K = 1 case
(window [0, 1]: v = x1 - n).

The oracle may hold several data points (N, C, T, H, W): a row's class label picks its point (no label, or the
null label, picks point 0), so samples with different data and labels are told apart.

Consequences the tests use: its training loss is ~0 for every variant (pins the target's sign and the time
fed), and Euler is exact on it (x stays on a straight line in t'), so a sampler that integrates each stage's
local time fully lands on x1 for any step count, any K and any jump noise; one fed local time instead of
global time (or global time to an oracle that expects the stage remap), or stepping only part of each window,
misses.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from reference_model.layout import PackedLayout
from reference_model.pyramid import downsample, model_time_segments, stage_windows, upsample


@dataclass(frozen=True)
class OracleConfig:
    in_channels: int
    patch_size: int
    num_classes: int = 4


class OracleModel:
    """Callable like ``DiT``: model(latents, layout, t, y, output) -> list of velocities."""

    def __init__(self, x1: torch.Tensor, num_stages: int, gamma: float = -1.0 / 3.0, patch_size: int = 2,
                 time_conditioning: str = "stage"):
        if x1.ndim != 5:
            raise ValueError("the oracle holds data points (N, C, T, H, W)")
        self.x1 = x1
        self.num_stages = num_stages
        self.windows = stage_windows(num_stages, gamma)
        self.fed = model_time_segments(self.windows) if time_conditioning == "stage" else self.windows
        self.cfg = OracleConfig(in_channels=x1.shape[1], patch_size=patch_size, num_classes=max(4, len(x1)))
        self.calls: list[tuple] = []  # (layout, batch) per forward, for counting

    @property
    def null_label(self) -> int:
        return self.cfg.num_classes

    def points(self, y: torch.Tensor | None, batch: int) -> torch.Tensor:
        """The data point of every row: x1[label], point 0 for no label or the null label. (B, C, T, H, W)."""
        if y is None:
            return self.x1[:1].expand(batch, -1, -1, -1, -1)
        index = torch.where(y == self.null_label, 0, y).long()
        if index.max() >= len(self.x1):
            raise ValueError(f"label {int(index.max())} has no data point (the oracle holds {len(self.x1)})")
        return self.x1[index]

    def velocity(self, x: torch.Tensor, seg, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Exact velocity of segment ``seg`` (its frames at its level) at fed time t (B,), x (B, C, T, h, w)."""
        k, K = seg.level, self.num_stages
        s, e = self.windows[k]
        fa, fb = self.fed[k]
        data = self.points(y, x.shape[0])[:, :, list(seg.frame_ids)].to(x.dtype)  # (B, C, T_s, H, W)
        d_k = downsample(data, 2 ** k)
        u_k = upsample(downsample(data, 2 ** (k + 1)), 2) if k < K - 1 else d_k
        tl = ((t.to(x.dtype) - fa) / (fb - fa)).view(-1, 1, 1, 1, 1)  # (B, 1, 1, 1, 1) local time
        a = tl * e * d_k + (1 - tl) * s * u_k
        c = tl * (1 - e) + (1 - tl) * (1 - s)
        n = (x - a) / c
        return e * d_k - s * u_k + (s - e) * n

    def __call__(self, latents, layout, t, y=None, output: str = "all"):
        self.calls.append((layout, latents[0].shape[0]))
        if isinstance(layout, PackedLayout):
            out, start = [], 0
            for b, lay in enumerate(layout.layouts):
                segs = latents[start:start + len(lay.segments)]
                start += len(lay.segments)
                yb = None if y is None else y[b:b + 1]
                if output == "last":
                    out.append(self.velocity(segs[-1], lay.segments[-1], t[b:b + 1], yb))
                else:
                    out += [self.velocity(z, seg, t[b:b + 1], yb) for z, seg in zip(segs, lay.segments)]
            return out
        if t.ndim == 0:
            t = t.expand(latents[0].shape[0])
        if output == "last":
            return [self.velocity(latents[-1], layout.segments[-1], t, y)]
        return [self.velocity(z, seg, t, y) for z, seg in zip(latents, layout.segments)]
