"""Token layouts: which frames, at which resolutions, in what order, and who may attend to whom.

A layout is shape-only (no tensors of data), so the same object drives the real model and the
analytic/counted accounting at the paper's full sizes. A sequence is a list of segments; a segment is
a run of latent frames that share one spatial size (one pyramid level). Tokens are ordered segment by
segment, frame by frame, row-major inside a frame.

Positions for the 3D rotary encoding are (frame index, row, column) in units of the *reference grid*
(the current frame's token grid). A segment with ``spatial_scale`` s places token (i, j) at
((i + 0.5) * s - 0.5, (j + 0.5) * s - 0.5): s = 1 gives integer positions (a smaller current-stage grid
uses the first positions, i.e. it extrapolates), s = 4 spreads a 1/4-resolution history frame over the
same extent as the current frame (interpolation).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import torch


@dataclass(frozen=True)
class SegmentSpec:
    """A run of latent frames at one spatial size.

    height/width are latent sizes (before patchify). ``frame_ids`` are latent-frame indices, used both
    as temporal positions and as the attention-mask block ids. ``role`` is 'history' or 'current'.
    """

    height: int
    width: int
    frame_ids: tuple[int, ...]
    spatial_scale: float = 1.0
    level: int = 0
    role: str = "current"

    @property
    def frames(self) -> int:
        return len(self.frame_ids)


@dataclass(frozen=True)
class SequenceLayout:
    """An ordered list of segments plus the attention rule (blockwise causal or bidirectional)."""

    segments: tuple[SegmentSpec, ...]
    patch_size: int = 2
    causal: bool = False

    def __post_init__(self):
        for seg in self.segments:
            if seg.height % self.patch_size or seg.width % self.patch_size:
                raise ValueError(
                    f"segment of size {seg.height}x{seg.width} is not divisible by patch size {self.patch_size}: "
                    "use latent sizes that are multiples of patch_size * 2**(stages - 1)"
                )

    # ---- sizes -------------------------------------------------------------------------------
    def tokens_per_frame(self, seg: SegmentSpec) -> int:
        return (seg.height // self.patch_size) * (seg.width // self.patch_size)

    def segment_tokens(self, seg: SegmentSpec) -> int:
        return seg.frames * self.tokens_per_frame(seg)

    @property
    def num_tokens(self) -> int:
        return sum(self.segment_tokens(s) for s in self.segments)

    @property
    def current_tokens(self) -> int:
        """Tokens of the last segment: the ones whose velocity the model returns with output='last'."""
        return self.segment_tokens(self.segments[-1])

    # ---- per-token tensors (small: int64/float32 of length L) ----------------------------------
    @cached_property
    def frame_tokens(self) -> tuple[tuple[int, int], ...]:
        """(frame id, token count) for every frame in sequence order."""
        return tuple((fid, self.tokens_per_frame(seg)) for seg in self.segments for fid in seg.frame_ids)

    def token_frame_ids(self, device=None) -> torch.Tensor:
        """Frame id of every token, (L,) int64."""
        ids = torch.tensor([fid for fid, _ in self.frame_tokens], dtype=torch.long, device=device)
        counts = torch.tensor([n for _, n in self.frame_tokens], dtype=torch.long, device=device)
        return torch.repeat_interleave(ids, counts, output_size=self.num_tokens)  # (L,)

    def positions(self, device=None) -> torch.Tensor:
        """(frame, row, column) rotary positions of every token, (L, 3) float32."""
        parts = []
        for seg in self.segments:
            hp, wp = seg.height // self.patch_size, seg.width // self.patch_size
            rows = (torch.arange(hp, device=device, dtype=torch.float32) + 0.5) * seg.spatial_scale - 0.5
            cols = (torch.arange(wp, device=device, dtype=torch.float32) + 0.5) * seg.spatial_scale - 0.5
            frames = torch.tensor(seg.frame_ids, device=device, dtype=torch.float32)
            f, r, c = torch.meshgrid(frames, rows, cols, indexing="ij")  # (T_s, hp, wp) each
            parts.append(torch.stack([f, r, c], dim=-1).reshape(-1, 3))  # (T_s * hp * wp, 3)
        return torch.cat(parts, dim=0)  # (L, 3)

    # ---- attention rule ------------------------------------------------------------------------
    @staticmethod
    def allowed(query_frame: torch.Tensor, key_frame: torch.Tensor, causal: bool) -> torch.Tensor:
        """THE mask rule, used by every attention backend and by the pair counter.

        Blockwise causal: a token sees tokens of its own latent frame and of earlier frames.
        """
        if not causal:
            return torch.ones(torch.broadcast_shapes(query_frame.shape, key_frame.shape), dtype=torch.bool,
                              device=query_frame.device)
        return query_frame >= key_frame

    def dense_mask(self, device=None) -> torch.Tensor | None:
        """(L, L) boolean mask, True = may attend; None when bidirectional (no mask needed)."""
        if not self.causal:
            return None
        fid = self.token_frame_ids(device)
        return self.allowed(fid[:, None], fid[None, :], causal=True)  # (L, L)

    def attention_pairs(self) -> int:
        """Count allowed (query, key) pairs by applying the mask rule frame by frame.

        Exact and cheap at any size: per-frame token counts times the rule on frame ids, so the count
        comes from the same rule the model uses, without an L x L tensor.
        """
        ids = torch.tensor([fid for fid, _ in self.frame_tokens], dtype=torch.long)
        counts = torch.tensor([n for _, n in self.frame_tokens], dtype=torch.float64)
        rule = self.allowed(ids[:, None], ids[None, :], self.causal).to(torch.float64)  # (F, F)
        return int(round(float(counts @ rule @ counts)))

    def causal_chunks(self) -> list[tuple[int, int, int]]:
        """Query chunks for block-skipping attention: (q_start, q_end, k_end) per frame.

        Valid when frame ids never decrease along the sequence (history oldest first, then the current
        frame): the keys a frame's queries may see are then exactly the prefix [0, k_end).
        """
        ids = [fid for fid, _ in self.frame_tokens]
        if any(b < a for a, b in zip(ids, ids[1:])):
            raise ValueError("causal chunked attention needs non-decreasing frame ids along the sequence")
        chunks: list[tuple[int, int, int]] = []
        start, last_id = 0, None
        for fid, n in self.frame_tokens:
            if fid == last_id:  # the same frame id continues: widen the chunk
                chunks[-1] = (chunks[-1][0], start + n, start + n)
            else:
                chunks.append((start, start + n, start + n))
            start, last_id = start + n, fid
        return chunks

    @cached_property
    def _chunks(self) -> tuple[tuple[int, int, int, int], ...]:
        if not self.causal:
            return ((0, self.num_tokens, 0, self.num_tokens),)
        return tuple((qs, qe, 0, ke) for qs, qe, ke in self.causal_chunks())

    def attention_chunks(self) -> list[tuple[int, int, int, int]]:
        """(q_start, q_end, k_start, k_end) blocks that together cover exactly the allowed pairs."""
        return list(self._chunks)

    def describe(self) -> str:
        parts = [f"{s.role}[{','.join(map(str, s.frame_ids))}]@{s.height}x{s.width}" for s in self.segments]
        return f"{' + '.join(parts)} ({self.num_tokens} tokens, {'causal' if self.causal else 'bidirectional'})"


def clip_layout(frames: int, height: int, width: int, patch_size: int = 2, level: int = 0) -> SequenceLayout:
    """All frames of a clip at one resolution, bidirectional: full-sequence and spatial-pyramid training."""
    seg = SegmentSpec(height=height, width=width, frame_ids=tuple(range(frames)), level=level, role="current")
    return SequenceLayout(segments=(seg,), patch_size=patch_size, causal=False)


@dataclass(frozen=True)
class PackedLayout:
    """Several samples' layouts packed into one sequence (sequence packing, batch size 1 in the tensors).

    Samples never attend to each other; inside a sample its own rule applies. Packing lets one forward serve
    samples whose sequences differ in length (different frames and stages), so small sequences share large
    matrix multiplications instead of each paying for its own.
    """

    layouts: tuple[SequenceLayout, ...]

    def __post_init__(self):
        if not self.layouts:
            raise ValueError("a packed layout needs at least one sample layout")
        if len({layout.patch_size for layout in self.layouts}) != 1:
            raise ValueError("packed layouts must share one patch size")

    @property
    def patch_size(self) -> int:
        return self.layouts[0].patch_size

    @property
    def num_samples(self) -> int:
        return len(self.layouts)

    @property
    def segments(self) -> tuple[SegmentSpec, ...]:
        return tuple(seg for layout in self.layouts for seg in layout.segments)

    @property
    def num_tokens(self) -> int:
        return sum(layout.num_tokens for layout in self.layouts)

    def offsets(self) -> list[int]:
        out, start = [], 0
        for layout in self.layouts:
            out.append(start)
            start += layout.num_tokens
        return out

    def segment_tokens(self, seg: SegmentSpec) -> int:
        return self.layouts[0].segment_tokens(seg)

    def token_sample_ids(self, device=None) -> torch.Tensor:
        """Sample index of every token, (L,) int64."""
        counts = torch.tensor([layout.num_tokens for layout in self.layouts], device=device)
        return torch.repeat_interleave(torch.arange(self.num_samples, device=device), counts,
                                       output_size=self.num_tokens)

    def current_token_index(self, device=None) -> torch.Tensor:
        """Positions of every sample's last-segment tokens in the packed sequence, (sum of current,) int64."""
        parts = [torch.arange(o + layout.num_tokens - layout.current_tokens, o + layout.num_tokens, device=device)
                 for o, layout in zip(self.offsets(), self.layouts)]
        return torch.cat(parts)

    def positions(self, device=None) -> torch.Tensor:
        return torch.cat([layout.positions(device) for layout in self.layouts])  # (L, 3)

    def token_frame_ids(self, device=None) -> torch.Tensor:
        return torch.cat([layout.token_frame_ids(device) for layout in self.layouts])  # (L,)

    def attention_chunks(self) -> list[tuple[int, int, int, int]]:
        return [(o + qs, o + qe, o + ks, o + ke) for o, layout in zip(self.offsets(), self.layouts)
                for qs, qe, ks, ke in layout.attention_chunks()]

    def dense_mask(self, device=None) -> torch.Tensor:
        """(L, L) block-diagonal mask of the samples' own masks."""
        mask = torch.zeros(self.num_tokens, self.num_tokens, dtype=torch.bool, device=device)
        for qs, qe, ks, ke in self.attention_chunks():
            mask[qs:qe, ks:ke] = True
        return mask

    def attention_pairs(self) -> int:
        return sum(layout.attention_pairs() for layout in self.layouts)


