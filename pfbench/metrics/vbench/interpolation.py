"""Frame interpolators for motion smoothness: a flow-based offline backend and a slot for learned ones.

VBench predicts each odd frame from its even neighbours with AMT-S (a learned interpolator); a smooth
video is one whose middle frames are predictable. ``FlowInterpolator`` is the offline stand-in: estimate
flow both ways, warp both neighbours half-way (Super SloMo's linear-motion approximation of the
intermediate flows) and blend. A learned model plugs in through ``register_interpolator``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np

from pfbench.metrics.vbench.flow import (
    FlowBackend,
    FlowOptions,
    make_flow_backend,
    parallel_map,
    pixel_grid,
    reduce_frames,
    remap,
    upscale_flow,
)


class Interpolator(Protocol):
    """``interp(prev, next)`` with (N, H, W, 3) uint8 each -> the middle frames, (N, H, W, 3) uint8."""

    name: str

    def __call__(self, prev: np.ndarray, nxt: np.ndarray) -> np.ndarray: ...


@dataclass
class FlowInterpolator:
    """Middle frame at t = 0.5 from bidirectional flow.

    F_t0 = -t(1-t) F01 + t^2 F10 and F_t1 = (1-t)^2 F01 - t(1-t) F10 (Super SloMo, eq. 4), which at t = 0.5 are
    D = (F10 - F01) / 4 and -D; mid = rint((warp(I0, D) + warp(I1, -D)) / 2) as uint8.
    With ``flow_side`` the flows are computed on frames reduced to that short side and upscaled (bilinear, vectors
    rescaled); the warps and the frame stay at the native size. tests/test_metrics_reduced_flow.py checks that
    motion smoothness then stays within 1e-3 of native-size flow on real clips.
    """

    flow: FlowBackend
    flow_side: int | None = None
    takes_frame_lists = True  # prev/nxt may be lists of (H, W, 3) frames (no stacking copy); returns the same kind

    def __post_init__(self):
        at = f"@{self.flow_side}p" if self.flow_side else ""  # flow at short side <= flow_side
        self.name = f"flow-interp[{self.flow.name}{at}]"
        self._grid: np.ndarray | None = None

    def __call__(self, prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
        import cv2

        if len(prev) == 0:
            return np.empty_like(prev) if isinstance(prev, np.ndarray) else []
        h, w = prev[0].shape[:2]
        gray = getattr(self.flow, "accepts_gray", False)  # grey once per frame, not once per flow
        as_array = isinstance(prev, np.ndarray)
        prev, nxt = list(prev), list(nxt)  # held for the whole call, so id() names one frame throughout
        # an even frame is the next frame of one triple and the previous of the following one: prepare it once
        uniq = {id(f): f for f in [*prev, *nxt]}
        small = dict(zip(uniq, reduce_frames(list(uniq.values()), self.flow_side, gray)))  # (h', w'[, 3]) each
        sp, sn = np.stack([small[id(f)] for f in prev]), np.stack([small[id(f)] for f in nxt])  # (N, h', w'[, 3])
        d = 0.25 * (self.flow(sn, sp) - self.flow(sp, sn))  # (N, h', w', 2): F_t0 = D, F_t1 = -D
        if self._grid is None or self._grid.shape[:2] != (h, w):
            self._grid = pixel_grid(h, w)  # (H, W, 2), kept for the next call on this video size
        # warped as RGBA: OpenCV's 4-channel remap is vectorised (~2.5x faster at 1080p than 3 channels), with
        # per-channel values identical to the 3-channel one
        rgba = dict(zip(uniq, parallel_map(lambda f: cv2.cvtColor(f, cv2.COLOR_RGB2RGBA), uniq.values())))

        def middle(i: int) -> np.ndarray:
            di = upscale_flow(d[i], h, w)  # (H, W, 2) native pixels
            w0 = remap(rgba[id(prev[i])], cv2.add(self._grid, di))  # (H, W, 4) uint8
            w1 = remap(rgba[id(nxt[i])], cv2.subtract(self._grid, di))
            mid = cv2.addWeighted(w0, 0.5, w1, 0.5, 0.0)  # rint((w0 + w1) / 2), half to even like np.rint
            return cv2.cvtColor(mid, cv2.COLOR_RGBA2RGB)  # (H, W, 3) uint8

        mids = parallel_map(middle, range(len(prev)))
        return np.stack(mids) if as_array else mids  # (N, H, W, 3) uint8


@dataclass(frozen=True)
class InterpolatorOptions:
    """Which interpolator to build; ``flow`` configures the flow-based one, ``weights`` a learned one."""

    name: str = "flow"
    flow: FlowOptions = FlowOptions()
    weights: str | None = None
    device: str = "cpu"
    flow_side: int | None = None    # the flow-based one: short side the flows are computed at (None: native)


INTERPOLATORS: dict[str, Callable[[InterpolatorOptions], Interpolator]] = {
    "flow": lambda o: FlowInterpolator(make_flow_backend(o.flow), o.flow_side),
}


def register_interpolator(name: str, factory: Callable[[InterpolatorOptions], Interpolator]) -> None:
    """Add a learned interpolator (e.g. AMT-S from a local checkpoint) under ``name``."""
    if name in INTERPOLATORS:
        raise ValueError(f"interpolator {name!r} is already registered")
    INTERPOLATORS[name] = factory


def make_interpolator(options: InterpolatorOptions = InterpolatorOptions()) -> Interpolator:
    if options.name not in INTERPOLATORS:
        raise ValueError(f"unknown interpolator {options.name!r}: choose one of {', '.join(INTERPOLATORS)} "
                         f"or register one with pfbench.metrics.vbench.interpolation.register_interpolator")
    return INTERPOLATORS[options.name](options)
