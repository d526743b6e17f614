"""What every VBench-style dimension shares: the run config, a video's score, the lazily built resources (flow,
interpolator, encoders, heads) and the per-chunk cache of flows and features.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from pfbench.metrics.encoders import WeightsMissing, load_aesthetic_head, load_encoder
from pfbench.metrics.vbench.flow import FlowOptions, make_flow_backend, parallel_map, reduce_frame
from pfbench.metrics.vbench.interpolation import InterpolatorOptions, make_interpolator
from pfbench.metrics.vbench.names import MUSIQ_HINT


@dataclass(frozen=True)
class VBenchConfig:
    """Where weights live and which backends compute the model-based parts."""

    weights_dir: str | None = None
    device: str = "cpu"
    flow: str = "opencv-dis"              # see pfbench.metrics.vbench.flow.FLOW_BACKENDS
    raft_weights: str | None = None
    raft_iters: int = 20
    interpolator: str = "flow"            # see pfbench.metrics.vbench.interpolation.INTERPOLATORS
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
