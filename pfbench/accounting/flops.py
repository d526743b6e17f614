"""Analytic tokens, attention pairs and FLOPs of every variant: one source of truth for the efficiency numbers.

Everything here is closed-form arithmetic on shapes: it never builds a layout (pfbench.accounting.counted does,
and tests check the two agree exactly). Conventions: 1 multiply-accumulate = 2 FLOPs; a training step = 3x the
forward (no recomputation); attention over a mask costs 4 * d_model * allowed_pairs per layer (QK^T and AV).
"""
from __future__ import annotations

from dataclasses import dataclass

from pfbench.accounting.shapes import Case, ModelShape, VideoShape, _ar_frame_tokens, sampling_cases
from reference_model.objectives import stage_mix_weights
from reference_model.variants import SamplingSchedule, get_variant


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
    """variant_counts of an autoregressive variant in closed form (pfbench.accounting.ar_sums): the same numbers as summing
    training_cases / sampling_cases, in O(stages) arithmetic for any number of frames."""
    from pfbench.accounting.ar_sums import ar_frame_sums

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
    from pfbench.accounting.ar_sums import ar_frame_sums

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




