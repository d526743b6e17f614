"""What the quality experiments measure on a model or its samples besides FID: held-out flow-matching losses per
stage (comparable across stage mixes), the block-artifact correlation of the renoising jump, and VBench-style
scores of sample sets.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from reference_model.variants import get_variant, training_loss


# --------------------------------------------------------------------------------------------------
# Held-out losses (a loss comparable across stage mixes)
# --------------------------------------------------------------------------------------------------
@torch.no_grad()
def heldout_stage_losses(variant: str, model, clips: torch.Tensor, labels: torch.Tensor, num_stages: int,
                         seed: int, device: str = "cpu") -> dict[int, float]:
    """The variant's loss on held-out clips with every sample forced to stage k, per k (fixed noise seed).

    Unlike the training loss, these do not depend on the stage mix a model was trained with."""
    was_training = model.training
    model.eval()
    out = {}
    for k in range(num_stages):
        gen = torch.Generator(device=device).manual_seed(seed)
        stages = torch.full((len(clips),), k, dtype=torch.long)
        frames = torch.arange(len(clips)) % clips.shape[2]
        loss = training_loss(variant, model, clips.to(device), labels.to(device), generator=gen,
                             num_stages=num_stages, stages=stages,
                             frames=frames if get_variant(variant).autoregressive else None)
        out[k] = float(loss)
    model.train(was_training)
    return out


# --------------------------------------------------------------------------------------------------
# Block artifacts
# --------------------------------------------------------------------------------------------------
def high_pass(images: torch.Tensor) -> torch.Tensor:
    """x minus its 3x3 box blur on (N, 1, H, W), valid positions only: (N, 1, H - 2, W - 2), whose pixel (i, j)
    is the input's (i + 1, j + 1). No padding, so image borders add no artificial residual."""
    return images[:, :, 1:-1, 1:-1] - F.avg_pool2d(images, 3, stride=1)


def _corr(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double().flatten() - a.double().mean(), b.double().flatten() - b.double().mean()
    denom = math.sqrt(float((a * a).sum()) * float((b * b).sum()))
    return float((a * b).sum()) / denom if denom > 0 else 0.0


def block_correlation(clips: torch.Tensor, block: int = 2) -> dict[str, float]:
    """Block-artifact measure of clips (N, C, T, H, W) (any range).

    On the high-pass residual r = x - box3x3(x) of every frame and channel (interior pixels only), the Pearson correlation of
    horizontally and vertically neighbouring pixel pairs is computed separately for pairs inside one
    ``block`` x ``block`` cell of the pyramid grid (cells aligned at 0) and for pairs straddling a cell
    border. ``value`` = within - across. A stationary image (natural or noise) has ~0: position relative to
    the grid does not matter. Nearest-upsampled content (a jump without corrective noise that the fine
    stage did not repair) makes neighbours inside a cell alike and those across a border unlike: > 0.
    """
    if clips.ndim != 5:
        raise ValueError(f"expected clips (N, C, T, H, W), got shape {tuple(clips.shape)}")
    N, C, T, H, W = clips.shape
    if H < 2 * block or W < 2 * block:
        raise ValueError(f"frames of {H}x{W} are too small for {block}x{block} blocks")
    x = clips.float().permute(0, 2, 1, 3, 4).reshape(N * T * C, 1, H, W)
    r = high_pass(x)[:, 0]  # (M, H - 2, W - 2); residual pixel j sits at input column j + 1
    cols = torch.arange(1, W - 2)  # input column of the left pixel of each horizontal residual pair
    rows = torch.arange(1, H - 2)
    within_c, across_c = (cols % block) != block - 1, (cols % block) == block - 1
    within_r, across_r = (rows % block) != block - 1, (rows % block) == block - 1
    h_a, h_b = r[:, :, :-1], r[:, :, 1:]       # horizontal pairs (j, j + 1)
    v_a, v_b = r[:, :-1, :], r[:, 1:, :]       # vertical pairs (i, i + 1)
    within = _corr(torch.cat([h_a[:, :, within_c].flatten(), v_a[:, within_r, :].flatten()]),
                   torch.cat([h_b[:, :, within_c].flatten(), v_b[:, within_r, :].flatten()]))
    across = _corr(torch.cat([h_a[:, :, across_c].flatten(), v_a[:, across_r, :].flatten()]),
                   torch.cat([h_b[:, :, across_c].flatten(), v_b[:, across_r, :].flatten()]))
    return {"within": within, "across": across, "value": within - across}


# --------------------------------------------------------------------------------------------------
# VBench-style scores of sample sets
# --------------------------------------------------------------------------------------------------
def score_sample_sets(sets: dict[str, list[np.ndarray]], fps: float, dimensions, config, case: str) -> list[dict]:
    """Score several clips per setting and aggregate across them the way VBench does (pfbench.metrics.vbench:
    ``score_stream`` per clip, ``aggregate`` across clips, ``quality_score`` over the aggregates).

    Rows have the shape ``score_clips`` returns (case, variant, metric, value, unit, backend, status, note), one
    per setting x dimension plus ``vbench_quality_score``; ``score_clips`` itself scores one clip per name, and
    averaging its rows would ignore VBench's per-dimension aggregation (e.g. flickering on static clips only).
    """
    from pfbench.metrics.vbench.base import MetricContext
    from pfbench.metrics.vbench.scoring import aggregate, chunk_array, quality_score, score_stream

    ctx = MetricContext(config)
    rows = []
    for name, videos in sets.items():
        per_dim: dict[str, list] = {d: [] for d in dimensions}
        for video in videos:
            scores, _ = score_stream(chunk_array(np.asarray(video), config.chunk_size), fps, list(dimensions), ctx)
            for d, s in scores.items():
                per_dim[d].append(s)
        aggregates = {}
        for d, scores in per_dim.items():
            value = aggregate(d, scores)
            aggregates[d] = value
            ok = [s for s in scores if s.status == "ok"]
            backend = next((s.backend for s in ok), next((s.backend for s in scores if s.backend), ""))
            if value is not None:
                status, note = "ok", f"aggregate of {len([s for s in ok if s.include])}/{len(scores)} clips"
            elif ok:
                status, note = "skipped", f"no clip qualifies for {d} (e.g. flickering is scored on static clips only)"
            else:
                status = scores[0].status if scores else "skipped"
                note = scores[0].note if scores else "no clips"
            rows.append({"case": case, "variant": name, "metric": d, "value": value, "unit": "score",
                         "backend": backend, "status": status, "note": note})
        q = quality_score(aggregates)
        rows.append({"case": case, "variant": name, "metric": "vbench_quality_score", "value": q.score,
                     "unit": "score", "backend": "vbench-aggregation",
                     "status": "ok" if q.score is not None else "skipped",
                     "note": ("partial, missing: " + ", ".join(q.missing)) if q.partial else ""})
    return rows
