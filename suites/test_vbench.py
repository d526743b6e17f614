"""How fast are the VBench-style metrics? Frames per second per dimension on procedurally generated clips.

Clips (made here, seeded): a textured square translating over a textured background, a static scene and
uniform noise, at 384p (640x384) 24 fps, the paper's low resolution; real-time means >= 24 frames/s.
Each benchmark scores one clip on one dimension through the same streaming path `pfbench eval-videos` uses.
"""
from __future__ import annotations

import os

import numpy as np
import pytest

from pfbench.metrics.vbench import (DIMENSIONS, OFFLINE_DIMENSIONS, MetricContext, VBenchConfig, chunk_array,
                                    score_clips, score_stream)

FPS = 24.0
WIDTH, HEIGHT = 640, 384


def _texture(h: int, w: int, seed: int) -> np.ndarray:
    import cv2

    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (h // 16 + 1, w // 16 + 1, 3), dtype=np.uint8)
    return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)  # (H, W, 3) uint8


def make_clips(frames: int, h: int = HEIGHT, w: int = WIDTH, seed: int = 0) -> dict[str, np.ndarray]:
    """{"translating", "static", "noise"}: (T, H, W, 3) uint8 clips with known motion."""
    bg, square = _texture(h, w, seed), _texture(h // 3, h // 3, seed + 1)
    s = square.shape[0]
    moving = []
    for t in range(frames):
        frame = bg.copy()
        x, y = 20 + 6 * t, h // 3  # 6 px per frame, above VBench's 6 * 384 / 256 = 9 px per 3 frames at 8 fps
        frame[y:y + s, x % (w - s):x % (w - s) + s] = square
        moving.append(frame)
    rng = np.random.default_rng(seed + 2)
    return {"translating": np.stack(moving), "static": np.repeat(bg[None], frames, axis=0),
            "noise": rng.integers(0, 256, (frames, h, w, 3), dtype=np.uint8)}


@pytest.fixture(scope="module")
def clips(pf_preset):
    frames = 12 if pf_preset.name == "smoke" else 48
    return make_clips(frames)


@pytest.fixture(scope="module")
def ctx(pf_device):
    return MetricContext(VBenchConfig(device=pf_device, weights_dir=os.environ.get("PFBENCH_WEIGHTS_DIR")))


@pytest.mark.parametrize("clip", ["translating", "static", "noise"])
@pytest.mark.parametrize("dimension", OFFLINE_DIMENSIONS)
def test_offline_dimension_throughput(benchmark, pf_preset, pf_record, clips, ctx, dimension, clip):
    frames = clips[clip]
    rounds = 1 if pf_preset.name == "smoke" else pf_preset.benchmark_rounds
    result = benchmark.pedantic(lambda: score_stream(chunk_array(frames, 16), FPS, [dimension], ctx),
                                rounds=rounds, warmup_rounds=1, iterations=1)
    score = result[0][dimension]
    assert score.status == "ok", score.note
    fps_processed = len(frames) / benchmark.stats.stats.mean
    info = benchmark.extra_info
    info.update(dimension=dimension, backend=score.backend, clip=clip, clip_fps=FPS, width=WIDTH, height=HEIGHT,
                frames=len(frames), frames_per_second=fps_processed, realtime_factor=fps_processed / FPS,
                faster_than_realtime=fps_processed >= FPS, value=score.value)
    variant = f"{clip}-{WIDTH}x{HEIGHT}@{FPS:g}"
    pf_record([
        {"case": f"vbench-throughput/{dimension}", "variant": variant, "metric": "frames_per_second",
         "value": fps_processed, "unit": "frames/s", "backend": score.backend, "status": "ok"},
        {"case": f"vbench-throughput/{dimension}", "variant": variant, "metric": "realtime_factor",
         "value": fps_processed / FPS, "unit": "x", "backend": score.backend, "status": "ok",
         "note": "frames per second processed / 24"},
        {"case": "vbench-score", "variant": variant, "metric": dimension, "value": score.value, "unit": "score",
         "backend": score.backend, "status": "ok", "note": score.note},
    ])


def test_known_answers_on_suite_clips(clips, ctx):
    """The benchmarked clips behave as designed (so the speeds are of meaningful work)."""
    dims = ["temporal_flickering", "dynamic_degree"]
    static, _ = score_stream(chunk_array(clips["static"], 16), FPS, dims, ctx)
    moving, _ = score_stream(chunk_array(clips["translating"], 16), FPS, dims, ctx)
    assert static["temporal_flickering"].value == 1.0 and static["dynamic_degree"].video_result is False
    assert moving["dynamic_degree"].video_result is True


def test_weights_dimensions_status(pf_record, pf_device, clips):
    """Weights-based dimensions: scored when PFBENCH_WEIGHTS_DIR holds the models, else recorded as skipped."""
    weights = [d for d in DIMENSIONS if d not in OFFLINE_DIMENSIONS]
    config = VBenchConfig(device=pf_device, weights_dir=os.environ.get("PFBENCH_WEIGHTS_DIR"))
    rows = score_clips({"translating": clips["translating"][:4]}, FPS, weights, config, case="vbench-score")
    pf_record(rows)
    assert all(r["status"] in ("ok", "skipped") for r in rows), rows
