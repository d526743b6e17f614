"""VBench-style video quality dimensions, computed streaming over chunks of frames, plus aggregation.

Each dimension is an accumulator fed consecutive chunks (t, H, W, 3) uint8 of one video: every VBench
formula here is over consecutive pairs, (even, odd, even) triples or running means, so a long video never
has to be decoded whole. Pair flows and image features are computed once per chunk and shared by the
dimensions that need them (``Chunk``). Model-backed resources (flow, interpolator, encoders, heads) are
built lazily and once per run by ``MetricContext``; a dimension whose weights are absent is skipped
with the reason and the option that enables it. Formulas: /work/shared/reference/METRICS_FACTS.md
and docs/METRICS.md.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import numpy as np

from pfbench.metrics.encoders import WeightsMissing
from pfbench.metrics.vbench.base import Chunk, MetricContext, VBenchConfig, VideoScore
from pfbench.metrics.vbench.dimensions import (
    Accumulator,
    AestheticQuality,
    BackgroundConsistency,
    ClipTempScore,
    DynamicDegree,
    FlowScore,
    ImagingQuality,
    MotionSmoothness,
    SubjectConsistency,
    TemporalFlickering,
    WarpingError,
)
from pfbench.metrics.vbench.names import NORMALIZATION, QUALITY_DIMENSIONS, WEIGHTS


@dataclass(frozen=True)
class DimensionSpec:
    """A named dimension: its accumulator, how videos aggregate, and what it needs (raises WeightsMissing)."""

    name: str
    accumulator: type[Accumulator]
    aggregate: str                                   # "mean" | "frame_weighted" | "fraction" | "mean/100"
    requires: Callable[[MetricContext], str]         # returns the backend name, or raises WeightsMissing


def _req_encoder(key: str, head: bool = False):
    def check(ctx: MetricContext) -> str:
        enc = ctx.encoder(key)
        if head:
            ctx.aesthetic_head()
        return enc.backend
    return check


DIMENSIONS: dict[str, DimensionSpec] = {
    "subject_consistency": DimensionSpec("subject_consistency", SubjectConsistency, "frame_weighted",
                                         _req_encoder("dino-vitb16")),
    "background_consistency": DimensionSpec("background_consistency", BackgroundConsistency, "frame_weighted",
                                            _req_encoder("clip-vit-base-patch32")),
    "temporal_flickering": DimensionSpec("temporal_flickering", TemporalFlickering, "mean",
                                         lambda ctx: "numpy-mae+" + ctx.flow().name),
    "motion_smoothness": DimensionSpec("motion_smoothness", MotionSmoothness, "mean",
                                       lambda ctx: ctx.interpolator().name),
    "dynamic_degree": DimensionSpec("dynamic_degree", DynamicDegree, "fraction", lambda ctx: ctx.flow().name),
    "aesthetic_quality": DimensionSpec("aesthetic_quality", AestheticQuality, "mean",
                                       _req_encoder("clip-vit-large-patch14", head=True)),
    "imaging_quality": DimensionSpec("imaging_quality", ImagingQuality, "mean/100",
                                     lambda ctx: (ctx.musiq(), "pyiqa:musiq-spaq")[1]),
    "flow_score": DimensionSpec("flow_score", FlowScore, "mean", lambda ctx: ctx.flow().name),
    "warping_error": DimensionSpec("warping_error", WarpingError, "mean", lambda ctx: ctx.flow().name),
    "clip_temp_score": DimensionSpec("clip_temp_score", ClipTempScore, "mean",
                                     _req_encoder("clip-vit-base-patch32")),
}
OFFLINE_DIMENSIONS = ("temporal_flickering", "motion_smoothness", "dynamic_degree", "flow_score", "warping_error")


def resolve_dimensions(names: Iterable[str] | None) -> list[str]:
    """Validate dimension names; None or ["all"] means every dimension."""
    if names is None:
        return list(DIMENSIONS)
    names = [n for part in names for n in str(part).split(",") if n]
    if names == ["all"]:
        return list(DIMENSIONS)
    if names == ["offline"]:
        return list(OFFLINE_DIMENSIONS)
    bad = [n for n in names if n not in DIMENSIONS]
    if bad:
        raise ValueError(f"unknown dimension(s) {', '.join(bad)}: choose from {', '.join(DIMENSIONS)}, 'offline' or 'all'")
    return names


# ----------------------------------------------------------------------------------------------- scoring

def chunk_array(frames: np.ndarray, chunk_size: int) -> Iterator[np.ndarray]:
    """An in-memory (T, H, W, 3) uint8 video as chunks, like ``video_io.iter_chunks``."""
    for s in range(0, len(frames), chunk_size):
        yield frames[s:s + chunk_size]


def score_stream(chunks: Iterable[np.ndarray], fps: float, dimensions: list[str],
                 ctx: MetricContext) -> tuple[dict[str, VideoScore], int]:
    """Score one video given as consecutive chunks (t, H, W, 3) uint8. Returns ({dimension: score}, frames).

    A dimension whose weights are missing is "skipped"; one that fails on this video is "error" and the
    others go on. Errors from the chunk source (decoding) propagate to the caller.
    """
    results: dict[str, VideoScore] = {}
    accs: dict[str, Accumulator] = {}
    for name in dimensions:
        spec = DIMENSIONS[name]
        try:
            spec.requires(ctx)
            accs[name] = spec.accumulator(ctx, fps)
        except WeightsMissing as err:
            results[name] = VideoScore(name, None, "", "skipped", f"skipped: {err}")
    start, prev = 0, None
    for frames in chunks:
        frames = np.ascontiguousarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ValueError(f"frames must be (T, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
        chunk = Chunk(frames, start, prev, ctx)
        for name in list(accs):
            try:
                accs[name].update(chunk)
            except Exception as err:  # one dimension failing must not lose the others
                results[name] = VideoScore(name, None, "", "error", f"{type(err).__name__}: {err}")
                del accs[name]
        start += len(frames)
        prev = frames[-1].copy()
    for name, acc in accs.items():
        try:
            results[name] = acc.finish()
        except Exception as err:
            results[name] = VideoScore(name, None, "", "error", f"{type(err).__name__}: {err}")
    return {n: results[n] for n in dimensions}, start


def aggregate(dimension: str, scores: list[VideoScore]) -> float | None:
    """Across videos, the way VBench does: mean, frame-weighted mean, fraction dynamic, or mean / 100."""
    used = [s for s in scores if s.status == "ok" and s.include and s.value is not None]
    if not used:
        return None
    kind = DIMENSIONS[dimension].aggregate if dimension in DIMENSIONS else "mean"
    values = np.array([s.value for s in used], dtype=np.float64)
    if kind == "frame_weighted":
        weights = np.array([s.weight for s in used], dtype=np.float64)
        return float((values * weights).sum() / weights.sum())
    if kind == "mean/100":
        return float(values.mean() / 100.0)
    return float(values.mean())


@dataclass
class QualityScore:
    """VBench's quality score in [0, 1] (x100 for display); ``partial`` when dimensions are missing."""

    score: float | None
    partial: bool
    missing: list[str]
    normalized: dict[str, float]


