"""Time the scoring of one video file the way `pfbench eval-videos` scores it (chunks of 16, decoding one chunk
ahead in a thread): wall seconds, CPU seconds of all threads, frames, value. Shared by tools/vbench_speed.py and
suites/test_vbench.py (which runs it in a fresh child process for its peak RSS).

A warm-up first scores the video's first chunk through the same MetricContext, untimed: the imports (OpenCV, PyAV),
the flow backend and the thread pools are one-time costs of a process that scores many videos, not of each video;
on a one-second clip they would otherwise halve the measured speed.
"""
from __future__ import annotations

import time


def score_file_timed(path: str, dimensions: list[str], config: dict | None = None, warmup: bool = True) -> dict:
    """Score ``path`` on ``dimensions`` in one pass (shared decode): seconds, cpu_seconds, frames, fps and per
    dimension {value, backend, status, note} under "scores"."""
    from itertools import islice

    from pfbench.core.video_read import iter_chunks, probe_video
    from pfbench.metrics.vbench.base import MetricContext, VBenchConfig
    from pfbench.metrics.vbench.scoring import score_stream

    fps = probe_video(path).fps
    ctx = MetricContext(VBenchConfig(**(config or {})))
    if warmup:
        score_stream(islice(iter_chunks(path, 16, prefetch=1), 1), fps, list(dimensions), ctx)
    t0, c0 = time.perf_counter(), time.process_time()  # CPU: all threads
    scores, frames = score_stream(iter_chunks(path, 16, prefetch=1), fps, list(dimensions), ctx)
    return dict(seconds=time.perf_counter() - t0, cpu_seconds=time.process_time() - c0, frames=frames, fps=fps,
                scores={d: dict(value=v.value, backend=v.backend, status=v.status, note=v.note)
                        for d, v in scores.items()})
