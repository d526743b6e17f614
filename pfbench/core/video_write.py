"""Writing videos: MP4/WebM/AVI through PyAV, GIF and PNG through Pillow; frames are uint8 RGB (T, H, W, 3)."""
from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import numpy as np

from pfbench.core.video_read import _GIF_TAG

# ----------------------------------------------------------------------------------------------- writing

def _as_frames(frames) -> np.ndarray:
    """Validate and normalise to (T, H, W, 3) uint8; names the fix when the input is wrong."""
    try:
        import torch

        if isinstance(frames, torch.Tensor):
            frames = frames.detach().cpu().numpy()
    except ImportError:  # pragma: no cover
        pass
    arr = np.asarray(frames)
    if arr.ndim == 3 and arr.shape[-1] in (1, 3, 4):
        arr = arr[None]  # (1, H, W, C)
    if arr.ndim != 4 or arr.shape[-1] not in (1, 3, 4):
        raise ValueError(f"frames must be (T, H, W, 3) uint8 (channels last), got shape {tuple(arr.shape)}; "
                         f"for (T, 3, H, W) pass frames.transpose(0, 2, 3, 1)")
    if arr.shape[0] == 0 or arr.shape[1] == 0 or arr.shape[2] == 0:
        raise ValueError(f"frames are empty: shape {tuple(arr.shape)}")
    if arr.dtype != np.uint8:
        if np.issubdtype(arr.dtype, np.floating):
            raise ValueError(f"frames must be uint8 in [0, 255], got {arr.dtype}; convert with "
                             f"(x.clip(0, 1) * 255).round().astype(np.uint8)")
        if arr.min() < 0 or arr.max() > 255:
            raise ValueError(f"frames of dtype {arr.dtype} fall outside [0, 255]; clip them and cast to uint8")
        arr = arr.astype(np.uint8)
    if arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=-1)
    elif arr.shape[-1] == 4:
        arr = arr[..., :3]  # drop alpha
    return np.ascontiguousarray(arr)  # (T, H, W, 3) uint8


def _pad_even(frames: np.ndarray) -> np.ndarray:
    """yuv420p needs even sizes: replicate the last row/column when odd."""
    t, h, w, _ = frames.shape
    ph, pw = h % 2, w % 2
    if ph or pw:
        frames = np.pad(frames, ((0, 0), (0, ph), (0, pw), (0, 0)), mode="edge")  # (T, H', W', 3)
    return frames


_CONTAINER_CODECS = {".mp4": "libx264", ".mkv": "libx264", ".mov": "libx264", ".m4v": "libx264",
                     ".webm": "libvpx-vp9", ".avi": "mpeg4"}


def write_video(path: str | Path, frames, fps: float = 24.0, crf: int = 17) -> Path:
    """Write (T, H, W, 3) uint8 frames: .mp4/.mkv/.mov (H.264, yuv420p, odd sizes padded to even),
    .webm (VP9), .avi (MPEG-4), .gif (Pillow, looping) or .png (a single frame). Returns the path."""
    path = Path(path)
    suffix = path.suffix.lower()
    arr = _as_frames(frames)
    if not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive number, got {fps!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".png":
        if arr.shape[0] != 1:
            raise ValueError(f"{path}: a .png holds one frame but {arr.shape[0]} were given; "
                             f"write .mp4 or .gif for a video")
        from PIL import Image

        Image.fromarray(arr[0]).save(path)
        return path
    if suffix == ".gif":
        from PIL import Image

        images = [Image.fromarray(f) for f in arr]
        duration_ms = max(10, int(round(100.0 / fps)) * 10)  # GIF stores centiseconds
        # Pillow merges identical consecutive frames; the comment lets read_video expand them back.
        images[0].save(path, save_all=True, append_images=images[1:], duration=duration_ms, loop=0,
                       optimize=False, disposal=1, comment=f"{_GIF_TAG}{duration_ms} fps={fps:g}")
        return path
    if suffix not in _CONTAINER_CODECS:
        raise ValueError(f"{path}: unsupported extension {suffix!r}; use one of "
                         f"{', '.join(sorted(_CONTAINER_CODECS) + ['.gif', '.png'])}")
    import av

    codec = _CONTAINER_CODECS[suffix]
    arr = _pad_even(arr)  # (T, H', W', 3) uint8
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height = arr.shape[2], arr.shape[1]
        stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            stream.options = {"crf": str(crf), "preset": "medium"}
        elif codec == "libvpx-vp9":
            stream.options = {"crf": str(max(crf, 15)), "b": "0", "deadline": "good", "cpu-used": "4"}
        else:
            stream.options = {"qscale": "2"}
            stream.bit_rate = 8_000_000
        for frame in arr:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():  # flush
            container.mux(packet)
    return path
