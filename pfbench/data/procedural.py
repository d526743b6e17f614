"""The embedded procedural video set: small, deterministic, offline, with a known motion per class.

There is no VAE on a CPU run, so the "latents" are RGB clips in [-1, 1] (channels = 3): what the model
generates can be scored directly by FID and the VBench-style metrics. Each clip is a smooth colour
gradient background with one coloured disc that moves at constant speed; the class sets the direction
(0 right, 1 left, 2 down, 3 up), so a conditional model has something to learn and motion metrics have
something to measure. Same (seed, index), same clip.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.utils.data import Dataset

DIRECTIONS = ((1.0, 0.0), (-1.0, 0.0), (0.0, 1.0), (0.0, -1.0))  # (dx, dy) per class


@dataclass(frozen=True)
class ProceduralVideoConfig:
    num_clips: int = 64
    channels: int = 3
    frames: int = 8
    height: int = 32
    width: int = 32
    num_classes: int = 4
    speed: float = 0.08          # disc displacement per frame, as a fraction of the width
    seed: int = 0


def make_clip(label: int, generator: torch.Generator, channels: int, frames: int, height: int,
              width: int, speed: float = 0.08) -> torch.Tensor:
    """One clip (C, T, H, W) in [-1, 1]: gradient background plus a moving disc."""
    r = lambda *shape: torch.rand(*shape, generator=generator)  # noqa: E731
    ys = torch.linspace(0, 1, height).view(1, height, 1)
    xs = torch.linspace(0, 1, width).view(1, 1, width)
    c0, c1, c2 = r(channels, 1, 1) * 2 - 1, r(channels, 1, 1) * 2 - 1, r(channels, 1, 1) * 2 - 1
    angle = float(r(1)) * 2 * math.pi
    background = 0.6 * (c0 + (c1 - c0) * (math.cos(angle) * xs + math.sin(angle) * ys))  # (C, H, W)
    background = background + 0.15 * c2 * torch.sin(2 * math.pi * (xs * (1 + 2 * float(r(1))) + ys))
    disc_color = r(channels, 1, 1) * 2 - 1  # (C, 1, 1)
    radius = 0.12 + 0.08 * float(r(1))
    cx, cy = float(r(1)), float(r(1))
    dx, dy = DIRECTIONS[label % len(DIRECTIONS)]
    frames_out = []
    for t in range(frames):
        px, py = (cx + dx * speed * t) % 1.0, (cy + dy * speed * t) % 1.0
        # distance on the torus so the disc wraps around smoothly
        ddx = torch.remainder(xs - px + 0.5, 1.0) - 0.5
        ddy = torch.remainder(ys - py + 0.5, 1.0) - 0.5
        inside = torch.sigmoid((radius - torch.sqrt(ddx ** 2 + ddy ** 2)) * width * 1.5)  # (1, H, W) soft edge
        frames_out.append(background * (1 - inside) + disc_color * inside)
    return torch.stack(frames_out, dim=1).clamp(-1, 1)  # (C, T, H, W)


class ProceduralVideos(Dataset):
    """Deterministic dataset of (clip (C, T, H, W) float32 in [-1, 1], label int64)."""

    def __init__(self, cfg: ProceduralVideoConfig = ProceduralVideoConfig()):
        self.cfg = cfg

    def __len__(self) -> int:
        return self.cfg.num_clips

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= index < len(self):
            raise IndexError(index)
        g = torch.Generator().manual_seed(self.cfg.seed * 1_000_003 + index)
        label = index % self.cfg.num_classes
        c = self.cfg
        return make_clip(label, g, c.channels, c.frames, c.height, c.width, c.speed), torch.tensor(label)

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The whole set as (N, C, T, H, W) clips and (N,) labels."""
        clips, labels = zip(*(self[i] for i in range(len(self))))
        return torch.stack(clips), torch.stack(labels)


def to_uint8_frames(clip: torch.Tensor) -> torch.Tensor:
    """A clip (C, T, H, W) in [-1, 1] -> frames (T, H, W, 3) uint8 (first three channels, grey if C = 1)."""
    if clip.ndim != 4:
        raise ValueError(f"expected a clip of shape (C, T, H, W), got {tuple(clip.shape)}")
    rgb = clip[:3] if clip.shape[0] >= 3 else clip[:1].expand(3, *clip.shape[1:])
    x = ((rgb.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)  # (3, T, H, W)
    return x.permute(1, 2, 3, 0).contiguous()  # (T, H, W, 3)
