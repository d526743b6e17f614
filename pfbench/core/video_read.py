"""Reading videos for the metrics: containers through PyAV, GIF/PNG and frame folders through Pillow.

Every metric must see the same pixels (fps and resolution re-encoding move VBench scores), so decoding, fps
sampling and the metadata recorded with each score live here. Frames are always uint8 RGB, (T, H, W, 3). Long
videos are streamed in chunks (``iter_chunks``), so memory is bounded by the chunk size, not the video length.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

import numpy as np

VIDEO_EXTENSIONS = (".mp4", ".webm", ".avi", ".mov", ".mkv", ".m4v", ".gif")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
DEFAULT_FOLDER_FPS = 24.0  # a folder of frames carries no fps; this one is assumed and recorded


class VideoReadError(ValueError):
    """A video that cannot be decoded; the message names the file and what to do."""


@dataclass(frozen=True)
class VideoInfo:
    """What a score must carry about its input: where it came from, fps and size.

    ``fps`` is the rate of the frames handed to the metrics (after ``sample_fps``),
    ``source_fps`` the file's own; ``frames`` is the decoded count when known (None before decoding
    for containers that do not store it).
    """

    path: str
    fps: float
    width: int
    height: int
    frames: int | None
    source_fps: float
    kind: str  # "video" | "gif" | "frames"
    codec: str = ""


# ----------------------------------------------------------------------------------------------- listing

def is_frame_folder(path: Path) -> bool:
    """A folder that directly holds image files (and no videos) is read as one video."""
    if not path.is_dir():
        return False
    names = [p for p in path.iterdir() if p.is_file()]
    return any(p.suffix.lower() in IMAGE_EXTENSIONS for p in names) and not any(
        p.suffix.lower() in VIDEO_EXTENSIONS for p in names)


def list_videos(path: str | Path) -> list[Path]:
    """Videos under ``path``: the file itself, a frame folder, or (recursively) every video file and
    frame folder below a directory, sorted. Empty files are listed too so they get an error record."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder; pass a video file or a folder of videos")
    if path.is_file():
        return [path]
    if is_frame_folder(path):
        return [path]
    found: list[Path] = []
    for p in sorted(path.rglob("*")):
        if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS:
            found.append(p)
        elif p.is_dir() and is_frame_folder(p):
            found.append(p)
    return found


def _frame_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


# ----------------------------------------------------------------------------------------------- probing

def probe_video(path: str | Path, folder_fps: float = DEFAULT_FOLDER_FPS) -> VideoInfo:
    """Metadata without decoding every frame (frames may be None for containers that omit it)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such video; check the path")
    if path.is_dir():
        files = _frame_files(path)
        if not files:
            raise VideoReadError(f"{path}: folder holds no image frames ({', '.join(IMAGE_EXTENSIONS)})")
        w, h = _read_image(files[0]).shape[1::-1]
        return VideoInfo(str(path), folder_fps, w, h, len(files), folder_fps, "frames")
    if path.stat().st_size == 0:
        raise VideoReadError(f"{path}: empty file (0 bytes); re-export or remove it")
    if path.suffix.lower() == ".gif":
        fps, base_ms, w, h, repeats = _gif_meta(path)
        return VideoInfo(str(path), fps, w, h, sum(repeats), fps, "gif", "gif")
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoReadError(f"{path}: no video stream; is it an audio or data file?")
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            fps = float(rate) if rate else 0.0
            if not math.isfinite(fps) or fps <= 0:
                fps = DEFAULT_FOLDER_FPS
            ctx = stream.codec_context
            frames = int(stream.frames) or None
            kind = "gif" if path.suffix.lower() == ".gif" else "video"
            return VideoInfo(str(path), fps, int(ctx.width), int(ctx.height), frames, fps, kind, ctx.name or "")
    except VideoReadError:
        raise
    except Exception as err:  # PyAV raises many error types for broken files
        raise VideoReadError(f"{path}: cannot open as a video ({type(err).__name__}: {err}); "
                             f"the file is corrupt or not a video, re-encode it (e.g. ffmpeg -i IN -c:v libx264 OUT.mp4)"
                             ) from err


# ----------------------------------------------------------------------------------------------- decoding

def keep_frame(index: int, source_fps: float, target_fps: float | None) -> bool:
    """Uniform fps down-sampling by index: keep frame i when floor(i * target / source) advances.

    Up-sampling is never done (target >= source keeps every frame)."""
    if target_fps is None or target_fps >= source_fps:
        return True
    ratio = target_fps / source_fps
    return index == 0 or math.floor(index * ratio + 1e-9) != math.floor((index - 1) * ratio + 1e-9)


def _read_image(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8)  # (H, W, 3) uint8


_GIF_TAG = "pfbench frame_ms="


def _gif_meta(path: Path) -> tuple[float, float, int, int, list[int]]:
    """(fps, frame duration ms, width, height, repeats per stored frame) of a GIF.

    GIF writers (Pillow included) merge identical consecutive frames into one longer frame; expanding each
    stored frame by duration / frame duration restores the constant-rate sequence. The frame duration comes
    from the comment ``write_video`` stores, else the shortest frame duration in the file."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            w, h = im.size
            durations = []
            for i in range(getattr(im, "n_frames", 1)):
                im.seek(i)
                durations.append(float(im.info.get("duration") or 0))
            comment = im.info.get("comment", b"")
    except Exception as err:
        raise VideoReadError(f"{path}: cannot read as a GIF ({type(err).__name__}: {err}); re-export it") from err
    comment = comment.decode("utf-8", "ignore") if isinstance(comment, bytes) else str(comment)
    positive = [d for d in durations if d > 0]
    base = min(positive) if positive else 100.0
    fps = 1000.0 / base
    if comment.startswith(_GIF_TAG):
        try:
            base_s, fps_s = comment[len(_GIF_TAG):].split(" fps=")
            base, fps = float(base_s), float(fps_s)
        except ValueError:
            pass
    repeats = [max(1, int(round(d / base))) if d > 0 else 1 for d in durations]
    return fps, base, w, h, repeats


