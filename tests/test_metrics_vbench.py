"""VBench-style dimensions on videos whose answer is known, and the transformers loaders from folders."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from pfbench.metrics.vbench.base import MetricContext, VBenchConfig
from pfbench.metrics.vbench.scoring import aggregate, chunk_array, quality_score, score_clips, score_stream

OFFLINE = ["temporal_flickering", "dynamic_degree", "motion_smoothness", "flow_score", "warping_error"]


def textured(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Smooth random texture (H, W, 3) uint8: trackable by optical flow."""
    import cv2

    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (h // 8 + 1, w // 8 + 1, 3), dtype=np.uint8)
    return cv2.resize(base, (w, h), interpolation=cv2.INTER_CUBIC)


def translating(t=16, h=64, w=96, step=3, seed=0) -> np.ndarray:
    bg = textured(h, w + step * t + 8, seed)
    return np.stack([bg[:, i * step:i * step + w] for i in range(t)])  # (T, H, W, 3)


def score(frames, dims, fps=8.0, **cfg):
    ctx = MetricContext(VBenchConfig(**cfg))
    scores, _ = score_stream(chunk_array(frames, 5), fps, dims, ctx)
    return scores


@pytest.fixture(scope="module")
def clips():
    moving = translating()
    rng = np.random.default_rng(1)
    return {
        "static": np.repeat(moving[:1], 16, axis=0),
        "moving": moving,
        "shuffled": moving[rng.permutation(len(moving))],
        "noise": rng.integers(0, 256, moving.shape, dtype=np.uint8),
    }


def test_static_video_flickers_not_and_is_not_dynamic(clips):
    s = score(clips["static"], OFFLINE)
    assert s["temporal_flickering"].value == 1.0 and s["temporal_flickering"].include  # passes the static filter
    assert s["dynamic_degree"].video_result is False
    assert s["motion_smoothness"].value == 1.0 and s["flow_score"].value == pytest.approx(0, abs=1e-3)


def test_translation_is_dynamic_and_smooth_shuffle_is_not(clips):
    move = score(clips["moving"], OFFLINE)
    shuf = score(clips["shuffled"], OFFLINE)
    assert move["dynamic_degree"].video_result is True  # 3 px/frame > 6 * 64 / 256 = 1.5 px
    assert move["motion_smoothness"].value > 0.99
    assert shuf["motion_smoothness"].value < move["motion_smoothness"].value - 0.05
    assert move["flow_score"].value == pytest.approx(3.0, rel=0.1)
    assert move["warping_error"].value < shuf["warping_error"].value
    assert not move["temporal_flickering"].include  # moving videos are left out of the flickering aggregate


def test_noise_flickers(clips):
    s = score(clips["noise"], ["temporal_flickering"])
    assert s["temporal_flickering"].value < 0.75  # E|U - U'| = 85 for uniform bytes -> ~0.667


def test_flickering_matches_hand_computation():
    rng = np.random.default_rng(3)
    frames = rng.integers(0, 256, (5, 6, 7, 3), dtype=np.uint8)
    maes = [np.mean(np.abs(frames[i].astype(float) - frames[i + 1].astype(float))) for i in range(4)]
    expected = (255.0 - np.mean(maes)) / 255.0
    s = score(frames, ["temporal_flickering"], flicker_static_filter=False)["temporal_flickering"]
    assert s.value == pytest.approx(expected, abs=1e-6)


def test_streaming_does_not_depend_on_chunk_size(clips):
    dims = ["temporal_flickering", "motion_smoothness", "dynamic_degree", "flow_score"]
    ctx = MetricContext(VBenchConfig())
    a, _ = score_stream(chunk_array(clips["moving"], 3), 24.0, dims, ctx)
    b, _ = score_stream(chunk_array(clips["moving"], 16), 24.0, dims, ctx)
    for d in dims:
        assert a[d].value == pytest.approx(b[d].value, rel=1e-6), d


def test_dynamic_degree_subsamples_by_fps(clips):
    s = score(clips["moving"], ["dynamic_degree"], fps=24.0)["dynamic_degree"]
    assert "every 3 frames" in s.note and s.video_result is True


def test_missing_weights_are_skipped_with_the_enabling_option(tmp_path):
    s = score(translating(4), ["subject_consistency", "aesthetic_quality"], weights_dir=str(tmp_path))
    assert s["subject_consistency"].status == "skipped"
    assert "--weights-dir DIR with DIR/dino-vitb16" in s["subject_consistency"].note
    assert s["aesthetic_quality"].status == "skipped"


def test_too_short_video_is_an_error_for_that_dimension_only():
    s = score(translating(1), ["motion_smoothness", "temporal_flickering"])
    assert s["motion_smoothness"].status == "error" and "3 frames" in s["motion_smoothness"].note


# ----------------------------------------------------------------------------------------------- loaders

@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory):
    """Tiny randomly initialised models saved the way users provide real ones (--weights-dir layout)."""
    from transformers import CLIPConfig, CLIPModel, ViTConfig, ViTModel

    root = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    vit = ViTModel(ViTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                             image_size=224, patch_size=16), add_pooling_layer=False)
    vit.save_pretrained(root / "dino-vitb16")
    text = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, vocab_size=64,
                max_position_embeddings=16, bos_token_id=0, eos_token_id=1, pad_token_id=1)
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, image_size=224,
                  patch_size=32)
    for name in ("clip-vit-base-patch32", "clip-vit-large-patch14"):
        CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=16)).save_pretrained(root / name)
    head = torch.nn.Linear(16, 1)
    (root / "laion-aesthetic").mkdir()
    torch.save(head.state_dict(), root / "laion-aesthetic" / "sa_0_4_vit_l_14_linear.pth")
    return root


