"""Optical flow backends for the motion metrics: OpenCV (offline default) and torchvision RAFT.

A backend maps pairs of uint8 frames to flows: ``backend(a, b)`` with a, b (N, H, W, 3) uint8 returns
(N, H, W, 2) float32 flow from a to b in pixels (x, y), at the frames' native resolution, so that
``a(p) ~= b(p + flow(p))``. Backends are built by name from ``FLOW_BACKENDS`` with ``make_flow_backend``.
VBench and EvalCrafter use RAFT (raft-things); the OpenCV backends are faster, weaker estimates whose
name is recorded next to every number they produce.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np


class FlowBackend(Protocol):
    name: str

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray: ...


# ----------------------------------------------------------------------------------------------- OpenCV

@dataclass
class OpenCVFlow:
    """Dense flow with OpenCV: "dis" (DIS, preset medium) or "farneback"; CPU, no weights."""

    method: str = "dis"

    def __post_init__(self):
        if self.method not in ("dis", "farneback"):
            raise ValueError(f"unknown OpenCV flow method {self.method!r}: use 'dis' or 'farneback'")
        self.name = f"opencv-{self.method}"

    def _one(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        import cv2

        ga = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY)  # (H, W) uint8
        gb = cv2.cvtColor(b, cv2.COLOR_RGB2GRAY)
        if self.method == "dis":
            dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
            return dis.calc(ga, gb, None)  # (H, W, 2) float32
        return cv2.calcOpticalFlowFarneback(ga, gb, None, pyr_scale=0.5, levels=4, winsize=15, iterations=3,
                                            poly_n=5, poly_sigma=1.2, flags=0)  # (H, W, 2) float32

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        a, b = _check_pairs(a, b)
        flows = parallel_map(lambda pair: self._one(*pair), zip(a, b))
        return np.stack(flows).astype(np.float32)  # (N, H, W, 2)


# ----------------------------------------------------------------------------------------------- RAFT

RAFT_MODELS = ("raft_large", "raft_small")


def load_raft(weights_path: str | Path, model: str = "raft_large", device: str = "cpu"):
    """torchvision RAFT from a local state dict (``torch.save(raft.state_dict(), PATH)``); never downloads."""
    import torch
    from torchvision.models import optical_flow

    if model not in RAFT_MODELS:
        raise ValueError(f"unknown RAFT model {model!r}: use one of {RAFT_MODELS}")
    path = Path(weights_path)
    if not path.is_file():
        raise FileNotFoundError(f"RAFT weights {path} not found; save torchvision's {model} state dict there "
                                f"(torch.save({model}(weights=...).state_dict(), '{path}'))")
    net = getattr(optical_flow, model)(weights=None, progress=False)
    from pfbench.safe_load import safe_torch_load
    state = safe_torch_load(path, "RAFT weights", f"save torchvision's {model} state dict there")
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    try:
        net.load_state_dict(state)
    except RuntimeError as err:
        raise ValueError(f"{path}: not a torchvision {model} state dict ({str(err).splitlines()[0]}); "
                         f"pass --raft-model raft_small/raft_large to match the file") from err
    return net.eval().to(device)


@dataclass
class RaftFlow:
    """torchvision RAFT (``iters`` refinement steps, 20 as in VBench) on ``device``; frames edge-padded to a
    multiple of 8 and to at least 128 px (RAFT's correlation pyramid needs 16 feature rows/columns)."""

    weights_path: str
    model: str = "raft_large"
    iters: int = 20
    device: str = "cpu"
    batch_size: int = 8

    def __post_init__(self):
        self.net = load_raft(self.weights_path, self.model, self.device)
        self.name = f"torchvision-{self.model.replace('_', '-')}"

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        a, b = _check_pairs(a, b)
        n, h, w, _ = a.shape
        ph, pw = _raft_pad(h), _raft_pad(w)
        out = []
        with torch.inference_mode():
            for s in range(0, n, self.batch_size):
                xa = torch.from_numpy(a[s:s + self.batch_size]).to(self.device).permute(0, 3, 1, 2)  # (B, 3, H, W)
                xb = torch.from_numpy(b[s:s + self.batch_size]).to(self.device).permute(0, 3, 1, 2)
                xa = xa.float() / 127.5 - 1.0  # RAFT expects [-1, 1]
                xb = xb.float() / 127.5 - 1.0
                if ph or pw:
                    xa = F.pad(xa, (0, pw, 0, ph), mode="replicate")
                    xb = F.pad(xb, (0, pw, 0, ph), mode="replicate")
                flow = self.net(xa, xb, num_flow_updates=self.iters)[-1]  # (B, 2, H', W')
                out.append(flow[:, :, :h, :w].permute(0, 2, 3, 1).float().cpu().numpy())  # (B, H, W, 2)
        return np.concatenate(out).astype(np.float32)  # (N, H, W, 2)


def _raft_pad(size: int) -> int:
    """Padding that makes ``size`` a multiple of 8 and at least 128."""
    target = max(128, size + (-size) % 8)
    return target - size


# ----------------------------------------------------------------------------------------------- registry

@dataclass(frozen=True)
class FlowOptions:
    """How to build a flow backend: name, RAFT weights file, device."""

    backend: str = "opencv-dis"
    raft_weights: str | None = None
    device: str = "cpu"
    raft_iters: int = 20


FLOW_BACKENDS: dict[str, Callable[[FlowOptions], FlowBackend]] = {
    "opencv-dis": lambda o: OpenCVFlow("dis"),
    "opencv-farneback": lambda o: OpenCVFlow("farneback"),
    "raft-large": lambda o: RaftFlow(_need_raft(o), "raft_large", o.raft_iters, o.device),
    "raft-small": lambda o: RaftFlow(_need_raft(o), "raft_small", o.raft_iters, o.device),
}


def _need_raft(o: FlowOptions) -> str:
    if not o.raft_weights:
        raise FileNotFoundError(f"flow backend {o.backend!r} needs RAFT weights; pass --raft-weights PATH "
                                f"(a torchvision state dict) or use --flow opencv-dis")
    return o.raft_weights


def make_flow_backend(options: FlowOptions | str = "opencv-dis") -> FlowBackend:
    """Build a flow backend by name (``FLOW_BACKENDS``)."""
    if isinstance(options, str):
        options = FlowOptions(backend=options)
    if options.backend not in FLOW_BACKENDS:
        raise ValueError(f"unknown flow backend {options.backend!r}: choose one of {', '.join(FLOW_BACKENDS)}")
    return FLOW_BACKENDS[options.backend](options)


# ----------------------------------------------------------------------------------------------- helpers

def _check_pairs(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim == 3:
        a, b = a[None], b[None]
    if a.shape != b.shape or a.ndim != 4 or a.shape[-1] != 3 or a.dtype != np.uint8:
        raise ValueError(f"flow needs two uint8 (N, H, W, 3) arrays of one shape, got {a.shape} {a.dtype} "
                         f"and {b.shape} {b.dtype}")
    return a, b


def parallel_map(fn, items) -> list:
    """Map over independent frame pairs on every core: OpenCV and NumPy release the GIL in their kernels."""
    items = list(items)
    workers = min(len(items), os.cpu_count() or 1)
    if workers <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, items))


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Backward warp: out(p) = image(p + flow(p)), bilinear, border replicated. image (H, W, C), flow (H, W, 2)."""
    import cv2

    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    map_x = gx + flow[..., 0]  # (H, W) float32
    map_y = gy + flow[..., 1]
    return cv2.remap(image, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def magnitude(flow: np.ndarray) -> np.ndarray:
    """|flow| per pixel: (..., H, W, 2) -> (..., H, W)."""
    return np.sqrt((flow.astype(np.float32) ** 2).sum(-1))


def top_fraction_mean(values: np.ndarray, fraction: float) -> float:
    """Mean of the largest ``fraction`` of the values (VBench: top 5% / 2% flow magnitudes)."""
    flat = np.asarray(values, dtype=np.float64).ravel()
    k = max(1, int(len(flat) * fraction))
    return float(np.partition(flat, len(flat) - k)[-k:].mean())
