"""FID/KID: zero on identical sets, monotonic in a controlled shift, batch-size independent, equal to
torch_fidelity.calculate_metrics, and Inception loadable from a local weights file (no download)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from pfbench.metrics.fid.compute import (
    FidConfig,
    FrameDataset,
    calculate_metrics_reference,
    compute_fid,
    extract_features,
    fid_from_features,
    kid_from_features,
    metrics_from_features,
)
from pfbench.metrics.fid.extractors import OFFLINE_EXTRACTOR, resolve_weights


def _images(n=24, size=48, seed=0) -> np.ndarray:
    import cv2

    rng = np.random.default_rng(seed)
    return np.stack([cv2.resize(rng.integers(0, 256, (7, 7, 3), dtype=np.uint8), (size, size),
                                interpolation=cv2.INTER_CUBIC) for _ in range(n)])  # (N, H, W, 3)


def _shift(images, d):
    return np.clip(images.astype(int) + d, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def real_features():
    return extract_features(FrameDataset(_images(), 128))


def test_fid_of_a_set_with_itself_is_zero(real_features):
    assert abs(fid_from_features(real_features, real_features)) < 1e-6


def test_fid_grows_monotonically_with_a_shift(real_features):
    other = _images(seed=1)
    fids = [fid_from_features(real_features, extract_features(FrameDataset(_shift(other, d), 128)))
            for d in (0, 20, 40, 80)]
    assert all(x < y for x, y in zip(fids, fids[1:])), fids


def test_fid_does_not_depend_on_batch_size():
    ds = FrameDataset(_images(10), 128)
    f3, f10 = extract_features(ds, batch_size=3), extract_features(ds, batch_size=10)
    assert torch.allclose(f3, f10, atol=1e-5)
    other = extract_features(FrameDataset(_images(10, seed=2), 128), batch_size=4)
    assert fid_from_features(f3, other) == pytest.approx(fid_from_features(f10, other), rel=1e-5)


def test_matches_torch_fidelity_calculate_metrics():
    a, b = FrameDataset(_images(12), 128), FrameDataset(_images(12, seed=3), 128)
    config = FidConfig(extractor=OFFLINE_EXTRACTOR, kid_subsets=10, kid_subset_size=12, bootstrap=0)  # whole sets
    ref = calculate_metrics_reference(a, b, config)
    ours = compute_fid(a, b, config)
    assert ours.fid == pytest.approx(ref["frechet_inception_distance"], rel=1e-4)
    assert ours.kid_mean == pytest.approx(ref["kernel_inception_distance_mean"], rel=1e-3, abs=1e-6)
    assert ours.extractor == "pfbench-randconv-s0" and not ours.comparable


def test_kid_subsets_differ_and_the_interval_is_over_clips(real_features):
    other = extract_features(FrameDataset(_shift(_images(seed=1), 40), 128))
    mean, std, size = kid_from_features(real_features[:7], other, subsets=5)
    assert size == 3 and mean > 0 and std > 0  # half the smaller set: subsets differ, the spread is not 0
    groups = np.repeat(np.arange(6), 4)  # 24 frames = 6 clips of 4 frames
    r = metrics_from_features(real_features, other, FidConfig(extractor=OFFLINE_EXTRACTOR, bootstrap=10,
                                                              kid_subsets=5), groups, groups)
    assert r.fid_ci_low <= max(r.fid_debiased, 0) <= r.fid_ci_high and r.fid_debiased <= r.fid
    assert r.n_real_clips == r.n_fake_clips == 6 and r.interval_over.startswith("clips")
    assert r.to_dict()["extractor"] == "pfbench-randconv-s0" and not r.trained_extractor


def test_frame_dataset_groups_frames_by_clip():
    clips = np.zeros((3, 4, 16, 16, 3), np.uint8)
    assert FrameDataset(clips, 32).groups.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert FrameDataset(clips[0], 32).groups.tolist() == [0, 1, 2, 3]   # (N, H, W, 3): one clip per frame
    assert FrameDataset([clips[0], clips[1, :2]], 32).groups.tolist() == [0, 0, 0, 0, 1, 1]


def test_inception_needs_local_weights(monkeypatch):
    monkeypatch.delenv("PFBENCH_INCEPTION_WEIGHTS", raising=False)
    with pytest.raises(FileNotFoundError, match="--inception-weights"):
        resolve_weights("inception-v3-compat", None)


@pytest.mark.slow
def test_inception_from_a_local_weights_file(tmp_path, monkeypatch):
    """A state dict of torch-fidelity's own InceptionV3 architecture (random init: load is patched out while
    building it, so nothing downloads), loaded back through the path users take (env var)."""
    import torch_fidelity.feature_extractor_inceptionv3 as inc

    with monkeypatch.context() as m:
        m.setattr(inc, "load_state_dict_from_url", lambda *a, **k: None)
        m.setattr(inc.FeatureExtractorInceptionV3, "load_state_dict", lambda self, sd, *a, **k: None)
        torch.manual_seed(0)
        net = inc.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    path = tmp_path / "inception.pth"
    torch.save(net.state_dict(), path)
    monkeypatch.setenv("PFBENCH_INCEPTION_WEIGHTS", str(path))
    r = compute_fid(_images(4), _images(4, seed=5), FidConfig(extractor="inception-v3-compat", bootstrap=0,
                                                               kid_subsets=2))
    assert np.isfinite(r.fid) and r.extractor == "inception-v3-compat" and r.comparable


def test_results_carry_the_small_sample_statistics(real_features):
    """24 frames in 6 clips of 4: the FID is bias-dominated (24 < 10 D); the clip-blocked KID, its interval,
    the diversity ratio and precision / recall are those of pfbench.metrics.small_sample on the same clips."""
    from pfbench.metrics import small_sample

    other = extract_features(FrameDataset(_shift(_images(seed=1), 40), 128))
    groups = np.repeat(np.arange(6), 4)
    cfg = FidConfig(extractor=OFFLINE_EXTRACTOR, bootstrap=10, kid_subsets=5)
    r = metrics_from_features(real_features, other, cfg, groups, groups)
    d = real_features.shape[1]
    assert r.feature_dim == d and r.bias_dominated and 24 < 10 * d
    assert r.kid_blocked == pytest.approx(small_sample.blocked_mmd(real_features, other, groups, groups))
    assert r.kid_blocked_low < r.kid_blocked < r.kid_blocked_high and r.kid_blocked_se > 0
    assert r.diversity_ratio == pytest.approx(small_sample.diversity_ratio(other, real_features))
    assert (r.precision, r.recall) == small_sample.precision_recall(real_features, other, groups, groups)
    assert r.projected_dim is None and r.fid_projected is None
    keys = r.to_dict()
    assert {"feature_dim", "bias_dominated", "kid_blocked", "kid_blocked_low", "kid_blocked_high", "kid_blocked_se",
            "diversity_ratio", "precision", "recall", "projected_dim", "fid_projected", "fid", "kid_mean"} <= set(keys)


def test_projected_fid_is_fitted_on_the_real_features_only(real_features):
    from pfbench.metrics import small_sample, stats

    other = extract_features(FrameDataset(_images(seed=4), 128))
    r = metrics_from_features(real_features, other, FidConfig(extractor=OFFLINE_EXTRACTOR, bootstrap=0,
                                                              kid_subsets=2, features_dim=2))
    p = small_sample.fit_projection(real_features, 2)
    assert r.projected_dim == 2 and r.fid_projected == pytest.approx(stats.frechet_distance(p(real_features),
                                                                                            p(other)))
    assert r.fid == fid_from_features(real_features, other)  # the plain FID is unchanged
    with pytest.raises(small_sample.ProjectionDimError, match="min\\(N, D\\) = 24"):
        metrics_from_features(real_features, other, FidConfig(extractor=OFFLINE_EXTRACTOR, bootstrap=0,
                                                              kid_subsets=2, features_dim=25))


def test_the_bias_flag_follows_n_against_d():
    """Synthetic features: 200 samples in 8 dims support a Fréchet distance (200 >= 80), 40 in 8 do not; a
    set scaled by 0.5 shows a diversity ratio ~0.25 and lower recall than precision."""
    rng = np.random.default_rng(0)
    real = torch.from_numpy(rng.standard_normal((200, 8)))
    fake = torch.from_numpy(0.5 * rng.standard_normal((200, 8)))
    cfg = FidConfig(extractor=OFFLINE_EXTRACTOR, bootstrap=10, kid_subsets=5)
    big = metrics_from_features(real, fake, cfg)
    assert not big.bias_dominated and big.feature_dim == 8 and big.diversity_ratio == pytest.approx(0.25, rel=0.2)
    assert big.precision > big.recall and big.kid_blocked_low > 0  # one row per clip: KID's own estimator
    assert metrics_from_features(real[:40], fake[:40], cfg).bias_dominated