def test_model_dimensions_load_from_weights_dir(weights_dir, clips):
    dims = ["subject_consistency", "background_consistency", "aesthetic_quality", "clip_temp_score"]
    moving = clips["moving"][:6]
    s = score(moving, dims, weights_dir=str(weights_dir))
    for d in dims:
        assert s[d].status == "ok", s[d].note
        assert np.isfinite(s[d].value), d
    assert s["subject_consistency"].backend == "transformers:dino-vitb16"
    still = score(np.repeat(moving[:1], 4, axis=0), dims[:2] + ["clip_temp_score"], weights_dir=str(weights_dir))
    for d in ("subject_consistency", "background_consistency", "clip_temp_score"):
        assert still[d].value == pytest.approx(1.0, abs=1e-5), d


def test_score_clips_rows_and_partial_quality_score(clips):
    rows = score_clips({"a": clips["static"][:6]}, fps=8, dimensions=["temporal_flickering", "dynamic_degree"])
    by = {r["metric"]: r for r in rows}
    assert set(by) == {"temporal_flickering", "dynamic_degree", "vbench_quality_score"}
    assert by["vbench_quality_score"]["status"] == "ok" and "partial" in by["vbench_quality_score"]["note"]
    assert all({"case", "variant", "metric", "value", "unit", "backend", "status", "note"} <= set(r) for r in rows)


def test_quality_score_aggregation():
    full = {"subject_consistency": 1.0, "background_consistency": 1.0, "temporal_flickering": 1.0,
            "motion_smoothness": 0.9975, "dynamic_degree": 1.0, "aesthetic_quality": 1.0, "imaging_quality": 1.0}
    q = quality_score(full)
    assert q.score == pytest.approx(1.0) and not q.partial
    q = quality_score({**full, "dynamic_degree": 0.0})
    assert q.score == pytest.approx(6.0 / 6.5)
    q = quality_score({"temporal_flickering": 0.6293})
    assert q.partial and q.score == pytest.approx(0.0) and "imaging_quality" in q.missing


def test_aggregate_frame_weighted_and_fraction():
    from pfbench.metrics.vbench.base import VideoScore

    a = [VideoScore("subject_consistency", 1.0, "x", weight=3), VideoScore("subject_consistency", 0.0, "x", weight=1)]
    assert aggregate("subject_consistency", a) == pytest.approx(0.75)
    d = [VideoScore("dynamic_degree", 1.0, "x"), VideoScore("dynamic_degree", 0.0, "x"),
         VideoScore("dynamic_degree", None, "", "error")]
    assert aggregate("dynamic_degree", d) == pytest.approx(0.5)


def test_the_declared_dimension_names_are_the_scored_dimensions_in_order():
    from pfbench.metrics.vbench.names import DIMENSION_NAMES
    from pfbench.metrics.vbench.scoring import DIMENSIONS as SPECS

    assert tuple(SPECS) == DIMENSION_NAMES