def _iter_raw_frames(path: Path) -> Iterator[np.ndarray]:
    """Every decoded frame, (H, W, 3) uint8, in display order."""
    if path.is_dir():
        for f in _frame_files(path):
            yield _read_image(f)
        return
    if path.suffix.lower() == ".gif":
        from PIL import Image

        *_, repeats = _gif_meta(path)
        with Image.open(path) as im:
            for i, n in enumerate(repeats):
                im.seek(i)
                frame = np.array(im.convert("RGB"), dtype=np.uint8)  # (H, W, 3)
                for _ in range(n):
                    yield frame
        return
    import av

    try:
        container = av.open(str(path))
    except Exception as err:
        raise VideoReadError(f"{path}: cannot open as a video ({type(err).__name__}: {err}); "
                             f"the file is corrupt or not a video") from err
    with container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        try:
            for frame in container.decode(stream):
                yield frame.to_ndarray(format="rgb24")  # (H, W, 3) uint8
        except VideoReadError:
            raise
        except Exception as err:
            raise VideoReadError(f"{path}: decoding failed ({type(err).__name__}: {err}); the file is truncated "
                                 f"or corrupt, re-encode it") from err


def iter_frames(path: str | Path, fps: float | None = None,
                folder_fps: float = DEFAULT_FOLDER_FPS) -> Iterator[np.ndarray]:
    """Frames of one video, (H, W, 3) uint8 each, down-sampled to ``fps`` when given."""
    path = Path(path)
    info = probe_video(path, folder_fps)
    count = 0
    for i, frame in enumerate(_iter_raw_frames(path)):
        if keep_frame(i, info.source_fps, fps):
            count += 1
            yield frame
    if count == 0:
        raise VideoReadError(f"{path}: no decodable frames; the file is empty or corrupt")


def iter_chunks(path: str | Path, chunk_size: int = 16, fps: float | None = None,
                folder_fps: float = DEFAULT_FOLDER_FPS, prefetch: int = 0) -> Iterator[np.ndarray]:
    """Consecutive chunks of frames, each (t <= chunk_size, H, W, 3) uint8: bounded memory for long videos.

    ``prefetch`` > 0 decodes that many chunks ahead in a background thread (PyAV releases the GIL while it
    decodes), so decoding overlaps the scoring of the previous chunk; memory grows by that many chunks."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    if prefetch > 0:
        yield from _prefetched(iter_chunks(path, chunk_size, fps, folder_fps), prefetch)
        return
    buf: list[np.ndarray] = []
    for frame in iter_frames(path, fps, folder_fps):
        buf.append(frame)
        if len(buf) == chunk_size:
            yield np.stack(buf)  # (t, H, W, 3) uint8
            buf = []
    if buf:
        yield np.stack(buf)


def _prefetched(chunks: Iterator[np.ndarray], depth: int) -> Iterator[np.ndarray]:
    """``chunks`` produced by a daemon thread, at most ``depth`` ahead; its exceptions re-raise here, in order.
    Closing this generator early stops the producer at its next chunk."""
    import queue
    import threading

    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce():
        try:
            for chunk in chunks:
                if not put(chunk):
                    return
            put(done)
        except BaseException as err:  # handed to the consumer, raised there
            put(err)

    thread = threading.Thread(target=produce, name="pfbench-decode", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


def sampled_info(info: VideoInfo, fps: float | None, frames: int | None = None) -> VideoInfo:
    """``info`` after fps sampling: the effective fps and (when known) the number of frames kept."""
    eff = info.source_fps if fps is None or fps >= info.source_fps else float(fps)
    return replace(info, fps=eff, frames=frames if frames is not None else info.frames)


def read_video(path: str | Path, fps: float | None = None, max_frames: int | None = None,
               folder_fps: float = DEFAULT_FOLDER_FPS) -> tuple[np.ndarray, VideoInfo]:
    """A whole (short) video in memory: frames (T, H, W, 3) uint8 and its ``VideoInfo``.

    For long videos prefer ``iter_chunks``. ``max_frames`` stops decoding early."""
    info = probe_video(path, folder_fps)
    frames = []
    for frame in iter_frames(path, fps, folder_fps):
        frames.append(frame)
        if max_frames is not None and len(frames) >= max_frames:
            break
    video = np.stack(frames)  # (T, H, W, 3) uint8
    return video, sampled_info(info, fps, len(frames))
