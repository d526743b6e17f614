"""Attention under a layout's mask, with interchangeable backends that compute the same thing.

- ``dense``:   one SDPA call with an (L, L) boolean mask: the reference (pays for every pair).
- ``chunked``: one SDPA call per block of queries over its allowed key range (a frame's prefix, a packed
               sample's own tokens): only allowed pairs are computed, and FlopCounterMode counts exactly those.
               The CPU default; on a GPU it issues one small kernel per frame per sample per layer.
- ``flex``:    FlexAttention with a block mask built from per-token (sample id, frame id): ONE fused kernel per
               call that skips masked blocks. Compiled on CUDA (once per padded length: pad packed sequences to
               a few bucket lengths, ``reference_model.layout.bucket_length``); eager elsewhere (materialises the
               scores; forward only on CPU, where FlexAttention has no backward).
- ``auto``:    flex on CUDA, chunked elsewhere.

An ``AttentionPlan`` holds everything a layout needs (chunks, masks, padded length), so a model builds it once
per layout and every layer reuses it.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from reference_model.layout import PackedLayout, SequenceLayout

ATTENTION_BACKENDS = ("auto", "dense", "chunked", "flex")


def resolve_backend(backend: str, device: torch.device | str) -> str:
    """'auto' -> 'flex' on CUDA, 'chunked' elsewhere; other names are checked and returned."""
    if backend not in ATTENTION_BACKENDS:
        raise ValueError(f"unknown attention backend {backend!r}: choose one of {', '.join(ATTENTION_BACKENDS)}")
    if backend == "auto":
        return "flex" if torch.device(device).type == "cuda" else "chunked"
    return backend


def layout_ids(layout: SequenceLayout | PackedLayout, length: int | None = None, device=None
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-token (sample id, frame id) and per-sample causal flags, padded to ``length`` tokens.

    Returns sid, fid (length,) int64 and causal (length,) bool: whether the token's sample is blockwise causal.
    Every tensor has the padded length only, so a compiled kernel sees the same shapes for any packing of one
    bucket. Padding tokens form their own bidirectional group (sample id = num_samples): they never touch real
    tokens and no row is empty.
    """
    n = layout.num_tokens
    length = n if length is None else length
    if length < n:
        raise ValueError(f"padded length {length} is shorter than the layout's {n} tokens")
    if isinstance(layout, PackedLayout):
        sid = layout.token_sample_ids(device)
        flags = [lay.causal for lay in layout.layouts]
    else:
        sid = torch.zeros(n, dtype=torch.long, device=device)
        flags = [layout.causal]
    pad = length - n
    sid = torch.cat([sid, torch.full((pad,), len(flags), dtype=torch.long, device=device)])  # (length,)
    fid = torch.cat([layout.token_frame_ids(device), torch.zeros(pad, dtype=torch.long, device=device)])
    causal = torch.tensor(flags + [False], dtype=torch.bool, device=device)[sid]  # (length,)
    return sid, fid, causal


def ids_mask_mod(sid: torch.Tensor, fid: torch.Tensor, causal: torch.Tensor):
    """FlexAttention mask_mod of THE rule on ids: same sample, and (earlier-or-same frame, or a bidirectional
    sample). Agrees with ``SequenceLayout.allowed`` inside each sample."""

    def mask_mod(b, h, q_idx, kv_idx):
        same = sid[q_idx] == sid[kv_idx]
        return same & ((fid[q_idx] >= fid[kv_idx]) | ~causal[q_idx])

    return mask_mod


@functools.lru_cache(maxsize=2)
def _compiled_flex_attention(dynamic: bool):
    """flex_attention compiled once per process: static shapes (one graph per bucket length) or dynamic."""
    from torch.nn.attention.flex_attention import flex_attention
    return torch.compile(flex_attention, dynamic=dynamic)


