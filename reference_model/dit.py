"""The DiT backbone for video latents, shared by every variant under test.

One forward takes a *sequence of segments* of different spatial sizes (the pyramid needs it):
each segment is a latent tensor (B, C, T_s, h_s, w_s) described by a ``SegmentSpec`` of a
``SequenceLayout``. Frames are patchified per frame, positions are 3D rotary (frame, row, column) with
fractional spatial positions allowed, conditioning is adaLN-Zero on the global time t and an optional
class label (index ``num_classes`` is the null label for classifier-free guidance). Attention runs through
``reference_model.attention`` (chunked SDPA on CPU, one FlexAttention kernel on CUDA; masked blocks are skipped).
Per-layout tensors (rotary tables, ids, the attention plan) are cached; on CUDA the blocks are compiled.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from reference_model.attention import ATTENTION_BACKENDS, AttentionPlan, layout_attention, resolve_backend
from reference_model.layout import PackedLayout, SequenceLayout, bucket_length
from reference_model.rope import apply_rope, rope_angles

__all__ = ["ATTENTION_BACKENDS", "DIT_PRESETS", "DiT", "DiTConfig", "build_model", "dit_config", "layout_attention"]


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
    attention: str = "auto"         # auto (flex on CUDA, chunked elsewhere) | dense | chunked | flex
    compile_blocks: bool | None = None   # torch.compile the blocks' dense parts; None: on for CUDA inputs
    compile_backend: str = "inductor"    # torch.compile backend (tests on CPU use "aot_eager")
    activation_checkpointing: bool = False  # recompute each block in the backward (training only)
    length_buckets: tuple[int, ...] = ()    # flex: pad sequences to these lengths (static kernel shapes)

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
    "sd3-medium-smoke": DiTConfig(in_channels=16, hidden_size=1536, depth=4, num_heads=24),  # gpu-smoke preset
}


def dit_config(name: str, **overrides) -> DiTConfig:
    """A preset by name with field overrides (e.g. in_channels, num_classes)."""
    if name not in DIT_PRESETS:
        raise ValueError(f"unknown model size {name!r}: choose one of {', '.join(DIT_PRESETS)}")
    return DiTConfig(**{**DIT_PRESETS[name].__dict__, **overrides})


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
# Attention (backends live in reference_model.attention)
# --------------------------------------------------------------------------------------------------
class Attention(nn.Module):
    def __init__(self, cfg: DiTConfig):
        super().__init__()
        self.num_heads = cfg.num_heads
        self.qkv = nn.Linear(cfg.hidden_size, 3 * cfg.hidden_size)
        self.proj = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.q_norm = nn.RMSNorm(cfg.head_dim, eps=1e-6)
        self.k_norm = nn.RMSNorm(cfg.head_dim, eps=1e-6)

    def heads(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor):
        """x (B, L, D) -> rotated, normalised q, k and v, each (B, heads, L, head_dim)."""
        B, L, D = x.shape
        q, k, v = self.qkv(x).view(B, L, 3, self.num_heads, D // self.num_heads).permute(2, 0, 3, 1, 4)
        # autocast may run the norms in float32: bring q, k back to v's dtype (FlexAttention needs one dtype)
        return (apply_rope(self.q_norm(q), cos, sin).to(v.dtype), apply_rope(self.k_norm(k), cos, sin).to(v.dtype), v)

    def forward(self, x, rope, attend):
        out = attend(*self.heads(x, *rope))  # (B, heads, L, head_dim)
        return self.proj(out.transpose(1, 2).flatten(2))  # (B, L, D)


class DiTBlock(nn.Module):
    """Pre-norm transformer block with adaLN-Zero modulation (shift, scale, gate for attention and MLP).

    Split at the attention call: ``pre_attention`` and ``post_attention`` are the dense parts that
    torch.compile fuses (norms, modulation, rotary, projections, MLP); attention runs between them through
    its backend (one fused FlexAttention kernel, or SDPA calls).
    """

    def __init__(self, cfg: DiTConfig):
        super().__init__()
        self.norm1 = nn.LayerNorm(cfg.hidden_size, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(cfg)
        self.norm2 = nn.LayerNorm(cfg.hidden_size, elementwise_affine=False, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(cfg.hidden_size, cfg.mlp_hidden), nn.GELU(approximate="tanh"),
                                 nn.Linear(cfg.mlp_hidden, cfg.hidden_size))
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(cfg.hidden_size, 6 * cfg.hidden_size))

    def pre_attention(self, x, mod, sample_index, cos, sin):
        """x (B, L, D), mod (S, 6D) per-sample modulation -> q, k, v (B, heads, L, head_dim)."""
        shift1, scale1 = per_token(mod[:, :2 * x.shape[-1]], sample_index).chunk(2, dim=-1)  # (B|1, 1|L, D)
        return self.attn.heads(modulate(self.norm1(x), shift1, scale1), cos, sin)

    def post_attention(self, x, out, mod, sample_index):
        """x (B, L, D) plus the gated projection of attention out (B, heads, L, head_dim), then the MLP."""
        gate1, shift2, scale2, gate2 = per_token(mod[:, 2 * x.shape[-1]:], sample_index).chunk(4, dim=-1)
        x = x + gate1 * self.attn.proj(out.transpose(1, 2).flatten(2))
        return x + gate2 * self.mlp(modulate(self.norm2(x), shift2, scale2))  # (B, L, D)

    def forward(self, x, c, rope, attend, sample_index=None, fns=None):
        """x (B, L, D), c (S, D); attend(q, k, v) is the layout's attention; fns: compiled (pre, post)."""
        pre, post = fns or (self.pre_attention, self.post_attention)
        mod = self.ada(c)  # (S, 6D): one row per sample
        return post(x, attend(*pre(x, mod, sample_index, *rope)), mod, sample_index)  # (B, L, D)


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
        self.gradient_checkpointing = cfg.activation_checkpointing  # may be toggled (memory sweeps)
        self._layouts: OrderedDict = OrderedDict()  # (layout, device, backend) -> _LayoutTensors
        self._compiled: list | None = None          # per block (pre, post) compiled functions
        self._eager_backend: str | None = None      # set by eager_reference()
        self._init_weights()

    def __getstate__(self):  # deepcopy/pickle: caches and compiled functions are rebuilt on demand
        return {**self.__dict__, "_layouts": OrderedDict(), "_compiled": None}

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

    # ---- per-layout tensors, compiled blocks ---------------------------------------------------
    LAYOUT_CACHE_SIZE = 16

    def _layout_tensors(self, layout, device: torch.device) -> _LayoutTensors:
        """Rotary tables, ids and the attention plan of ``layout``, cached (layouts are frozen and hashable)."""
        backend = resolve_backend(self._eager_backend or self.cfg.attention, device)
        key = (layout, str(device), backend)
        hit = self._layouts.get(key)
        if hit is not None:
            self._layouts.move_to_end(key)
            return hit
        with torch.inference_mode(False), torch.no_grad():  # plain tensors, reusable in any later forward
            n = layout.num_tokens
            length, bucketed = (bucket_length(n, self.cfg.length_buckets) if backend == "flex" else (n, False))
            plan = AttentionPlan.build(layout, backend, device, length, bucketed)
            cos, sin = rope_angles(layout.positions(device), self.cfg.head_dim, self.cfg.rope_theta)  # (L, hd/2)
            rope = (F.pad(cos, (0, 0, 0, length - n)), F.pad(sin, (0, 0, 0, length - n)))  # (L_pad, hd/2)
            sample_index = layout.token_sample_ids(device) if isinstance(layout, PackedLayout) else None
            block_index = None if sample_index is None else F.pad(sample_index, (0, length - n))
            keep = layout.current_token_index(device) if sample_index is not None else None
            entry = _LayoutTensors(plan, rope, sample_index, block_index, keep)
        self._layouts[key] = entry
        if len(self._layouts) > self.LAYOUT_CACHE_SIZE:
            self._layouts.popitem(last=False)
        return entry

    def compiles_blocks(self, device: torch.device | str) -> bool:
        """Whether forwards on ``device`` run compiled blocks (cfg.compile_blocks; None = on CUDA only)."""
        if self._eager_backend is not None:
            return False
        flag = self.cfg.compile_blocks
        return torch.device(device).type == "cuda" if flag is None else bool(flag)

    def _compiled_fns(self, device) -> list | None:
        if not self.compiles_blocks(device) or torch.device(device).type == "meta":
            return None
        if self._compiled is None:  # one compile serves every block (same code; parameters are inputs)
            backend = self.cfg.compile_backend
            self._compiled = [(torch.compile(b.pre_attention, backend=backend),
                               torch.compile(b.post_attention, backend=backend)) for b in self.blocks]
        return self._compiled

    @contextmanager
    def eager_reference(self, backend: str = "chunked"):
        """Eager blocks and the ``backend`` attention inside the block (default chunked): what FlopCounterMode
        needs (it cannot see into compiled code, and counts exactly the allowed pairs with chunked)."""
        previous = self._eager_backend
        self._eager_backend = resolve_backend(backend, "cpu")
        try:
            yield self
        finally:
            self._eager_backend = previous

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
        for name, v in (("t", t), ("y", y)):  # a length-1 t would broadcast over the batch silently
            if tuple(v.shape) != (n_cond,):
                raise ValueError(f"DiT.forward: {name} has shape {tuple(v.shape)} but the batch has {n_cond} "
                                 f"{'packed samples' if packed else 'samples'}: pass one {name} per sample, shape "
                                 f"({n_cond},){' (or a 0-dim t for all)' if name == 't' else ''}")
        c = self.t_embed(t) + self.y_embed(y)  # (B, D), one row per (packed) sample
        lt = self._layout_tensors(layout, x.device)
        L = x.shape[1]
        if lt.plan.length > L:  # flex: pad to the bucket length; padding tokens only see each other
            x = F.pad(x, (0, 0, 0, lt.plan.length - L))  # (B, L_pad, D)
        fns = self._compiled_fns(x.device)
        checkpoint = self.gradient_checkpointing and self.training and torch.is_grad_enabled()
        for i, block in enumerate(self.blocks):
            args = (x, c, lt.rope, lt.plan, lt.block_index, fns[i] if fns else None)
            x = torch.utils.checkpoint.checkpoint(block, *args, use_reentrant=False) if checkpoint else block(*args)
        x = x[:, :L]  # (B, L, D)
        sample_index = lt.sample_index

        if output == "last":
            if packed:
                keep = lt.keep_index  # (sum of current tokens,)
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


@dataclass(frozen=True)
class _LayoutTensors:
    """Per-layout tensors a forward needs, built once (rotary tables in float32, ids, attention plan)."""

    plan: AttentionPlan
    rope: tuple[torch.Tensor, torch.Tensor]   # cos, sin: (L_pad, head_dim / 2) each
    sample_index: torch.Tensor | None         # (L,) packed sample of every token, None when not packed
    block_index: torch.Tensor | None          # (L_pad,) the same, padding tokens mapped to sample 0
    keep_index: torch.Tensor | None           # (sum of current tokens,) packed: every sample's last segment


def build_model(size: str = "small", **overrides) -> DiT:
    """A DiT from a size preset name, e.g. build_model('tiny', in_channels=4)."""
    return DiT(dit_config(size, **overrides))
