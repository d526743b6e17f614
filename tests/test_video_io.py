"""Video reading/writing: containers round-trip with fps and size, fps sampling, real clips, bad files."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pfbench.core.video_read import VideoReadError, iter_chunks, keep_frame, list_videos, probe_video, read_video
from pfbench.core.video_write import write_video

REAL_VIDEOS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "videos"


def _clip(t=10, h=32, w=48, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = np.kron(rng.integers(0, 256, (h // 8, w // 8, 3)), np.ones((8, 8, 1))).astype(np.uint8)  # blocky, codec-friendly
    return np.stack([np.roll(base, 2 * i, axis=1) for i in range(t)])  # (T, H, W, 3)


@pytest.mark.parametrize("ext", [".mp4", ".webm", ".avi", ".gif"])
def test_roundtrip_keeps_fps_size_and_frames(tmp_path, ext):
    frames = _clip()
    fps = 10.0 if ext == ".gif" else 12.0
    path = write_video(tmp_path / f"c{ext}", frames, fps)
    video, info = read_video(path)
    assert video.shape == frames.shape and video.dtype == np.uint8
    assert (info.width, info.height, info.frames) == (48, 32, 10)
    assert info.fps == pytest.approx(fps, rel=1e-3)
    assert np.abs(video.astype(int) - frames).mean() < 12  # lossy codecs, but the same picture


def test_odd_size_mp4_is_padded_to_even(tmp_path):
    frames = _clip(4, 32, 48)[:, :31, :47]
    video, info = read_video(write_video(tmp_path / "odd.mp4", frames, 24))
    assert (info.width, info.height) == (48, 32)
    assert np.abs(video[:, :31, :47].astype(int) - frames).mean() < 12


def test_png_single_frame_and_frame_folder(tmp_path):
    frames = _clip(3)
    for i, f in enumerate(frames):
        write_video(tmp_path / "frames" / f"{i:04d}.png", f)
    video, info = read_video(tmp_path / "frames", folder_fps=8)
    assert info.kind == "frames" and info.fps == 8 and np.array_equal(video, frames)
    with pytest.raises(ValueError, match="one frame"):
        write_video(tmp_path / "x.png", frames)


def test_write_rejects_float_and_channels_first(tmp_path):
    with pytest.raises(ValueError, match="uint8"):
        write_video(tmp_path / "f.mp4", np.zeros((2, 8, 8, 3), np.float32))
    with pytest.raises(ValueError, match="channels last"):
        write_video(tmp_path / "c.mp4", np.zeros((2, 3, 8, 8), np.uint8))


def test_fps_sampling_and_chunks(tmp_path):
    path = write_video(tmp_path / "c.avi", _clip(24), 24)
    video, info = read_video(path, fps=8)
    assert len(video) == 8 and info.fps == 8 and info.source_fps == 24
    assert [i for i in range(24) if keep_frame(i, 24, 8)] == list(range(0, 24, 3))
    chunks = list(iter_chunks(path, chunk_size=5))
    assert [len(c) for c in chunks] == [5, 5, 5, 5, 4]


def test_prefetched_chunks_are_the_same_and_errors_still_name_the_file(tmp_path):
    path = write_video(tmp_path / "c.avi", _clip(24), 24)
    plain, ahead = list(iter_chunks(path, chunk_size=5)), list(iter_chunks(path, chunk_size=5, prefetch=2))
    assert len(plain) == len(ahead) == 5 and all(np.array_equal(a, b) for a, b in zip(plain, ahead))
    cut = tmp_path / "cut.avi"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # truncated: raised in the decode thread
    with pytest.raises(VideoReadError, match="cut.avi"):
        for _ in iter_chunks(cut, chunk_size=5, prefetch=1):
            pass
    gen = iter_chunks(path, chunk_size=2, prefetch=1)
    next(gen)
    gen.close()  # stops the producer; nothing left running
    import threading
    assert not [t for t in threading.enumerate() if t.name == "pfbench-decode" and t.is_alive()]


def test_corrupt_and_empty_files_raise_named_errors(tmp_path):
    bad = tmp_path / "x.mp4"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    empty = tmp_path / "e.webm"
    empty.touch()
    for p in (bad, empty):
        with pytest.raises(VideoReadError, match=p.name):
            read_video(p)
    assert set(list_videos(tmp_path)) == {bad, empty}


@pytest.mark.parametrize("name, fps, size, frames", [
    ("mpeg4_320x240_25fps.avi", 25, (320, 240), 164),
    ("h264_340x256_30fps.mp4", 30, (340, 256), 32),
])
def test_real_clips(name, fps, size, frames):
    path = REAL_VIDEOS / name
    if not path.exists():
        pytest.skip(f"{path} absent (needs ../shared/data)")
    info = probe_video(path)
    assert info.fps == pytest.approx(fps) and (info.width, info.height) == size
    n = sum(len(c) for c in iter_chunks(path, chunk_size=64))
    assert n == frames


def test_gif_with_repeated_frames_keeps_its_frame_count(tmp_path):
    frames = np.repeat(_clip(2), 3, axis=0)  # Pillow merges identical neighbours when writing
    video, info = read_video(write_video(tmp_path / "r.gif", frames, 8))
    assert len(video) == 6 and info.fps == 8 and np.array_equal(video, frames)
