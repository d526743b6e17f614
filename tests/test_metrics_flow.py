"""Optical flow backends: OpenCV recovers a known translation; torchvision RAFT loads from a local state dict."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from pfbench.metrics.vbench.flow import FlowOptions, magnitude, make_flow_backend, top_fraction_mean, warp
from pfbench.metrics.vbench.interpolation import FlowInterpolator, make_interpolator, register_interpolator


def _pair(shift=4, h=64, w=96):
    import cv2

    rng = np.random.default_rng(0)
    tex = cv2.resize(rng.integers(0, 256, (h // 8 + 2, (w + shift) // 8 + 2, 3), dtype=np.uint8),
                     (w + shift, h), interpolation=cv2.INTER_CUBIC)
    return tex[:, shift:shift + w].copy(), tex[:, :w].copy()  # b is a shifted right by `shift` px


@pytest.mark.parametrize("name", ["opencv-dis", "opencv-farneback"])
def test_opencv_flow_recovers_translation(name):
    a, b = _pair(4)
    flow = make_flow_backend(name)(a[None], b[None])[0]  # (H, W, 2)
    inner = flow[8:-8, 8:-8]
    assert np.median(inner[..., 0]) == pytest.approx(4.0, abs=0.3)
    assert np.median(inner[..., 1]) == pytest.approx(0.0, abs=0.3)
    back = warp(b, flow)  # a(p) ~= b(p + flow(p))
    assert np.abs(back[8:-8, 8:-8].astype(int) - a[8:-8, 8:-8]).mean() < 6


def test_top_fraction_mean():
    values = np.arange(100, dtype=float)
    assert top_fraction_mean(values, 0.05) == pytest.approx(97.0)  # mean of 95..99
    assert magnitude(np.array([[[3.0, 4.0]]])) == pytest.approx(5.0)


def test_raft_loads_from_local_state_dict(tmp_path):
    from torchvision.models.optical_flow import raft_small

    torch.manual_seed(0)
    path = tmp_path / "raft_small.pth"
    torch.save(raft_small(weights=None).state_dict(), path)
    backend = make_flow_backend(FlowOptions("raft-small", str(path), "cpu", raft_iters=2))
    a, b = _pair(4, 60, 90)  # not a multiple of 8: padded inside
    flow = backend(a[None], b[None])
    assert flow.shape == (1, 60, 90, 2) and np.isfinite(flow).all()
    assert backend.name == "torchvision-raft-small"


def test_raft_without_weights_names_the_option():
    with pytest.raises(FileNotFoundError, match="--raft-weights"):
        make_flow_backend(FlowOptions("raft-large"))


def test_flow_interpolator_predicts_the_middle_frame():
    import cv2

    rng = np.random.default_rng(0)
    tex = cv2.resize(rng.integers(0, 256, (10, 14, 3), dtype=np.uint8), (104, 64), interpolation=cv2.INTER_CUBIC)
    a, mid_true, b = tex[:, 8:], tex[:, 4:100], tex[:, :96]  # 4 px per frame
    interp = make_interpolator()
    assert isinstance(interp, FlowInterpolator)
    mid = interp(a[None], b[None])[0]
    err = lambda x: np.abs(x[8:-8, 8:-8].astype(int) - mid_true[8:-8, 8:-8]).mean()
    assert err(mid) < 0.5 * min(err(a), err(b))


def test_interpolator_registry():
    register_interpolator("test-blend", lambda o: type("Blend", (), {"name": "blend", "__call__":
                          lambda self, p, n: ((p.astype(int) + n) // 2).astype(np.uint8)})())
    from pfbench.metrics.vbench.interpolation import InterpolatorOptions

    assert make_interpolator(InterpolatorOptions("test-blend")).name == "blend"
    with pytest.raises(ValueError, match="already registered"):
        register_interpolator("test-blend", lambda o: None)
