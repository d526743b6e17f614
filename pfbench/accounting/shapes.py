"""The shapes every count is made of: the backbone (ModelShape), the latent video (VideoShape), and the sequence
cases a variant trains and samples on (one Case per stage and frame, with its probability or step count).
"""
from __future__ import annotations

from dataclasses import dataclass

from pfbench.core.config import Preset, VideoSpec
from reference_model.objectives import stage_mix_weights
from reference_model.variants import SamplingSchedule, get_variant


@dataclass(frozen=True)
class ModelShape:
    """What the FLOP count needs to know about the backbone."""

    hidden_size: int
    depth: int
    mlp_hidden: int
    in_channels: int
    patch_size: int = 2
    freq_dim: int = 256

    @classmethod
    def from_config(cls, cfg) -> "ModelShape":
        return cls(cfg.hidden_size, cfg.depth, cfg.mlp_hidden, cfg.in_channels, cfg.patch_size)

    @classmethod
    def from_preset(cls, preset: Preset) -> "ModelShape":
        from reference_model.dit import dit_config
        return cls.from_config(dit_config(preset.model, in_channels=preset.channels, patch_size=preset.patch_size))


@dataclass(frozen=True)
class VideoShape:
    """Latent clip geometry plus the pyramid settings."""

    frames: int
    height: int
    width: int
    patch_size: int = 2
    stages: int = 3
    stage_mix: str | tuple = "1:2:1"

    @classmethod
    def from_preset(cls, preset: Preset) -> "VideoShape":
        return cls(preset.frames, preset.height, preset.width, preset.patch_size, preset.stages,
                   tuple(preset.stage_mix))

    @classmethod
    def from_video(cls, video: VideoSpec, stages: int = 3, stage_mix="1:2:1") -> "VideoShape":
        return cls(video.latent_frames, video.latent_height, video.latent_width, video.patch_size, stages, stage_mix)

    def tokens_at_level(self, level: int) -> int:
        """Tokens of one latent frame at pyramid level l (1 / 2^l of the full size per side)."""
        return ((self.height >> level) // self.patch_size) * ((self.width >> level) // self.patch_size)


# --------------------------------------------------------------------------------------------------
# Analytic sequences: per-frame token lists, closed-form pairs
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    """One training-sample configuration: its probability, tokens per frame in order, and the mask rule."""

    probability: float
    frame_tokens: tuple[int, ...]
    causal: bool
    output_tokens: int

    @property
    def tokens(self) -> int:
        return sum(self.frame_tokens)

    @property
    def pairs(self) -> int:
        """Allowed (query, key) pairs. Blockwise causal over frames in order: sum_f n_f * (n_1 + ... + n_f),
        which equals (S^2 + sum n_f^2) / 2 with S the total; bidirectional: S^2."""
        s = self.tokens
        if not self.causal:
            return s * s
        return (s * s + sum(n * n for n in self.frame_tokens)) // 2


def _ar_frame_tokens(shape: VideoShape, i: int, k: int, full_history: bool,
                     window: int | None = None) -> tuple[int, ...]:
    """Tokens of the history frames (0..i-1, or the last ``window`` of them; oldest first) and of the current
    frame i at stage k."""
    K = shape.stages
    first = 0 if window is None else max(0, i - window)
    history = [shape.tokens_at_level(0 if full_history else min(k + (i - f) - 1, K - 1)) for f in range(first, i)]
    return tuple(history) + (shape.tokens_at_level(k),)


def training_cases(variant: str, shape: VideoShape) -> list[Case]:
    """Every training-sample configuration of a variant with its probability (stage mix x uniform frame)."""
    v = get_variant(variant)
    T = shape.frames
    if not v.spatial_pyramid:
        n = shape.tokens_at_level(0)
        return [Case(1.0, (n,) * T, False, T * n)]
    cases = []
    for k, p_k in enumerate(stage_mix_weights(shape.stage_mix, shape.stages).tolist()):
        if p_k == 0:
            continue
        if not v.autoregressive:
            n = shape.tokens_at_level(k)
            cases.append(Case(p_k, (n,) * T, False, T * n))
            continue
        for i in range(T):
            frames = _ar_frame_tokens(shape, i, k, not v.compressed_history)
            cases.append(Case(p_k / T, frames, v.causal, frames[-1]))
    return cases


def sampling_cases(variant: str, shape: VideoShape, schedule: SamplingSchedule) -> list[tuple[Case, int]]:
    """Every forward configuration of generating one video, with its number of model evaluations."""
    v = get_variant(variant)
    T, K = shape.frames, len(schedule.steps_first_frame)
    if not v.spatial_pyramid:
        n = shape.tokens_at_level(0)
        return [(Case(1.0, (n,) * T, False, T * n), schedule.full_sequence_steps)]
    out = []
    for order, k in enumerate(range(K - 1, -1, -1)):
        if not v.autoregressive:
            n = shape.tokens_at_level(k)
            out.append((Case(1.0, (n,) * T, False, T * n), schedule.steps_first_frame[order]))
            continue
        for i in range(T):
            steps = (schedule.steps_first_frame if i == 0 else schedule.steps_later_frames)[order]
            frames = _ar_frame_tokens(shape, i, k, not v.compressed_history, schedule.history_window)
            out.append((Case(1.0, frames, v.causal, frames[-1]), steps))
    return out