def quality_score(aggregates: dict[str, float | None]) -> QualityScore:
    """sum_d w_d (raw_d - Min_d) / (Max_d - Min_d) / sum_d w_d over the 7 quality dimensions (= / 6.5 when all
    are present). Missing dimensions are left out of both sums and listed; the score is then marked partial."""
    normalized, missing = {}, []
    for name in QUALITY_DIMENSIONS:
        raw = aggregates.get(name)
        if raw is None or not math.isfinite(raw):
            missing.append(name)
            continue
        lo, hi = NORMALIZATION[name]
        normalized[name] = (raw - lo) / (hi - lo) * WEIGHTS[name]
    if not normalized:
        return QualityScore(None, True, missing, {})
    total_weight = sum(WEIGHTS[n] for n in normalized)
    return QualityScore(sum(normalized.values()) / total_weight, bool(missing), missing, normalized)


def score_clips(clips: dict[str, np.ndarray], fps: float, dimensions: Iterable[str] | None = None,
                config: VBenchConfig = VBenchConfig(), case: str = "vbench") -> list[dict]:
    """Score in-memory clips {variant: (T, H, W, 3) uint8} and return tidy rows for ``pf_record``:
    one per clip x dimension plus a ``vbench_quality_score`` row per clip (keys: case, variant, metric, value,
    unit, backend, status, note)."""
    names = resolve_dimensions(dimensions)
    ctx = MetricContext(config)
    rows: list[dict] = []
    for variant, frames in clips.items():
        frames = np.asarray(frames)
        scores, n = score_stream(chunk_array(frames, config.chunk_size), fps, names, ctx)
        for name, s in scores.items():
            rows.append({"case": case, "variant": variant, "metric": name, "value": s.value, "unit": "score",
                         "backend": s.backend, "status": s.status, "note": s.note})
        q = quality_score({n_: aggregate(n_, [s]) for n_, s in scores.items()})
        rows.append({"case": case, "variant": variant, "metric": "vbench_quality_score", "value": q.score,
                     "unit": "score", "backend": "vbench-aggregation",
                     "status": "ok" if q.score is not None else "skipped",
                     "note": ("partial, missing: " + ", ".join(q.missing)) if q.partial else ""})
    return rows
