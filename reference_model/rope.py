"""Rotary position encoding over (frame, row, column) with fractional positions: the head dimension is split over
the three axes, each pair of channels rotated by its position's angle, so attention scores depend on relative
positions only (RoFormer's rotary embedding, extended to 3D as in the public video DiTs)."""
from __future__ import annotations

import torch


def rope_axis_dims(head_dim: int) -> tuple[int, int, int]:
    """Split of the head dimension over (frame, row, column): about 1/4, 3/8, 3/8, each even."""
    if head_dim % 2:
        raise ValueError(f"head_dim {head_dim} must be even for rotary encoding")
    t = 2 * max(1, round(head_dim / 8))
    h = 2 * ((head_dim - t) // 4)
    return t, h, head_dim - t - h


def rope_angles(positions: torch.Tensor, head_dim: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin tables for fractional 3D positions (L, 3) -> two (L, head_dim / 2) tensors."""
    angles = []
    for axis, dim in enumerate(rope_axis_dims(head_dim)):
        inv_freq = theta ** (-torch.arange(0, dim, 2, device=positions.device, dtype=torch.float32) / dim)
        angles.append(positions[:, axis, None].float() * inv_freq)  # (L, dim / 2)
    angle = torch.cat(angles, dim=-1)  # (L, head_dim / 2)
    return angle.cos(), angle.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate adjacent channel pairs of x (B, heads, L, head_dim) by the position angles."""
    x1, x2 = x.float().unflatten(-1, (-1, 2)).unbind(-1)  # (B, heads, L, head_dim / 2) each
    out = torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)  # (B, heads, L, head_dim / 2, 2)
    return out.flatten(-2).to(x.dtype)
