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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from pfbench.metrics.encoders import WeightsMissing, load_aesthetic_head, load_encoder
from pfbench.metrics.flow import (FlowOptions, magnitude, make_flow_backend, parallel_map, reduce_frame,
                                  reduce_frames, top_fraction_mean, warp)
from pfbench.metrics.interpolation import InterpolatorOptions, make_interpolator

QUALITY_DIMENSIONS = ("subject_consistency", "background_consistency", "temporal_flickering", "motion_smoothness",
                      "dynamic_degree", "aesthetic_quality", "imaging_quality")
EVALCRAFTER_DIMENSIONS = ("flow_score", "warping_error", "clip_temp_score")

# VBench's normalisation (Min, Max) and weights for the quality score.
NORMALIZATION = {
    "subject_consistency": (0.1462, 1.0), "background_consistency": (0.2615, 1.0),
    "temporal_flickering": (0.6293, 1.0), "motion_smoothness": (0.706, 0.9975),
    "dynamic_degree": (0.0, 1.0), "aesthetic_quality": (0.0, 1.0), "imaging_quality": (0.0, 1.0),
}
WEIGHTS = {name: (0.5 if name == "dynamic_degree" else 1.0) for name in QUALITY_DIMENSIONS}

MUSIQ_HINT = ("needs MUSIQ (SPAQ) through pyiqa: pip install 'pfbench[musiq]' and pass --weights-dir DIR with "
              "DIR/musiq/musiq_spaq_ckpt-358bb6af.pth")


@dataclass(frozen=True)
class VBenchConfig:
    """Where weights live and which backends compute the model-based parts."""

    weights_dir: str | None = None
    device: str = "cpu"
    flow: str = "opencv-dis"              # see pfbench.metrics.flow.FLOW_BACKENDS
    raft_weights: str | None = None
    raft_iters: int = 20
    interpolator: str = "flow"            # see pfbench.metrics.interpolation.INTERPOLATORS
    interpolator_weights: str | None = None
    batch_size: int = 32                  # encoder batch
    chunk_size: int = 16                  # frames decoded and scored at a time
    flicker_static_filter: bool = True    # VBench scores flickering only on static videos
    # short side at which the flow of the two flow *decisions* (flickering's static filter, dynamic degree) is
    # computed; their thresholds scale with the size used, as VBench's scale with min(H, W). None: native size.
    # Decisions only: tests/test_metrics_reduced_flow.py checks they match native-size flow on real clips.
    decision_flow_side: int | None = 256
    # short side at which motion smoothness's interpolator computes its flows (warps stay native); the same test
    # checks the score stays within 1e-3 of native-size flow on real clips. None: native size.
    motion_flow_side: int | None = 256


@dataclass
class VideoScore:
    """One video's result on one dimension. ``value`` is the number in the CSV; ``video_result`` what VBench's
    JSON holds (a bool for dynamic_degree); ``weight`` the frame count for frame-weighted means."""

    dimension: str
    value: float | None
    backend: str
    status: str = "ok"            # "ok" | "skipped" | "error"
    note: str = ""
    weight: float = 1.0
    include: bool = True          # False: reported but not part of the aggregate (flickering on moving videos)
    video_result: object = None

    def __post_init__(self):
        if self.video_result is None:
            self.video_result = self.value


# ----------------------------------------------------------------------------------------------- resources

class MetricContext:
    """Builds each backend once per run (lazily) and remembers what could not be built and why."""

    def __init__(self, config: VBenchConfig = VBenchConfig()):
        self.config = config
        self._cache: dict[str, object] = {}

    def _get(self, key: str, build: Callable[[], object]):
        if key not in self._cache:
            try:
                self._cache[key] = build()
            except (WeightsMissing, FileNotFoundError, ImportError) as err:
                self._cache[key] = WeightsMissing(str(err))
        value = self._cache[key]
        if isinstance(value, WeightsMissing):
            raise value
        return value

    def flow(self):
        c = self.config
        return self._get("flow", lambda: make_flow_backend(FlowOptions(c.flow, c.raft_weights, c.device, c.raft_iters)))

    def interpolator(self):
        c = self.config
        opts = InterpolatorOptions(c.interpolator, FlowOptions(c.flow, c.raft_weights, c.device, c.raft_iters),
                                   c.interpolator_weights, c.device, c.motion_flow_side)
        return self._get("interp", lambda: make_interpolator(opts))

    def encoder(self, key: str):
        c = self.config
        return self._get("enc:" + key, lambda: load_encoder(key, c.weights_dir, c.device, c.batch_size))

    def aesthetic_head(self):
        return self._get("aesthetic", lambda: load_aesthetic_head(self.config.weights_dir, self.config.device))

    def musiq(self):
        return self._get("musiq", lambda: _load_musiq(self.config.weights_dir, self.config.device))


