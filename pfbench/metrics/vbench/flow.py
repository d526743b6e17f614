"""Optical flow backends for the motion metrics: OpenCV (offline default) and torchvision RAFT.

A backend maps pairs of uint8 frames to flows: ``backend(a, b)`` with a, b (N, H, W, 3) uint8 returns
(N, H, W, 2) float32 flow from a to b in pixels (x, y), at the frames' native resolution, so that
``a(p) ~= b(p + flow(p))``. Backends are built by name from ``FLOW_BACKENDS`` with ``make_flow_backend``.
A backend with ``accepts_gray = True`` (OpenCV) also takes (N, H, W) uint8 grey frames, which callers that reduce
frames first (``reduce_frames``) pass to skip a colour conversion per pair.
VBench and EvalCrafter use RAFT (raft-things); the OpenCV backends are faster, weaker estimates whose
name is recorded next to every number they produce.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

import numpy as np


class FlowBackend(Protocol):
    name: str

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray: ...


# ----------------------------------------------------------------------------------------------- OpenCV

DIS_PRESETS = {"dis": "MEDIUM", "dis-fast": "FAST", "dis-ultrafast": "ULTRAFAST"}


@dataclass
class OpenCVFlow:
    """Dense flow with OpenCV: "dis" (DIS, preset medium), "dis-fast" / "dis-ultrafast" (DIS's faster presets:
    coarser finest scale, fewer iterations) or "farneback"; CPU, no weights."""

    method: str = "dis"
    accepts_gray = True
    takes_frame_lists = True  # a, b may be lists of frames (no stacking copy)

    def __post_init__(self):
        if self.method not in DIS_PRESETS and self.method != "farneback":
            raise ValueError(f"unknown OpenCV flow method {self.method!r}: use {', '.join(DIS_PRESETS)} or 'farneback'")
        self.name = f"opencv-{self.method}"

    def _one(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        import cv2

        ga = to_gray(a)  # (H, W) uint8
        gb = to_gray(b)
        if self.method in DIS_PRESETS:
            dis = cv2.DISOpticalFlow_create(getattr(cv2, "DISOPTICAL_FLOW_PRESET_" + DIS_PRESETS[self.method]))
            return dis.calc(ga, gb, None)  # (H, W, 2) float32
        return cv2.calcOpticalFlowFarneback(ga, gb, None, pyr_scale=0.5, levels=4, winsize=15, iterations=3,
                                            poly_n=5, poly_sigma=1.2, flags=0)  # (H, W, 2) float32

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        a, b = _check_pairs(a, b, gray=True)
        flows = parallel_map(lambda pair: self._one(*pair), zip(a, b))
        return np.stack(flows).astype(np.float32)  # (N, H, W, 2)


# ----------------------------------------------------------------------------------------------- RAFT

RAFT_MODELS = ("raft_large", "raft_small")


def load_raft(weights_path: str | Path, model: str = "raft_large", device: str = "cpu"):
    """torchvision RAFT from a local state dict (``torch.save(raft.state_dict(), PATH)``); never downloads."""
    from torchvision.models import optical_flow

    if model not in RAFT_MODELS:
        raise ValueError(f"unknown RAFT model {model!r}: use one of {RAFT_MODELS}")
    path = Path(weights_path)
    if not path.is_file():
        raise FileNotFoundError(f"RAFT weights {path} not found; save torchvision's {model} state dict there "
                                f"(torch.save({model}(weights=...).state_dict(), '{path}'))")
    net = getattr(optical_flow, model)(weights=None, progress=False)
    from pfbench.core.safe_load import safe_torch_load
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
        n, (h, w) = len(a), a[0].shape[:2]
        ph, pw = _raft_pad(h), _raft_pad(w)
        out = []
        with torch.inference_mode():
            for s in range(0, n, self.batch_size):
                xa = torch.from_numpy(np.stack(a[s:s + self.batch_size])).to(self.device).permute(0, 3, 1, 2)  # (B, 3, H, W)
                xb = torch.from_numpy(np.stack(b[s:s + self.batch_size])).to(self.device).permute(0, 3, 1, 2)
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
    "opencv-dis-fast": lambda o: OpenCVFlow("dis-fast"),
    "opencv-dis-ultrafast": lambda o: OpenCVFlow("dis-ultrafast"),
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

def _check_pairs(a, b, gray: bool = False):
    """(N, H, W, 3) uint8 pairs (a single (H, W, 3) pair gets N = 1); with ``gray``, (N, H, W) grey ones too.
    Lists of frames are checked frame by frame and returned as lists (no stacking copy)."""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and len(a) == len(b) and len(a):
        for x, y in zip(a, b):
            _check_pairs(np.asarray(x)[None], np.asarray(y)[None], gray)
        if len({np.shape(x) for x in [*a, *b]}) > 1:
            raise ValueError("flow needs frames of one shape; got several in one list")
        return list(a), list(b)
    a, b = np.asarray(a), np.asarray(b)
    is_gray = gray and a.ndim == 3 and a.shape[-1] != 3
    if a.ndim == 3 and not is_gray:
        a, b = a[None], b[None]
    rgb = a.ndim == 4 and a.shape[-1] == 3
    if a.shape != b.shape or a.dtype != np.uint8 or not (rgb or is_gray):
        raise ValueError(f"flow needs two uint8 (N, H, W, 3){' or (N, H, W)' if gray else ''} arrays of one shape, "
                         f"got {a.shape} {a.dtype} and {b.shape} {b.dtype}")
    return a, b


def to_gray(frame: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB uint8 -> (H, W) grey (OpenCV's BT.601 weights); a (H, W) frame is returned as is."""
    import cv2

    return frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