@dataclass
class AttentionPlan:
    """What attention needs for one layout on one device: built once, reused by every layer and step.

    ``length`` is the (possibly padded) sequence length the model runs at; ``bucketed`` says the length is one
    of a few fixed buckets, so the compiled flex kernel can use static shapes.
    """

    layout: SequenceLayout | PackedLayout
    backend: str
    device: torch.device
    length: int
    bucketed: bool = False
    chunks: tuple[tuple[int, int, int, int], ...] = ()
    _dense_mask: torch.Tensor | None = field(default=None, repr=False)
    _block_mask: object = field(default=None, repr=False)

    @classmethod
    def build(cls, layout, backend: str, device, length: int | None = None, bucketed: bool = False):
        device = torch.device(device)
        backend = resolve_backend(backend, device)
        length = layout.num_tokens if length is None else length
        if backend != "flex" and length != layout.num_tokens:
            raise ValueError(f"padding to {length} tokens is only for the flex backend, not {backend!r}")
        plan = cls(layout, backend, device, length, bucketed, tuple(layout.attention_chunks()))
        if backend == "dense" and len(plan.chunks) > 1:
            plan._dense_mask = layout.dense_mask(device)  # (L, L)
        if backend == "flex" and not plan.trivial and device.type != "meta":
            from torch.nn.attention.flex_attention import create_block_mask
            sid, fid, causal = layout_ids(layout, length, device)
            plan._block_mask = create_block_mask(ids_mask_mod(sid, fid, causal), B=None, H=None, Q_LEN=length,
                                                 KV_LEN=length, device=device, _compile=device.type == "cuda")
        return plan

    @property
    def trivial(self) -> bool:
        """One bidirectional sample without padding: plain SDPA (flash kernel on CUDA) is already exact."""
        return len(self.chunks) == 1 and self.length == self.layout.num_tokens

    def __call__(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """q, k, v (B, heads, length, head_dim) -> (B, heads, length, head_dim)."""
        if self.trivial:
            return F.scaled_dot_product_attention(q, k, v)
        if self.backend == "chunked":
            return self._chunked(q, k, v)
        if self.backend == "dense":
            return F.scaled_dot_product_attention(q, k, v, attn_mask=self._dense_mask)
        if q.device.type == "meta":  # shape-only runs: the masked result has the shape of plain attention
            return F.scaled_dot_product_attention(q, k, v)
        from torch.nn.attention.flex_attention import flex_attention
        fn = _compiled_flex_attention(not self.bucketed) if q.is_cuda else flex_attention
        return fn(q, k, v, block_mask=self._block_mask)


    def _chunked(self, q, k, v) -> torch.Tensor:
        """One SDPA call per query chunk over its key range, split per sample first: the backward of a split is
        a concatenation, and a key prefix is sliced from its own sample's keys (not from the whole sequence), so
        the backward never builds a full-length zero gradient per chunk."""
        layouts = self.layout.layouts if isinstance(self.layout, PackedLayout) else (self.layout,)
        sizes = [lay.num_tokens for lay in layouts]
        outs = []
        for lay, qs_, ks_, vs_ in zip(layouts, q.split(sizes, 2), k.split(sizes, 2), v.split(sizes, 2)):
            chunks = lay.attention_chunks()  # sample-local (q_start, q_end, k_start, k_end), queries in order
            for qc, (_, _, k0, k1) in zip(qs_.split([qe - qs for qs, qe, _, _ in chunks], 2), chunks):
                outs.append(F.scaled_dot_product_attention(qc, ks_[:, :, k0:k1], vs_[:, :, k0:k1]))
        return torch.cat(outs, dim=2)  # (B, heads, L, head_dim)


def layout_attention(q, k, v, layout, backend: str = "auto") -> torch.Tensor:
    """Attention of q, k, v (B, heads, L, head_dim) under the layout's rule (builds a one-off plan)."""
    return AttentionPlan.build(layout, backend, q.device)(q, k, v)
