"""The sizes the memory sweep measures: clip lengths and resolutions per variant, each with the tokens of the
largest sequence the variant builds at that size (what decides whether a training step fits)."""
from __future__ import annotations

from collections.abc import Iterable

from pfbench.core.config import Preset

RESOLUTION_MULTIPLIERS = (1.0, 1.5, 2.0, 3.0, 4.0)


# --------------------------------------------------------------------------------------------------- ladders
def frame_ladder(max_frames: int) -> list[int]:
    """1, 2, 3, ... ``max_frames``: every clip length (the frontier search measures only a few of them)."""
    if max_frames < 1:
        raise ValueError(f"memory_max_frames must be >= 1, got {max_frames}")
    return list(range(1, max_frames + 1))


def resolution_ladder(height: int, width: int, align: int,
                      multipliers: Iterable[float] = RESOLUTION_MULTIPLIERS) -> list[tuple[int, int]]:
    """(H, W) scaled by each multiplier, rounded to a multiple of ``align`` (patch_size * 2**(stages - 1)),
    ascending and without repeats."""
    sizes: list[tuple[int, int]] = []
    for m in multipliers:
        h = max(align, int(round(height * m / align)) * align)
        w = max(align, int(round(width * m / align)) * align)
        if not sizes or (h * w > sizes[-1][0] * sizes[-1][1]):
            sizes.append((h, w))
    return sizes


def largest_layout_tokens(variant: str, frames: int, height: int, width: int, patch_size: int,
                          num_stages: int) -> int:
    """Tokens in the variant's largest training layout (the one a step is measured at)."""
    from reference_model.layout import clip_layout
    from reference_model.temporal import ar_layout
    from reference_model.variants import get_variant

    v = get_variant(variant)
    if not v.autoregressive:
        return clip_layout(frames, height, width, patch_size).num_tokens
    return ar_layout(frames - 1, 0, num_stages, height, width, patch_size, not v.compressed_history,
                     v.causal).num_tokens


def sweep_points(variant: str, preset: Preset, sweep: str) -> list[dict]:
    """The ascending sizes of one sweep, as plain dicts (picklable for the child)."""
    align = preset.patch_size * 2 ** (preset.stages - 1)
    if sweep == "frames_sweep":
        shapes = [(t, preset.height, preset.width) for t in frame_ladder(preset.memory_max_frames)]
    elif sweep == "resolution_sweep":
        shapes = [(preset.frames, h, w) for h, w in resolution_ladder(preset.height, preset.width, align)]
    else:
        raise ValueError(f"unknown sweep {sweep!r}: use one of {', '.join(SWEEP_X)}")
    points = []
    for t, h, w in shapes:
        tpf = (h // preset.patch_size) * (w // preset.patch_size)
        points.append(dict(sweep=sweep, x_name=SWEEP_X[sweep],
                           x_value=float(t if sweep == "frames_sweep" else tpf), frames=t, height=h, width=w,
                           tokens_per_frame=tpf,
                           tokens=largest_layout_tokens(variant, t, h, w, preset.patch_size, preset.stages)))
    return points


SWEEP_X = {"frames_sweep": "latent_frames", "resolution_sweep": "tokens_per_frame"}
