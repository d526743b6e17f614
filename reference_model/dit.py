"""The DiT backbone for video latents, shared by every variant under test.

One forward takes a *sequence of segments* of different spatial sizes (the pyramid needs it):
each segment is a latent tensor (B, C, T_s, h_s, w_s) described by a ``SegmentSpec`` of a
``SequenceLayout``. Frames are patchified per frame, positions are 3D rotary (frame, row, column) with
fractional spatial positions allowed, conditioning is adaLN-Zero on the global time t and an optional
class label (index ``num_classes`` is the null label for classifier-free guidance). Attention goes
through ``F.scaled_dot_product_attention``; blockwise-causal layouts can skip masked blocks.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from reference_model.layout import PackedLayout, SequenceLayout

ATTENTION_BACKENDS = ("auto", "dense", "chunked", "flex")


@dataclass(frozen=True)
class DiTConfig:
    """Backbone shape. ``num_classes`` = 0 makes the model unconditional (null label only)."""

    in_channels: int = 4
    patch_size: int = 2
    hidden_size: int = 128
    depth: int = 4
    num_heads: int = 4
    mlp_ratio: float = 4.0
    num_classes: int = 0
    rope_theta: float = 10000.0
    zero_init: bool = True          # adaLN-Zero: blocks start as identity, output starts at 0
    attention: str = "auto"         # auto | dense | chunked | flex

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    @property
    def mlp_hidden(self) -> int:
        return int(self.hidden_size * self.mlp_ratio)


# Size presets. ``sd3-medium-like`` copies SD3-Medium's image stream shape (24 layers, width 1536,
# 24 heads of 64, patch 2, 16 latent channels); the text stream of the MM-DiT is not modelled, so it has
# ~1.0B parameters in the image stream where SD3-Medium has ~2B over both streams.
DIT_PRESETS: dict[str, DiTConfig] = {
    "tiny": DiTConfig(hidden_size=64, depth=2, num_heads=4),
    "small": DiTConfig(hidden_size=256, depth=4, num_heads=4),
    "base": DiTConfig(hidden_size=384, depth=12, num_heads=6),
    "large": DiTConfig(hidden_size=1024, depth=24, num_heads=16),
    "sd3-medium-like": DiTConfig(in_channels=16, hidden_size=1536, depth=24, num_heads=24),
}


def dit_config(name: str, **overrides) -> DiTConfig:
    """A preset by name with field overrides (e.g. in_channels, num_classes)."""
    if name not in DIT_PRESETS:
        raise ValueError(f"unknown model size {name!r}: choose one of {', '.join(DIT_PRESETS)}")
    return DiTConfig(**{**DIT_PRESETS[name].__dict__, **overrides})


# --------------------------------------------------------------------------------------------------
# Rotary position encoding over (frame, row, column)
# --------------------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------------------
# Conditioning
# --------------------------------------------------------------------------------------------------
class TimestepEmbedder(nn.Module):
    """Sinusoidal features of t in [0, 1] (scaled to 0..1000) followed by an MLP."""

    def __init__(self, hidden_size: int, freq_dim: int = 256):
        super().__init__()
        self.freq_dim = freq_dim
        self.mlp = nn.Sequential(nn.Linear(freq_dim, hidden_size), nn.SiLU(), nn.Linear(hidden_size, hidden_size))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        half = self.freq_dim // 2
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
        args = (t.float() * 1000.0)[:, None] * freqs[None]  # (B, half)
        emb = torch.cat([args.cos(), args.sin()], dim=-1)  # (B, freq_dim)
        return self.mlp(emb.to(self.mlp[0].weight.dtype))  # (B, D)


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """x (B, L, D) scaled and shifted by per-sample (B, 1, D) or per-token (1, L, D) modulation."""
    return x * (1 + scale) + shift


def per_token(mod: torch.Tensor, sample_index: torch.Tensor | None) -> torch.Tensor:
    """Per-sample modulation (S, k * D) -> (S, 1, k * D), or gathered per packed token -> (1, L, k * D)."""
    return mod[:, None] if sample_index is None else mod[sample_index][None]


# --------------------------------------------------------------------------------------------------
# Attention with a layout-aware mask
# --------------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _compiled_flex_attention():
    """flex_attention compiled once per process (compiling per call would recompile constantly)."""
    from torch.nn.attention.flex_attention import flex_attention
    return torch.compile(flex_attention, dynamic=True)


@functools.lru_cache(maxsize=64)
def _block_mask(layout, device: str):
    """FlexAttention block mask for a layout (cached: layouts are frozen, every layer reuses it)."""
    from torch.nn.attention.flex_attention import create_block_mask

    fid = layout.token_frame_ids(device)
    length = fid.shape[0]
    if isinstance(layout, PackedLayout):
        sid = layout.token_sample_ids(device)
        causal = torch.tensor([lay.causal for lay in layout.layouts], device=device)

        def mask_mod(b, h, q_idx, kv_idx):
            same = sid[q_idx] == sid[kv_idx]
            return same & ((fid[q_idx] >= fid[kv_idx]) | ~causal[sid[q_idx]])
    else:
        def mask_mod(b, h, q_idx, kv_idx):
            return SequenceLayout.allowed(fid[q_idx], fid[kv_idx], causal=True)

    return create_block_mask(mask_mod, B=None, H=None, Q_LEN=length, KV_LEN=length, device=device)


def _flex_attention(q, k, v, layout):
    """FlexAttention with a block mask built from the layout's frame (and sample) ids: skips masked blocks.

    Compiled on CUDA (the fused kernel); eager elsewhere (materialises scores, forward only on CPU).
    """
    from torch.nn.attention.flex_attention import flex_attention

    block_mask = _block_mask(layout, str(q.device))
    fn = _compiled_flex_attention() if q.is_cuda else flex_attention
    return fn(q, k, v, block_mask=block_mask)


def layout_attention(q, k, v, layout, backend: str = "auto") -> torch.Tensor:
    """Attention of q, k, v (B, heads, L, head_dim) under the layout's rule.

    dense:   one SDPA call with an (L, L) boolean mask (reference path; pays for every pair).
    chunked: one SDPA call per block of queries over its allowed key range (a frame's prefix; a packed
             sample's own tokens): only allowed pairs are computed (and counted by FlopCounterMode).
    flex:    FlexAttention with a block mask (CUDA, compiled; eager elsewhere, slow but exact; no CPU backward).
    auto:    chunked.
    """
    chunks = layout.attention_chunks()
    if len(chunks) == 1:
        return F.scaled_dot_product_attention(q, k, v)
    if backend in ("auto", "chunked"):
        outs = [F.scaled_dot_product_attention(q[:, :, qs:qe], k[:, :, ks:ke], v[:, :, ks:ke])
                for qs, qe, ks, ke in chunks]
        return torch.cat(outs, dim=2)  # (B, heads, L, head_dim)
    if backend == "dense":
        return F.scaled_dot_product_attention(q, k, v, attn_mask=layout.dense_mask(q.device))
    if backend == "flex":
        return _flex_attention(q, k, v, layout)
    raise ValueError(f"unknown attention backend {backend!r}: choose one of {', '.join(ATTENTION_BACKENDS)}")


class Attention(nn.Module):
    def __init__(self, cfg: DiTConfig):
        super().__init__()
        self.num_heads = cfg.num_heads
        self.qkv = nn.Linear(cfg.hidden_size, 3 * cfg.hidden_size)
        self.proj = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.q_norm = nn.RMSNorm(cfg.head_dim, eps=1e-6)
        self.k_norm = nn.RMSNorm(cfg.head_dim, eps=1e-6)

    def forward(self, x, rope, layout: SequenceLayout, backend: str):
        B, L, D = x.shape
        q, k, v = self.qkv(x).view(B, L, 3, self.num_heads, D // self.num_heads).permute(2, 0, 3, 1, 4)
        # q, k, v: (B, heads, L, head_dim)
        q, k = apply_rope(self.q_norm(q), *rope), apply_rope(self.k_norm(k), *rope)
        out = layout_attention(q, k, v, layout, backend)  # (B, heads, L, head_dim)
        return self.proj(out.transpose(1, 2).reshape(B, L, D))  # (B, L, D)


class DiTBlock(nn.Module):
    """Pre-norm transformer block with adaLN-Zero modulation (shift, scale, gate for attention and MLP)."""

    def __init__(self, cfg: DiTConfig):
        super().__init__()
        self.norm1 = nn.LayerNorm(cfg.hidden_size, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(cfg)
        self.norm2 = nn.LayerNorm(cfg.hidden_size, elementwise_affine=False, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(cfg.hidden_size, cfg.mlp_hidden), nn.GELU(approximate="tanh"),
                                 nn.Linear(cfg.mlp_hidden, cfg.hidden_size))
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(cfg.hidden_size, 6 * cfg.hidden_size))

    def forward(self, x, c, rope, layout, backend, sample_index=None):
        mods = per_token(self.ada(c), sample_index)  # (B, 1, 6D) or (1, L, 6D)
        shift1, scale1, gate1, shift2, scale2, gate2 = mods.chunk(6, dim=-1)
        x = x + gate1 * self.attn(modulate(self.norm1(x), shift1, scale1), rope, layout, backend)
        x = x + gate2 * self.mlp(modulate(self.norm2(x), shift2, scale2))
        return x  # (B, L, D)


class FinalLayer(nn.Module):
    def __init__(self, cfg: DiTConfig):
        super().__init__()
        self.norm = nn.LayerNorm(cfg.hidden_size, elementwise_affine=False, eps=1e-6)
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(cfg.hidden_size, 2 * cfg.hidden_size))
        self.linear = nn.Linear(cfg.hidden_size, cfg.patch_size ** 2 * cfg.in_channels)

    def forward(self, x, c, sample_index=None):
        shift, scale = per_token(self.ada(c), sample_index).chunk(2, dim=-1)  # (B, 1, D) or (1, L, D) each
        return self.linear(modulate(self.norm(x), shift, scale))  # (B, L, p * p * C)


# --------------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------------
class DiT(nn.Module):
    """Diffusion transformer over a layout of latent segments; returns velocities per segment."""

    def __init__(self, cfg: DiTConfig):
        super().__init__()
        if cfg.hidden_size % cfg.num_heads:
            raise ValueError(f"hidden_size {cfg.hidden_size} is not divisible by num_heads {cfg.num_heads}")
        self.cfg = cfg
        self.patch_embed = nn.Linear(cfg.in_channels * cfg.patch_size ** 2, cfg.hidden_size)
        self.t_embed = TimestepEmbedder(cfg.hidden_size)
        self.y_embed = nn.Embedding(cfg.num_classes + 1, cfg.hidden_size)  # last index = null label
        self.blocks = nn.ModuleList(DiTBlock(cfg) for _ in range(cfg.depth))
        self.final = FinalLayer(cfg)
        self.gradient_checkpointing = False
        self._init_weights()

    def _init_weights(self):
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
        nn.init.normal_(self.y_embed.weight, std=0.02)
        for lin in (self.t_embed.mlp[0], self.t_embed.mlp[2]):
            nn.init.normal_(lin.weight, std=0.02)
        if self.cfg.zero_init:
            for block in self.blocks:
                nn.init.zeros_(block.ada[-1].weight)
            nn.init.zeros_(self.final.ada[-1].weight)
            nn.init.zeros_(self.final.linear.weight)

    @property
    def null_label(self) -> int:
        return self.cfg.num_classes

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # ---- patchify ------------------------------------------------------------------------------
    def patchify(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T, h, w) -> (B, T * h/p * w/p, C * p * p), frame by frame, row-major."""
        B, C, T, h, w = x.shape
        p = self.cfg.patch_size
        x = x.reshape(B, C, T, h // p, p, w // p, p).permute(0, 2, 3, 5, 1, 4, 6)  # (B, T, h/p, w/p, C, p, p)
        return x.reshape(B, T * (h // p) * (w // p), C * p * p)

    def unpatchify(self, tokens: torch.Tensor, frames: int, h: int, w: int) -> torch.Tensor:
        """(B, T * h/p * w/p, C * p * p) -> (B, C, T, h, w)."""
        B = tokens.shape[0]
        p, C = self.cfg.patch_size, self.cfg.in_channels
        x = tokens.reshape(B, frames, h // p, w // p, C, p, p).permute(0, 4, 1, 2, 5, 3, 6)  # (B, C, T, h/p, p, w/p, p)
        return x.reshape(B, C, frames, h, w)

    def _check_inputs(self, latents, layout):
        if len(latents) != len(layout.segments):
            raise ValueError(f"got {len(latents)} latent segments for a layout of {len(layout.segments)}")
        batch = latents[0].shape[0] if latents[0].ndim else 0
        for index, (x, seg) in enumerate(zip(latents, layout.segments)):
            if x.ndim != 5:
                raise ValueError(f"segment {index}: expected a (B, C, T, H, W) tensor, got shape {tuple(x.shape)}")
            expected = (self.cfg.in_channels, seg.frames, seg.height, seg.width)
            if tuple(x.shape[1:]) != expected or x.shape[0] != batch:
                raise ValueError(f"segment {index}: shape {tuple(x.shape)} does not match the layout "
                                 f"({batch}, {', '.join(map(str, expected))})")
        if isinstance(layout, PackedLayout) and batch != 1:
            raise ValueError(f"a packed layout holds one sample per sub-layout: segments need batch 1, got {batch}")

    # ---- forward -------------------------------------------------------------------------------
    def forward(self, latents: list[torch.Tensor], layout: SequenceLayout | PackedLayout, t: torch.Tensor,
                y: torch.Tensor | None = None, output: str = "all") -> list[torch.Tensor]:
        """Velocities for the segments of ``layout``.

        latents: one (B, C, T_s, h_s, w_s) tensor per segment; t: (B,) global time in [0, 1];
        y: (B,) class labels or None (null label). output='last' returns only the last segment's
        velocity (the final layer then runs on those tokens only).
        With a PackedLayout, every segment has batch 1, t and y hold one entry per packed sample, and
        output='last' returns each sample's last segment, (1, C, T, h, w) per sample.
        """
        self._check_inputs(latents, layout)
        packed = isinstance(layout, PackedLayout)
        x = torch.cat([self.patch_embed(self.patchify(z)) for z in latents], dim=1)  # (B, L, D)
        n_cond = layout.num_samples if packed else x.shape[0]
        if t.ndim == 0:
            t = t.expand(n_cond)
        if y is None:
            y = torch.full((n_cond,), self.null_label, dtype=torch.long, device=x.device)
        c = self.t_embed(t) + self.y_embed(y)  # (B, D), one row per (packed) sample
        sample_index = layout.token_sample_ids(x.device) if packed else None  # (L,) or None
        rope = rope_angles(layout.positions(x.device), self.cfg.head_dim, self.cfg.rope_theta)
        backend = self.cfg.attention
        for block in self.blocks:
            if self.gradient_checkpointing and self.training:
                x = torch.utils.checkpoint.checkpoint(block, x, c, rope, layout, backend, sample_index,
                                                      use_reentrant=False)
            else:
                x = block(x, c, rope, layout, backend, sample_index)

        if output == "last":
            if packed:
                keep = layout.current_token_index(x.device)  # (sum of current tokens,)
                x, sample_index = x[:, keep], sample_index[keep]
                segments = tuple(lay.segments[-1] for lay in layout.layouts)
            else:
                x, segments = x[:, x.shape[1] - layout.current_tokens:], layout.segments[-1:]
        elif output == "all":
            segments = layout.segments
        else:
            raise ValueError(f"output must be 'all' or 'last', got {output!r}")
        out = self.final(x, c, sample_index)  # (B, L_out, p * p * C)
        results, start = [], 0
        for seg in segments:
            n = layout.segment_tokens(seg)
            results.append(self.unpatchify(out[:, start:start + n], seg.frames, seg.height, seg.width))
            start += n
        return results


def build_model(size: str = "small", **overrides) -> DiT:
    """A DiT from a size preset name, e.g. build_model('tiny', in_channels=4)."""
    return DiT(dit_config(size, **overrides))
