"""The counted twins of the analytic numbers: token and pair counts from reference_model's real layouts, and the
JSON table of every variant that puts analytic and counted values side by side.
"""
from __future__ import annotations

import math

from pfbench.accounting.flops import forward_flops, variant_counts
from pfbench.accounting.shapes import ModelShape, VideoShape
from reference_model.variants import VARIANTS, SamplingSchedule, get_variant, sampling_layouts, training_layouts

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