def _load_musiq(weights_dir: str | None, device: str):
    try:
        from pyiqa.archs.musiq_arch import MUSIQ
    except ImportError as err:
        raise WeightsMissing(MUSIQ_HINT) from err
    folder = Path(weights_dir) / "musiq" if weights_dir else None
    files = sorted(folder.glob("*.pth")) if folder and folder.is_dir() else []
    if not files:
        raise WeightsMissing(MUSIQ_HINT)
    return MUSIQ(pretrained_model_path=str(files[0])).eval().to(device)


@dataclass
class Chunk:
    """Consecutive frames of one video with the last frame of the previous chunk, so pairs span chunks.

    ``pair_flows`` / ``features`` are computed once and shared by every dimension that asks."""

    frames: np.ndarray               # (t, H, W, 3) uint8
    start: int                       # index of frames[0] in the video
    prev: np.ndarray | None          # (H, W, 3) uint8 or None for the first chunk
    ctx: MetricContext
    _memo: dict = field(default_factory=dict)

    def pairs(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """(a, b): consecutive pairs ending in this chunk, P frames (H, W, 3) each (views, no copy)."""
        frames = list(self.frames)
        if self.prev is None:
            return frames[:-1], frames[1:]
        return [self.prev, *frames[:-1]], frames

    def pair_flows(self, backward: bool = False) -> np.ndarray:
        key = ("flow", backward)
        if key not in self._memo:
            a, b = self.pairs()
            flow = self.ctx.flow()
            if not getattr(flow, "takes_frame_lists", False):
                a, b = np.stack(a), np.stack(b)  # (P, H, W, 3) for a backend that wants arrays
            empty = np.zeros((0,) + self.frames.shape[1:3] + (2,), np.float32)
            self._memo[key] = (flow(b, a) if backward else flow(a, b)) if len(a) else empty
        return self._memo[key]  # (P, H, W, 2)

    def small(self, indices: Iterable[int]) -> np.ndarray:
        """Frames ``indices`` reduced for the flow decisions (``decision_flow_side``; grey when the flow backend
        takes grey), each computed once per chunk: (k, h, w) or (k, h, w, 3) uint8."""
        idx = list(indices)
        todo = [i for i in idx if ("small", i) not in self._memo]
        if todo:
            side = self.ctx.config.decision_flow_side
            gray = getattr(self.ctx.flow(), "accepts_gray", False)
            for i, f in zip(todo, parallel_map(lambda i: reduce_frame(self.frames[i], side, gray), todo)):
                self._memo[("small", i)] = f
        return np.stack([self._memo[("small", i)] for i in idx]) if idx else np.empty((0,), np.uint8)

    def features(self, encoder_key: str):
        key = ("feat", encoder_key)
        if key not in self._memo:
            import torch.nn.functional as F

            self._memo[key] = F.normalize(self.ctx.encoder(encoder_key)(self.frames), dim=-1)  # (t, D) unit norm
        return self._memo[key]


# ----------------------------------------------------------------------------------------------- dimensions

class Accumulator:
    """Per-video state of one dimension: ``update(chunk)`` for each chunk, then ``finish()``."""

    name = ""

    def __init__(self, ctx: MetricContext, fps: float):
        self.ctx, self.fps = ctx, fps

    def update(self, chunk: Chunk) -> None:
        raise NotImplementedError

    def finish(self) -> VideoScore:
        raise NotImplementedError


def decision_frames(frames: np.ndarray, side: int | None, gray: bool = False) -> np.ndarray:
    """(N, H, W, 3) uint8 frames resized (area) so that min(H, W) = ``side``; unchanged if None or already smaller
    (grey (N, h, w) with ``gray``). What the flow decisions see: ``Chunk.small`` does this per frame, once."""
    return reduce_frames(frames, side, gray)


class TemporalFlickering(Accumulator):
    """(255 - mean_i MAE(F_i, F_{i+1})) / 255 on native uint8 frames; static filter by flow (see METRICS.md)."""

    name = "temporal_flickering"

    def __init__(self, ctx, fps):
        super().__init__(ctx, fps)
        self.mae_sum, self.pairs, self.frames = 0.0, 0, 0
        self.top2: list[float] = []
        self.first = self.last = None

    def update(self, chunk):
        import cv2

        a, b = chunk.pairs()  # (P, H, W, 3) uint8 each
        # MAE_i = mean |F_i - F_{i+1}|: cv2.norm L1 is the exact integer sum of |a - b| (a double, < 2^53)
        self.mae_sum += sum(cv2.norm(x, y, cv2.NORM_L1) / x.size for x, y in zip(a, b))
        self.pairs += len(a)
        self.frames += len(chunk.frames)
        if not self.ctx.config.flicker_static_filter:
            return
        small = chunk.small(range(len(chunk.frames)))  # (N, h, w[, 3]) uint8
        if self.first is None:
            self.first = small[0].copy()
        if self.last is not None and len(small):  # the pair across the chunk boundary
            self.top2.append(top_fraction_mean(magnitude(self.ctx.flow()(self.last[None], small[:1])[0]), 0.02))
        if len(small) > 1:
            self.top2 += [top_fraction_mean(m, 0.02) for m in magnitude(self.ctx.flow()(small[:-1], small[1:]))]
        self.last = small[-1].copy()

    def static(self) -> tuple[bool, str]:
        """VBench static filter: thres = 3 * min(h, w) / 256 at the flow's size, count_num = round(2 * frames / 16)."""
        h, w = self.first.shape[:2]
        thres = 3.0 * min(h, w) / 256.0
        count_num = round(2 * self.frames / 16.0)
        flow = self.ctx.flow()
        extra = [top_fraction_mean(magnitude(flow(x[None], y[None])[0]), 0.02)
                 for x, y in ((self.first, self.last), (self.last, self.first))]
        moving = sum(s > thres for s in self.top2)
        ok = moving <= count_num and all(s <= thres * count_num * 2 for s in extra)
        return ok, f"{moving} of {len(self.top2)} pairs above {thres:.3f} px (allowed {count_num})"

    def finish(self):
        if self.pairs == 0:
            raise ValueError("needs at least 2 frames")
        value = (255.0 - self.mae_sum / self.pairs) / 255.0
        if not self.ctx.config.flicker_static_filter:
            return VideoScore(self.name, value, "numpy-mae", note="static filter off")
        is_static, why = self.static()
        backend = f"numpy-mae+static-filter[{self.ctx.flow().name}]"
        note = f"static: {why}" if is_static else f"not static, excluded from the aggregate as in VBench: {why}"
        return VideoScore(self.name, value, backend, note=note, include=is_static)


class DynamicDegree(Accumulator):
    """Frames every round(fps/8); per pair mean of the top 5% |flow|; dynamic if >= round(4 * n / 16) pairs exceed
    max(1, 8/fps) * 6 * min(H, W) / 256, n = number of subsampled frames (VBench's code)."""

    name = "dynamic_degree"

    def __init__(self, ctx, fps):
        super().__init__(ctx, fps)
        self.interval = max(1, round(fps / 8.0))
        self.kept, self.scores, self.last_kept, self.shape = 0, [], None, None

    def update(self, chunk):
        idx = [i for i in range(len(chunk.frames)) if (chunk.start + i) % self.interval == 0]
        if not idx:
            return
        kept = chunk.small(idx)  # (k, h, w[, 3]) uint8
        self.shape = kept.shape[1:3]  # the threshold scales with the size the flow is computed at
        self.kept += len(kept)
        seq = kept if self.last_kept is None else np.concatenate([self.last_kept[None], kept])
        if len(seq) > 1:
            flows = self.ctx.flow()(seq[:-1], seq[1:])  # (P, h, w, 2)
            self.scores += [top_fraction_mean(m, 0.05) for m in magnitude(flows)]
        self.last_kept = kept[-1].copy()

    def finish(self):
        if not self.scores:
            raise ValueError("needs at least 2 frames after fps subsampling")
        factor = max(1.0, 8.0 / self.fps)
        thres = factor * 6.0 * min(self.shape) / 256.0
        count_num = round(4 * self.kept / 16.0)
        count = sum(s > thres for s in self.scores)
        dynamic = count >= count_num
        note = f"{count} of {len(self.scores)} pairs above {thres:.3f} px (needs {count_num}), every {self.interval} frames"
        return VideoScore(self.name, float(dynamic), self.ctx.flow().name, note=note, video_result=bool(dynamic))


class MotionSmoothness(Accumulator):
    """Odd frames predicted from their even neighbours; score = (255 - mean absdiff(pred, true)) / 255."""

    name = "motion_smoothness"

    def __init__(self, ctx, fps):
        super().__init__(ctx, fps)
        self.last_even = self.pending_odd = None
        self.diff_sum, self.count = 0.0, 0

    def update(self, chunk):
        prev, nxt, true = [], [], []
        for i, frame in enumerate(chunk.frames):
            if (chunk.start + i) % 2 == 1:
                self.pending_odd = frame
                continue
            if self.last_even is not None and self.pending_odd is not None:
                prev.append(self.last_even), nxt.append(frame), true.append(self.pending_odd)
            self.last_even, self.pending_odd = frame, None
        if prev:
            import cv2

            interp = self.ctx.interpolator()
            if not getattr(interp, "takes_frame_lists", False):
                prev, nxt = np.stack(prev), np.stack(nxt)  # (k, H, W, 3) uint8
            pred = interp(prev, nxt)  # k middle frames, (H, W, 3) uint8 each
            # mean |pred - true| per frame: cv2.norm L1 is the exact integer sum (a double)
            self.diff_sum += sum(cv2.norm(p, t, cv2.NORM_L1) / p.size for p, t in zip(pred, true))
            self.count += len(pred)
        if self.last_even is not None:
            self.last_even = self.last_even.copy()
        if self.pending_odd is not None:
            self.pending_odd = self.pending_odd.copy()

    def finish(self):
        if self.count == 0:
            raise ValueError("needs at least 3 frames")
        value = (255.0 - self.diff_sum / self.count) / 255.0
        return VideoScore(self.name, value, self.ctx.interpolator().name, note=f"{self.count} interpolated frames")


class FeatureConsistency(Accumulator):
    """s_i = (max(0, cos(f_{i-1}, f_i)) + max(0, cos(f_0, f_i))) / 2, i >= 1; video = mean s_i (frame-weighted)."""

    encoder_key = ""

    def __init__(self, ctx, fps):
        super().__init__(ctx, fps)
        self.first = self.prev = None
        self.total, self.count = 0.0, 0

    def update(self, chunk):
        import torch

        f = chunk.features(self.encoder_key)  # (t, D) unit norm
        if self.first is None:
            self.first = f[0]
        prevs = f[:-1] if self.prev is None else torch.cat([self.prev[None], f[:-1]])
        cur = f[1:] if self.prev is None else f
        if len(cur):
            s = ((prevs * cur).sum(-1).clamp(min=0) + (cur @ self.first).clamp(min=0)) / 2  # (P,)
            self.total += float(s.double().sum())
            self.count += len(cur)
        self.prev = f[-1]

    def finish(self):
        if self.count == 0:
            raise ValueError("needs at least 2 frames")
        return VideoScore(self.name, self.total / self.count, self.ctx.encoder(self.encoder_key).backend,
                          weight=self.count)


class SubjectConsistency(FeatureConsistency):
    name, encoder_key = "subject_consistency", "dino-vitb16"


class BackgroundConsistency(FeatureConsistency):
    name, encoder_key = "background_consistency", "clip-vit-base-patch32"


class AestheticQuality(Accumulator):
    """LAION linear head on L2-normalised CLIP ViT-L/14 image features, / 10; video = mean over frames."""

    name = "aesthetic_quality"

    def __init__(self, ctx, fps):
        super().__init__(ctx, fps)
        self.total, self.count = 0.0, 0

    def update(self, chunk):
        import torch

        f = chunk.features("clip-vit-large-patch14")  # (t, D) unit norm
        head = self.ctx.aesthetic_head()
        with torch.inference_mode():
            s = head(f.to(head.weight.device)).squeeze(-1).float().cpu() / 10.0  # (t,)
        self.total += float(s.double().sum())
        self.count += len(s)

    def finish(self):
        return VideoScore(self.name, self.total / self.count, "transformers:clip-vit-large-patch14+laion-linear",
                          weight=self.count)


class ImagingQuality(Accumulator):
    """MUSIQ (SPAQ) per frame on frames whose longer side is <= 512; video = mean (0..100), aggregate / 100."""

    name = "imaging_quality"

    def __init__(self, ctx, fps):
        super().__init__(ctx, fps)
        self.total, self.count = 0.0, 0

    def update(self, chunk):
        import torch
        import torch.nn.functional as F

        model = self.ctx.musiq()
        x = torch.from_numpy(chunk.frames).to(self.ctx.config.device).permute(0, 3, 1, 2).float() / 255.0
        h, w = x.shape[-2:]
        if max(h, w) > 512:
            s = 512.0 / max(h, w)
            x = F.interpolate(x, size=(int(h * s), int(w * s)), mode="bilinear", antialias=True, align_corners=False)
        with torch.inference_mode():
            for frame in x:  # (3, h, w)
                self.total += float(model(frame[None]).reshape(-1)[0])
                self.count += 1

    def finish(self):
        return VideoScore(self.name, self.total / self.count, "pyiqa:musiq-spaq", note="per-video 0..100; aggregate / 100")


class FlowScore(Accumulator):
    """EvalCrafter flow_score: mean |flow| over all pixels, averaged over consecutive pairs."""

    name = "flow_score"

    def __init__(self, ctx, fps):
        super().__init__(ctx, fps)
        self.total, self.count = 0.0, 0

    def update(self, chunk):
        flows = chunk.pair_flows()
        self.total += float(magnitude(flows).reshape(len(flows), -1).mean(axis=1, dtype=np.float64).sum()) if len(flows) else 0.0
        self.count += len(flows)

    def finish(self):
        if self.count == 0:
            raise ValueError("needs at least 2 frames")
        return VideoScore(self.name, self.total / self.count, self.ctx.flow().name, note="pixels per frame")


class WarpingError(Accumulator):
    """EvalCrafter warping_error: warp F_{i+1} to F_i with forward flow; squared error (pixels in [0, 1], mean over
    channels) over pixels that pass the forward-backward check, / their count; averaged over pairs."""

    name = "warping_error"

    def __init__(self, ctx, fps):
        super().__init__(ctx, fps)
        self.total, self.count = 0.0, 0

    def update(self, chunk):
        a, b = chunk.pairs()
        fw, bw = chunk.pair_flows(), chunk.pair_flows(backward=True)  # (P, H, W, 2) each
        def pair_error(i: int) -> float:
            b_warp = warp(b[i], fw[i]).astype(np.float32) / 255.0  # (H, W, 3)
            bw_warp = warp(bw[i], fw[i])  # (H, W, 2): backward flow at p + fw(p)
            lhs = ((fw[i] + bw_warp) ** 2).sum(-1)
            rhs = 0.01 * ((fw[i] ** 2).sum(-1) + (bw_warp ** 2).sum(-1)) + 0.5
            valid = lhs <= rhs  # (H, W) non-occluded
            err = ((a[i].astype(np.float32) / 255.0 - b_warp) ** 2).mean(-1)  # (H, W)
            return float(err[valid].sum() / max(1, valid.sum()))

        errors = parallel_map(pair_error, range(len(a)))
        self.total += sum(errors)
        self.count += len(errors)

    def finish(self):
        if self.count == 0:
            raise ValueError("needs at least 2 frames")
        return VideoScore(self.name, self.total / self.count, self.ctx.flow().name)


class ClipTempScore(Accumulator):
    """EvalCrafter clip_temp_score: mean cosine of CLIP ViT-B/32 features of consecutive frames."""

    name = "clip_temp_score"

    def __init__(self, ctx, fps):
        super().__init__(ctx, fps)
        self.prev, self.total, self.count = None, 0.0, 0

    def update(self, chunk):
        import torch

        f = chunk.features("clip-vit-base-patch32")  # (t, D) unit norm
        seq = f if self.prev is None else torch.cat([self.prev[None], f])
        if len(seq) > 1:
            self.total += float((seq[:-1] * seq[1:]).sum(-1).double().sum())
            self.count += len(seq) - 1
        self.prev = f[-1]

    def finish(self):
        if self.count == 0:
            raise ValueError("needs at least 2 frames")
        return VideoScore(self.name, self.total / self.count, self.ctx.encoder("clip-vit-base-patch32").backend)


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