# --------------------------------------------------------------------------------------------------
# Padding to bucket lengths (static shapes for compiled kernels)
# --------------------------------------------------------------------------------------------------
def length_buckets(max_tokens: int, count: int = 4, multiple: int = 128) -> tuple[int, ...]:
    """``count`` evenly spaced bucket lengths up to ``max_tokens``, each rounded up to ``multiple``.

    A compiled kernel is built once per bucket, so a few buckets bound the compiles; with a token-budget
    packer (every step just under its budget) most steps land in the top bucket.
    """
    if max_tokens < 1 or count < 1 or multiple < 1:
        raise ValueError(f"length_buckets needs positive max_tokens, count and multiple, got "
                         f"{max_tokens}, {count}, {multiple}")
    up = lambda n: -(-n // multiple) * multiple  # noqa: E731 - round up to the multiple
    return tuple(sorted({up(max(1, (max_tokens * (i + 1)) // count)) for i in range(count)}))


def bucket_length(num_tokens: int, buckets: tuple[int, ...] = (), multiple: int = 128) -> tuple[int, bool]:
    """(padded length, in a bucket): the smallest bucket >= num_tokens, else num_tokens rounded up to
    ``multiple`` (False: a length outside the buckets, for which a dynamic-shape kernel is used)."""
    for bucket in sorted(buckets):
        if bucket >= num_tokens:
            return bucket, True
    return -(-num_tokens // multiple) * multiple, False
