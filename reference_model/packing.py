"""Token-budget batches: a training step packs samples up to a token budget instead of a fixed clip count.

Pyramid samples differ in length by ~100x (a low-resolution first frame vs the last frame at full resolution
with its history), so a fixed clip count gives steps whose cost swings with the draw and, at the mean, leaves a
GPU idle (about 1,200 tokens per pyramid_ar sample on the gpu preset). The packer draws (stage, frame) per
sample from a *stream* of stratified blocks (``objectives.stratified_draws``: stages at the quantiles of the
stage mix, frames at the quantiles of the uniform frame distribution, pairs shuffled), and cuts the stream into
steps: a step takes, again and again, the first of the next ``lookahead`` draws that still fits the budget, and
ends when none does. Nothing is dropped (a draw that does not fit waits at the front of the stream), so over a run
every draw is used once and the stage and frame distributions are exactly the stratified ones; each step holds at
most ``token_budget`` tokens, and the lookahead fills the budget closely (padding to a bucket then wastes little).

Hook for a trainer or a benchmark (batch size = what fits)::

    packer = TokenBudgetPacker("pyramid_ar", budget, frames=T, height=H, width=W, seed=seed)
    draw = packer.next_batch()                       # PackedDraw: stages, frames, tokens per sample
    loss = training_loss(variant, model, clips[:draw.size], stages=draw.stages, frames=draw.frames, ...)
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from reference_model.layout import clip_layout
from reference_model.objectives import stratified_draws
from reference_model.temporal import ar_layout
from reference_model.variants import get_variant


def sample_tokens(variant: str, stage: int, frame: int, *, frames: int, height: int, width: int,
                  patch_size: int = 2, num_stages: int = 3) -> int:
    """Tokens of one training sample of ``variant`` at (stage, current frame), from the real layout builders."""
    v = get_variant(variant)
    if not v.spatial_pyramid:
        return clip_layout(frames, height, width, patch_size).num_tokens
    if not v.autoregressive:
        return clip_layout(frames, height >> stage, width >> stage, patch_size, level=stage).num_tokens
    return ar_layout(frame, stage, num_stages, height, width, patch_size, not v.compressed_history,
                     v.causal).num_tokens


@dataclass(frozen=True)
class PackedDraw:
    """One step's samples: stage k and current frame per sample, (B,) int64 on the CPU, and their tokens."""

    stages: torch.Tensor
    frames: torch.Tensor
    tokens: tuple[int, ...]
    token_budget: int

    @property
    def size(self) -> int:
        return len(self.tokens)

    @property
    def total_tokens(self) -> int:
        return sum(self.tokens)

    @property
    def fill(self) -> float:
        """Fraction of the budget the step uses."""
        return self.total_tokens / self.token_budget


class TokenBudgetPacker:
    """Cuts a stream of stratified (stage, frame) draws into steps of at most ``token_budget`` tokens.

    ``block``: draws per stratified block (the stream is exact over each block); ``lookahead``: how many of the
    next draws a step may pick from to fill its budget (1 = strictly in order); ``max_samples`` caps a step's
    sample count (the clips a batch tensor holds). Deterministic for a seed.
    """

    def __init__(self, variant: str, token_budget: int, *, frames: int, height: int, width: int,
                 patch_size: int = 2, num_stages: int = 3, stage_mix="1:2:1", block: int = 64, seed: int = 0,
                 max_samples: int | None = None, lookahead: int = 8):
        if lookahead < 1 or block < 1:
            raise ValueError(f"lookahead and block must be >= 1, got {lookahead} and {block}")
        self.variant, self.token_budget, self.block, self.lookahead = variant, int(token_budget), block, lookahead
        self.shape = dict(frames=frames, height=height, width=width, patch_size=patch_size, num_stages=num_stages)
        self.stage_mix, self.max_samples = stage_mix, max_samples
        self._generator = torch.Generator().manual_seed(seed)
        self._stream: list[tuple[int, int, int]] = []  # (stage, frame, tokens), next draw first
        largest = max(sample_tokens(variant, k, f, **self.shape) for k in range(num_stages) for f in (0, frames - 1))
        if self.token_budget < largest:
            raise ValueError(f"token budget {self.token_budget} is below the largest {variant} sample ({largest} "
                             f"tokens at {frames} x {height} x {width}): raise the budget to at least {largest}")

    def _refill(self) -> None:
        stages, frames = stratified_draws(self.block, self.stage_mix, self.shape["num_stages"],
                                          self.shape["frames"], self._generator)
        order = torch.randperm(self.block, generator=self._generator).tolist()  # mix stages within the block
        for j in order:
            k, f = int(stages[j]), int(frames[j])
            self._stream.append((k, f, sample_tokens(self.variant, k, f, **self.shape)))

    def next_batch(self) -> PackedDraw:
        """The next step: the first of the next ``lookahead`` draws that fits, repeatedly (at least one draw)."""
        taken: list[tuple[int, int, int]] = []
        total = 0
        while self.max_samples is None or len(taken) < self.max_samples:
            while len(self._stream) < self.lookahead:
                self._refill()
            fits = next((j for j in range(self.lookahead) if total + self._stream[j][2] <= self.token_budget), None)
            if fits is None:
                break
            taken.append(self._stream.pop(fits))
            total += taken[-1][2]
        return PackedDraw(stages=torch.tensor([k for k, _, _ in taken], dtype=torch.long),
                          frames=torch.tensor([f for _, f, _ in taken], dtype=torch.long),
                          tokens=tuple(n for _, _, n in taken), token_budget=self.token_budget)

    def batches(self, steps: int) -> list[PackedDraw]:
        return [self.next_batch() for _ in range(steps)]
