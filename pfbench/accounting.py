"""Analytic tokens, attention pairs and FLOPs for every variant; GPU-hour and MFU arithmetic.

One source of truth for the efficiency numbers. Everything here is closed-form arithmetic on shapes:
it never builds a layout. The *counted* twins (``counted_*``) enumerate reference_model's real layouts,
so tests and suites can check that the two agree exactly.

Conventions: 1 multiply-accumulate = 2 FLOPs; a training step = 3x the forward (no recomputation);
attention over a mask costs 4 * d_model * allowed_pairs per layer (QK^T and AV).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from pfbench.config import Preset, VideoSpec
from reference_model.objectives import stage_mix_weights
from reference_model.variants import VARIANTS, SamplingSchedule, get_variant, sampling_layouts, training_layouts

A100_BF16_PEAK_FLOPS = 312e12


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


def ar_frame_flops(variant: str, shape: VideoShape, model: ModelShape, schedule: SamplingSchedule) -> list[float]:
    """Model FLOPs of generating each latent frame (index order) of an autoregressive variant, all its stages
    and steps, one guidance branch; ``schedule.history_window`` limits the history to the last W frames."""
    v = get_variant(variant)
    if not v.autoregressive:
        raise ValueError(f"variant {variant!r} is not autoregressive: per-frame cost needs pyramid_ar, "
                         "ar_full_history or pyramid_ar_bidirectional")
    cases = sampling_cases(variant, shape, schedule)    # stage-major: for each stage, frames 0..T-1
    per_frame = [0.0] * shape.frames
    for index, (case, steps) in enumerate(cases):
        per_frame[index % shape.frames] += steps * _case_forward(model, case)
    return per_frame


def forward_flops(model: ModelShape, tokens: int, pairs: int, output_tokens: int | None = None) -> int:
    """FLOPs of one forward of one sample: every matmul the backbone runs, per sample.

    patch embedding, time-embedding MLP, per block adaLN (per sample) + QKV + projection + attention over
    the allowed pairs + MLP, final adaLN and output projection (on output_tokens only).
    """
    D, M, patch_dim = model.hidden_size, model.mlp_hidden, model.in_channels * model.patch_size ** 2
    out_tokens = tokens if output_tokens is None else output_tokens
    per_block = (2 * D * 6 * D                        # adaLN modulation (per sample)
                 + 2 * tokens * D * 3 * D             # QKV
                 + 2 * tokens * D * D                 # output projection
                 + 4 * D * pairs                      # QK^T and AV over allowed pairs
                 + 2 * tokens * D * M * 2)            # MLP up and down
    embed = 2 * tokens * patch_dim * D + 2 * (model.freq_dim * D + D * D)
    final = 2 * D * 2 * D + 2 * out_tokens * D * patch_dim
    return embed + model.depth * per_block + final


def _case_forward(model: ModelShape, case: Case) -> int:
    return forward_flops(model, case.tokens, case.pairs, case.output_tokens)


@dataclass(frozen=True)
class VariantCounts:
    """The per-variant efficiency numbers (analytic)."""

    variant: str
    max_tokens: int
    mean_tokens: float
    attention_pairs: float           # mean allowed pairs per training sample
    max_attention_pairs: int
    forward_flops_per_sample: float  # mean over the training distribution
    train_flops_per_sample: float    # 3x forward
    sample_flops_per_video: float    # all model evaluations of one generated video (no guidance)
    sample_forwards_per_video: int


def variant_counts(variant: str, shape: VideoShape, model: ModelShape,
                   schedule: SamplingSchedule = SamplingSchedule()) -> VariantCounts:
    v = get_variant(variant)
    if v.autoregressive:
        return _ar_variant_counts(variant, shape, model, schedule)
    # whole-clip variants: every case is T frames of one level, bidirectional (tokens T n, pairs (T n)^2)
    T, K = shape.frames, len(schedule.steps_first_frame)
    if v.spatial_pyramid:
        weights = stage_mix_weights(shape.stage_mix, shape.stages).tolist()
        cases = [(p_k, T * shape.tokens_at_level(k)) for k, p_k in enumerate(weights) if p_k != 0]
        sampling = [(T * shape.tokens_at_level(k), shape_steps) for shape_steps, k in
                    zip(schedule.steps_first_frame, range(K - 1, -1, -1))]
    else:
        cases = [(1.0, T * shape.tokens_at_level(0))]
        sampling = [(T * shape.tokens_at_level(0), schedule.full_sequence_steps)]
    fwd = sum(p * forward_flops(model, n, n * n) for p, n in cases)
    return VariantCounts(
        variant=variant,
        max_tokens=max(n for _, n in cases),
        mean_tokens=sum(p * n for p, n in cases),
        attention_pairs=sum(p * n * n for p, n in cases),
        max_attention_pairs=max(n * n for _, n in cases),
        forward_flops_per_sample=fwd,
        train_flops_per_sample=3.0 * fwd,
        sample_flops_per_video=float(sum(steps * forward_flops(model, n, n * n) for n, steps in sampling)),
        sample_forwards_per_video=sum(steps for _, steps in sampling),
    )


def _ar_variant_counts(variant: str, shape: VideoShape, model: ModelShape, schedule: SamplingSchedule) -> VariantCounts:
    """variant_counts of an autoregressive variant in closed form (pfbench.ar_sums): the same numbers as summing
    training_cases / sampling_cases, in O(stages) arithmetic for any number of frames."""
    from pfbench.ar_sums import ar_frame_sums

    v, T = get_variant(variant), shape.frames
    zero = forward_flops(model, 0, 0, 0)

    def sums(k: int, lo: int, hi: int, window=None):
        return ar_frame_sums(shape.tokens_at_level, shape.stages, k, lo, hi, full_history=not v.compressed_history,
                             causal=v.causal, window=window)

    def flops(s, k: int) -> int:  # forward_flops is affine in (tokens, pairs, output tokens): sum the inputs
        return forward_flops(model, s.tokens, s.pairs, s.frames * shape.tokens_at_level(k)) + (s.frames - 1) * zero

    max_tokens = max_pairs = 0
    mean_tokens = pairs = fwd = 0.0
    for k, p_k in enumerate(stage_mix_weights(shape.stage_mix, shape.stages).tolist()):
        if p_k == 0:
            continue
        s = sums(k, 0, T)
        max_tokens, max_pairs = max(max_tokens, s.max_tokens), max(max_pairs, s.max_pairs)
        mean_tokens += p_k / T * s.tokens
        pairs += p_k / T * s.pairs
        fwd += p_k / T * flops(s, k)
    sample_flops = forwards = 0
    stages = len(schedule.steps_first_frame)
    for order, k in enumerate(range(stages - 1, -1, -1)):
        first, later = schedule.steps_first_frame[order], schedule.steps_later_frames[order]
        sample_flops += first * flops(sums(k, 0, min(1, T), schedule.history_window), k)
        sample_flops += later * flops(sums(k, 1, T, schedule.history_window), k)
        forwards += first * min(1, T) + later * max(0, T - 1)
    return VariantCounts(variant, max_tokens, mean_tokens, pairs, max_pairs, fwd, 3.0 * fwd, float(sample_flops),
                         forwards)


def ar_priced(variant: str, shape: VideoShape, schedule: SamplingSchedule, price) -> tuple[int, float]:
    """(cost of sampling one video, mean cost of one training forward) of an autoregressive variant, in closed form,
    for any ``price(tokens, pairs, output_tokens)`` that is affine in its arguments (forward_flops, a card's FLOPs):
    the same numbers as pricing every case of sampling_cases / training_cases, at any number of frames."""
    from pfbench.ar_sums import ar_frame_sums

    v, T = get_variant(variant), shape.frames
    zero = price(0, 0, 0)

    def cost(k: int, lo: int, hi: int, window=None):
        s = ar_frame_sums(shape.tokens_at_level, shape.stages, k, lo, hi, full_history=not v.compressed_history,
                          causal=v.causal, window=window)
        return price(s.tokens, s.pairs, s.frames * shape.tokens_at_level(k)) + (s.frames - 1) * zero

    sample = 0
    for order, k in enumerate(range(len(schedule.steps_first_frame) - 1, -1, -1)):
        sample += schedule.steps_first_frame[order] * cost(k, 0, min(1, T), schedule.history_window)
        sample += schedule.steps_later_frames[order] * cost(k, 1, T, schedule.history_window)
    train = sum(p_k / T * cost(k, 0, T) for k, p_k in enumerate(stage_mix_weights(shape.stage_mix,
                                                                                   shape.stages).tolist()) if p_k)
    return sample, train


def step_train_flops(variant: str, shape: VideoShape, model: ModelShape, stages, frames=None) -> float:
    """Analytic training FLOPs of one concrete batch: per-sample (stage, frame) draws as the loss used them."""
    v = get_variant(variant)
    total = 0.0
    for b, k in enumerate(stages):
        if not v.spatial_pyramid:
            n = shape.tokens_at_level(0)
            case = Case(1.0, (n,) * shape.frames, False, shape.frames * n)
        elif not v.autoregressive:
            n = shape.tokens_at_level(int(k))
            case = Case(1.0, (n,) * shape.frames, False, shape.frames * n)
        else:
            ft = _ar_frame_tokens(shape, int(frames[b]), int(k), not v.compressed_history)
            case = Case(1.0, ft, v.causal, ft[-1])
        total += 3.0 * _case_forward(model, case)
    return total


# --------------------------------------------------------------------------------------------------
# Counted twins: the same numbers enumerated from reference_model's real layouts
# --------------------------------------------------------------------------------------------------
# The counted twins build T x K layouts of up to T frames each (O(T^2) work): 160 latent frames (about 53 s of
# video at 24 fps with the 8x temporal VAE) count in seconds, 300 already take about a minute.
COUNTED_MAX_FRAMES = 160


def check_countable(shape: VideoShape) -> None:
    """Refuse counted layouts above COUNTED_MAX_FRAMES latent frames (the analytic numbers have no limit)."""
    if shape.frames > COUNTED_MAX_FRAMES:
        raise ValueError(f"{shape.frames} latent frames: counted layouts are limited to {COUNTED_MAX_FRAMES} latent "
                         "frames (their cost grows with the square of the length); pass --no-counted for the "
                         "closed-form numbers, which answer any duration")


def counted_counts(variant: str, shape: VideoShape, model: ModelShape | None = None) -> dict:
    """max_tokens, mean_tokens, attention_pairs (mean), max_attention_pairs counted from the layout builder;
    with ``model``, also the training FLOPs those counted layouts imply."""
    check_countable(shape)
    layouts = list(training_layouts(variant, shape.frames, shape.height, shape.width, shape.patch_size,
                                    shape.stages, shape.stage_mix))
    pairs = [(layout.attention_pairs(), p) for layout, p in layouts]
    out = {
        "max_tokens": max(layout.num_tokens for layout, _ in layouts),
        "mean_tokens": sum(p * layout.num_tokens for layout, p in layouts),
        "attention_pairs": sum(p * n for n, p in pairs),
        "max_attention_pairs": max(n for n, _ in pairs),
    }
    if model is not None:
        autoregressive = get_variant(variant).autoregressive
        out["train_flops_per_sample"] = 3.0 * sum(
            p * forward_flops(model, layout.num_tokens, n, layout.current_tokens if autoregressive else None)
            for (layout, p), (n, _) in zip(layouts, pairs))
    return out


def counted_sampling_forwards(variant: str, shape: VideoShape, schedule: SamplingSchedule) -> int:
    check_countable(shape)
    return sum(n for _, n in sampling_layouts(variant, shape.frames, shape.height, shape.width, shape.patch_size,
                                              schedule))


# --------------------------------------------------------------------------------------------------
# GPU-hours and MFU
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrainingPhase:
    name: str
    steps: int
    global_batch: int
    video: VideoSpec
    image_only: bool = False       # a single latent frame (the image phase)

    def shape(self) -> VideoShape:
        s = VideoShape.from_video(self.video)
        return VideoShape(1, s.height, s.width, s.patch_size, s.stages, s.stage_mix) if self.image_only else s


@dataclass(frozen=True)
class TrainingPlan:
    name: str
    phases: tuple[TrainingPhase, ...]
    reported_gpu_hours: float | None = None
    reported_gpu: str = "A100"
    assumptions: tuple[str, ...] = field(default_factory=tuple)


# The paper's Table 4 plan. The paper gives ranges for clip lengths; the plan takes the longest clip of each
# phase (so the implied MFU is an upper bound) and omits the text tokens of the MM-DiT.
PAPER_PLAN = TrainingPlan(
    name="paper-table4",
    phases=(
        TrainingPhase("images", 50_000, 1536, VideoSpec(640, 384, 0), image_only=True),
        TrainingPhase("low-res video", 200_000, 768, VideoSpec(640, 384, 5)),
        TrainingPhase("high-res video", 50_000, 384, VideoSpec(1280, 768, 10)),
    ),
    reported_gpu_hours=20_700.0,
    assumptions=("image phase at 384p (one latent frame)", "low-res video phase at 384p 5 s (its longest clips)",
                 "high-res video phase at 768p 10 s (its longest clips)", "text tokens of the MM-DiT not counted",
                 "SD3-Medium-like image stream: 24 layers, width 1536"),
)


def plan_flops(plan: TrainingPlan, variant: str, model: ModelShape) -> float:
    """Total training FLOPs of a plan if every sample were trained as ``variant``."""
    total = 0.0
    for phase in plan.phases:
        counts = variant_counts(variant, phase.shape(), model)
        total += phase.steps * phase.global_batch * counts.train_flops_per_sample
    return total


def gpu_hours(flops: float, peak_flops_per_s: float, mfu: float) -> float:
    """Hours of one GPU to execute ``flops`` at utilisation ``mfu`` of ``peak``."""
    if not 0 < mfu <= 1:
        raise ValueError(f"MFU must lie in (0, 1], got {mfu}")
    return flops / (peak_flops_per_s * mfu) / 3600.0


def implied_mfu(flops: float, gpu_hours_spent: float, peak_flops_per_s: float) -> float:
    """The utilisation a reported GPU-hour budget implies: FLOPs / (peak * seconds)."""
    return flops / (peak_flops_per_s * gpu_hours_spent * 3600.0)


def a100_equivalent(measured_mfu: float, flops: float) -> dict:
    """Projection: how long ``flops`` would take on an A100 (bf16 dense peak) at a measured MFU."""
    seconds = flops / (A100_BF16_PEAK_FLOPS * measured_mfu)
    return {"kind": "projection", "a100_seconds": seconds, "a100_flops_per_s": A100_BF16_PEAK_FLOPS * measured_mfu,
            "basis": f"A100 bf16 dense peak {A100_BF16_PEAK_FLOPS:.3g} FLOP/s at the measured MFU {measured_mfu:.3f}"}


def paper_plan_summary(model: ModelShape, plan: TrainingPlan = PAPER_PLAN) -> dict:
    """The MFU the paper's GPU-hours imply for pyramid_ar, and what full-sequence training would need."""
    pyramid = plan_flops(plan, "pyramid_ar", model)
    full = plan_flops(plan, "full_sequence", model)
    mfu = implied_mfu(pyramid, plan.reported_gpu_hours, A100_BF16_PEAK_FLOPS)
    return {
        "plan": plan.name, "reported_gpu_hours": plan.reported_gpu_hours, "gpu": plan.reported_gpu,
        "pyramid_ar_flops": pyramid, "full_sequence_flops": full, "implied_mfu": mfu,
        "full_sequence_gpu_hours": gpu_hours(full, A100_BF16_PEAK_FLOPS, mfu),
        "flops_ratio": full / pyramid, "assumptions": list(plan.assumptions),
    }


def all_variant_counts(shape: VideoShape, model: ModelShape, schedule: SamplingSchedule = SamplingSchedule(),
                       counted: bool = True) -> dict:
    """JSON-ready table of every variant: analytic values, and their counted twins."""
    out = {}
    for name in VARIANTS:
        a = variant_counts(name, shape, model, schedule)
        row = {key: getattr(a, key) for key in ("max_tokens", "mean_tokens", "attention_pairs", "max_attention_pairs",
                                                "train_flops_per_sample", "sample_flops_per_video",
                                                "sample_forwards_per_video")}
        if counted:
            c = counted_counts(name, shape, model)
            row["counted"] = {**c, "sample_forwards_per_video": counted_sampling_forwards(name, shape, schedule)}
        out[name] = row
    return out


def token_reduction(full: float, other: float) -> float:
    """Fractional saving of ``other`` against ``full`` (0.871 means 87.1% fewer)."""
    return 1.0 - other / full if full else math.nan
