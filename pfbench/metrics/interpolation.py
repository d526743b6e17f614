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

from pfbench.metrics.flow import FlowBackend, FlowOptions, make_flow_backend, parallel_map, warp


class Interpolator(Protocol):
    """``interp(prev, next)`` with (N, H, W, 3) uint8 each -> the middle frames, (N, H, W, 3) uint8."""

    name: str

    def __call__(self, prev: np.ndarray, nxt: np.ndarray) -> np.ndarray: ...


@dataclass
class FlowInterpolator:
    """Middle frame at t = 0.5 from bidirectional flow.

    F_t0 = -t(1-t) F01 + t^2 F10 and F_t1 = (1-t)^2 F01 - t(1-t) F10 (Super SloMo, eq. 4);
    mid = ((1-t) * warp(I0, F_t0) + t * warp(I1, F_t1)), rounded to uint8.
    """

    flow: FlowBackend

    def __post_init__(self):
        self.name = f"flow-interp[{self.flow.name}]"

    def __call__(self, prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
        t = 0.5
        f01 = self.flow(prev, nxt)  # (N, H, W, 2)
        f10 = self.flow(nxt, prev)  # (N, H, W, 2)
        ft0 = -t * (1 - t) * f01 + t * t * f10
        ft1 = (1 - t) ** 2 * f01 - t * (1 - t) * f10
        def middle(i: int) -> np.ndarray:
            w0 = warp(prev[i], ft0[i]).astype(np.float32)  # (H, W, 3)
            w1 = warp(nxt[i], ft1[i]).astype(np.float32)
            return np.clip(np.rint((1 - t) * w0 + t * w1), 0, 255).astype(np.uint8)

        if len(prev) == 0:
            return np.empty_like(prev)
        return np.stack(parallel_map(middle, range(len(prev))))  # (N, H, W, 3) uint8


@dataclass(frozen=True)
class InterpolatorOptions:
    """Which interpolator to build; ``flow`` configures the flow-based one, ``weights`` a learned one."""

    name: str = "flow"
    flow: FlowOptions = FlowOptions()
    weights: str | None = None
    device: str = "cpu"


INTERPOLATORS: dict[str, Callable[[InterpolatorOptions], Interpolator]] = {
    "flow": lambda o: FlowInterpolator(make_flow_backend(o.flow)),
}


def register_interpolator(name: str, factory: Callable[[InterpolatorOptions], Interpolator]) -> None:
    """Add a learned interpolator (e.g. AMT-S from a local checkpoint) under ``name``."""
    if name in INTERPOLATORS:
        raise ValueError(f"interpolator {name!r} is already registered")
    INTERPOLATORS[name] = factory


def make_interpolator(options: InterpolatorOptions = InterpolatorOptions()) -> Interpolator:
    if options.name not in INTERPOLATORS:
        raise ValueError(f"unknown interpolator {options.name!r}: choose one of {', '.join(INTERPOLATORS)} "
                         f"or register one with pfbench.metrics.interpolation.register_interpolator")
    return INTERPOLATORS[options.name](options)
