"""The VBench-style dimensions as streaming accumulators: each is fed consecutive chunks (t, H, W, 3) uint8 of one
video and finishes into a VideoScore. Formulas: /work/shared/reference/METRICS_FACTS.md and docs/METRICS.md.
"""
from __future__ import annotations

import numpy as np

from pfbench.metrics.vbench.base import Chunk, MetricContext, VideoScore
from pfbench.metrics.vbench.flow import magnitude, parallel_map, reduce_frames, top_fraction_mean, warp

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


def decision_backend(flow_name: str, flow_hw, native_hw) -> str:
    """The flow backend of a decision with the size its flow saw: "opencv-dis@256p" when the frames were reduced
    (VBenchConfig.decision_flow_side), the plain name at native size."""
    return flow_name if tuple(flow_hw) == tuple(native_hw) else f"{flow_name}@{min(flow_hw)}p"


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
            self.first, self.native = small[0].copy(), chunk.frames.shape[1:3]
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
        backend = f"numpy-mae+static-filter[{decision_backend(self.ctx.flow().name, self.first.shape[:2], self.native)}]"
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
        self.native = chunk.frames.shape[1:3]
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
        return VideoScore(self.name, float(dynamic), decision_backend(self.ctx.flow().name, self.shape, self.native),
                          note=note, video_result=bool(dynamic))


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