def reduced_size(h: int, w: int, side: int | None) -> tuple[int, int]:
    """(h', w') with min(h', w') = ``side`` and the aspect kept; (h, w) itself if ``side`` is None or not smaller."""
    if side is None or min(h, w) <= side:
        return h, w
    scale = side / min(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))


def reduce_frame(frame: np.ndarray, side: int | None, gray: bool = False) -> np.ndarray:
    """One (H, W, 3) uint8 frame area-averaged to short side ``side`` (grey first when ``gray``: a third of the
    work). An integer factor goes first (OpenCV's fast path for INTER_AREA), then the small rest."""
    import cv2

    img = to_gray(frame) if gray else frame
    h, w = img.shape[:2]
    th, tw = reduced_size(h, w, side)
    if (th, tw) == (h, w):
        return img
    k = min(h // th, w // tw)
    if k > 1 and (h // k, w // k) != (th, tw):
        img = cv2.resize(img, (w // k, h // k), interpolation=cv2.INTER_AREA)  # exact k x k block means
    return cv2.resize(img, (tw, th), interpolation=cv2.INTER_AREA)  # (th, tw[, 3]) uint8


def reduce_frames(frames, side: int | None, gray: bool = False) -> np.ndarray:
    """(N, H, W, 3) uint8 (or a list of (H, W, 3)) -> (N, h, w[, 3]) at short side ``side``; the input itself when
    nothing changes."""
    if len(frames) == 0 or (not gray and reduced_size(*frames[0].shape[:2], side) == tuple(frames[0].shape[:2])):
        return frames
    return np.stack(parallel_map(lambda f: reduce_frame(f, side, gray), frames))


def upscale_flow(flow: np.ndarray, h: int, w: int) -> np.ndarray:
    """(h', w', 2) flow computed on reduced frames -> (h, w, 2) in native pixels (bilinear, vectors rescaled)."""
    import cv2

    fh, fw = flow.shape[:2]
    if (fh, fw) == (h, w):
        return flow
    scaled = flow * np.array([w / fw, h / fh], np.float32)  # rescale first: bilinear resizing is linear, and small
    return cv2.resize(scaled, (w, h), interpolation=cv2.INTER_LINEAR)  # (h, w, 2) float32


def parallel_map(fn, items) -> list:
    """Map over independent frame pairs on every core: OpenCV and NumPy release the GIL in their kernels."""
    items = list(items)
    workers = min(len(items), os.cpu_count() or 1)
    if workers <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, items))


def pixel_grid(h: int, w: int) -> np.ndarray:
    """(H, W, 2) float32 pixel coordinates (x, y): the identity map of ``cv2.remap``."""
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return np.stack([gx, gy], axis=-1)  # (H, W, 2)


def warp(image: np.ndarray, flow: np.ndarray, grid: np.ndarray | None = None) -> np.ndarray:
    """Backward warp: out(p) = image(p + flow(p)), bilinear, border replicated. image (H, W, C), flow (H, W, 2);
    ``grid`` is ``pixel_grid(H, W)`` when the caller keeps one for many warps."""

    grid = pixel_grid(*flow.shape[:2]) if grid is None else grid
    return remap(image, grid + flow.astype(np.float32, copy=False))  # coords (H, W, 2): where each pixel samples


def remap(image: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """out(p) = image(coords(p)), bilinear, border replicated; coords (H, W, 2) float32 absolute (x, y)."""
    import cv2

    return cv2.remap(image, coords, None, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def magnitude(flow: np.ndarray) -> np.ndarray:
    """|flow| per pixel: (..., H, W, 2) -> (..., H, W) float32."""
    flow = np.asarray(flow, dtype=np.float32)
    return np.sqrt(np.einsum("...i,...i->...", flow, flow))  # one pass, no (..., H, W, 2) temporary


def top_fraction_mean(values: np.ndarray, fraction: float) -> float:
    """Mean of the largest ``fraction`` of the values (VBench: top 5% / 2% flow magnitudes)."""
    flat = np.asarray(values, dtype=np.float64).ravel()
    k = max(1, int(len(flat) * fraction))
    return float(np.partition(flat, len(flat) - k)[-k:].mean())
