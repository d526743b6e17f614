"""pfbench.metrics.vbench.speed: the timed scoring of a file gives the same scores and frame count as an untimed pass, with
or without the warm-up, and a positive CPU time (the speed rows' inputs)."""
from __future__ import annotations

from pathlib import Path

import pytest

from pfbench.core.video_read import iter_chunks, probe_video
from pfbench.metrics.vbench.base import MetricContext, VBenchConfig
from pfbench.metrics.vbench.scoring import score_stream
from pfbench.metrics.vbench.speed import score_file_timed

CLIP = Path(__file__).parents[2] / "shared" / "data" / "videos" / "h264_340x256_30fps.mp4"


@pytest.mark.skipif(not CLIP.is_file(), reason="needs ../shared/data/videos")
def test_timed_scores_equal_untimed_ones_with_and_without_warmup():
    dims = ["temporal_flickering", "dynamic_degree"]
    plain, frames = score_stream(iter_chunks(CLIP, 16), probe_video(CLIP).fps, dims, MetricContext(VBenchConfig()))
    for warmup in (True, False):
        run = score_file_timed(str(CLIP), dims, warmup=warmup)
        assert run["frames"] == frames == probe_video(CLIP).frames and run["cpu_seconds"] > 0 < run["seconds"]
        assert {d: run["scores"][d]["value"] for d in dims} == {d: plain[d].value for d in dims}
        assert run["scores"]["dynamic_degree"]["backend"] == plain["dynamic_degree"].backend
