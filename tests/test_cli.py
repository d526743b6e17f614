"""The `pfbench` command end to end: tokens/flops JSON, sample outputs, train -> sample, errors."""
import json

import numpy as np
import pytest

from pfbench.cli.main import main
from pfbench.core.video_read import read_video


def _json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_tokens_json_paper_768p_10s(capsys):
    report = _json(capsys, ["tokens", "--preset", "paper-768p-10s", "--json"])
    assert report["latent_frames"] == 31 and report["tokens_per_frame"] == 3840
    full, pyramid = report["variants"]["full_sequence"], report["variants"]["pyramid_ar"]
    assert full["max_tokens"] == 119_040 and pyramid["max_tokens"] == 15_360
    for row in report["variants"].values():
        for key in ("max_tokens", "mean_tokens", "attention_pairs", "train_flops_per_sample"):
            assert row["counted"][key] == pytest.approx(row[key], rel=1e-12)


def test_tokens_from_resolution_and_flops_plan(capsys):
    report = _json(capsys, ["tokens", "--resolution", "768p", "--seconds", "5", "--json"])
    assert report["latent_frames"] == 16 and report["variants"]["pyramid_ar"]["max_tokens"] == 11_760
    flops = _json(capsys, ["flops", "--preset", "paper-384p-5s", "--json", "--no-counted"])
    assert flops["paper_plan"]["reported_gpu_hours"] == 20_700
    assert flops["variants"]["pyramid_ar"]["train_flops_per_sample"] < flops["variants"]["full_sequence"][
        "train_flops_per_sample"]
    assert main(["tokens", "--preset", "paper-768p-5s"]) == 0
    assert "pyramid_ar" in capsys.readouterr().out


def test_tokens_rejects_bad_resolution(capsys):
    assert main(["tokens", "--resolution", "700x500"]) == 2
    assert "divisible by 64" in capsys.readouterr().err
    assert main(["tokens", "--resolution", "huge"]) == 2
    assert "WIDTHxHEIGHT" in capsys.readouterr().err


def test_sample_png_is_deterministic_per_seed(tmp_path, capsys):
    paths = [tmp_path / name for name in ("a.png", "b.png", "c.png")]
    for path, seed in zip(paths, (1, 1, 2)):
        assert main(["sample", "--variant", "spatial_pyramid", "--preset", "smoke", "--frames", "1",
                     "--seed", str(seed), "--out", str(path)]) == 0
    a, b, c = (read_video(p)[0] for p in paths)
    assert a.shape == (1, 16, 16, 3)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_sample_pyramid_ar_writes_a_playable_4_frame_clip(tmp_path):
    out = tmp_path / "clip.mp4"
    assert main(["sample", "--variant", "pyramid_ar", "--preset", "smoke", "--frames", "4", "--out", str(out)]) == 0
    frames, info = read_video(out)
    assert frames.shape[0] == 4 and info.width == 16 and info.height == 16
    gif = tmp_path / "clip.gif"
    assert main(["sample", "--variant", "full_sequence", "--preset", "smoke", "--out", str(gif)]) == 0
    assert read_video(gif)[0].shape[0] == 3


def test_train_then_sample_from_checkpoint(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--variant", "pyramid_ar", "--preset", "smoke", "--steps", "3", "--out", str(run)]) == 0
    assert (run / "last.pt").exists() and (run / "log.csv").exists()
    capsys.readouterr()
    assert main(["train", "--variant", "pyramid_ar", "--preset", "smoke", "--steps", "3", "--out", str(run)]) == 0
    assert "already at step 3" in capsys.readouterr().out  # the same command resumes; nothing is overwritten
    out = tmp_path / "s.gif"
    assert main(["sample", "--checkpoint", str(run / "last.pt"), "--label", "1", "--guidance", "2",
                 "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "variant pyramid_ar" in said
    assert f"model: checkpoint {run / 'last.pt'}, step 3, trained (not EMA) weights" in said
    assert main(["sample", "--checkpoint", str(run / "last.pt"), "--ema", "--out", str(tmp_path / "e.gif")]) == 0
    assert "step 3, EMA weights" in capsys.readouterr().out


def test_sample_errors_name_the_fix(tmp_path, capsys):
    assert main(["sample", "--variant", "pyramid", "--out", str(tmp_path / "x.mp4")]) == 2
    assert "unknown variant 'pyramid'" in capsys.readouterr().err
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x00garbage")
    assert main(["sample", "--checkpoint", str(bad), "--out", str(tmp_path / "x.mp4")]) == 2
    assert "corrupt" in capsys.readouterr().err
    assert main(["sample", "--frames", "3", "--out", str(tmp_path / "x.png")]) == 2
    assert "PNG holds one frame" in capsys.readouterr().err
    assert main(["sample", "--out", str(tmp_path / "x.avi2")]) == 2
    assert main(["sample", "--preset", "nope", "--out", str(tmp_path / "x.mp4")]) == 2
    assert "unknown preset" in capsys.readouterr().err


@pytest.fixture(scope="module")
def image_folders(tmp_path_factory):
    """12 real and 12 fake smooth random images (PNG), one clip each."""
    import cv2

    root = tmp_path_factory.mktemp("fid-images")
    rng = np.random.default_rng(0)
    for name, shift in (("real", 0), ("fake", 60)):
        (root / name).mkdir()
        for i in range(12):
            img = cv2.resize(rng.integers(0, 196, (7, 7, 3), dtype=np.uint8), (48, 48), interpolation=cv2.INTER_CUBIC)
            cv2.imwrite(str(root / name / f"{i:02d}.png"), img + shift)
    return root / "real", root / "fake"


FID_ARGS = ["--extractor", "pfbench-randconv-s0", "--resamples", "8", "--kid-subsets", "2"]


def test_fid_json_carries_the_small_sample_statistics(image_folders, capsys):
    real, fake = map(str, image_folders)
    out = _json(capsys, ["fid", real, fake, *FID_ARGS, "--json"])
    assert {"fid", "kid_mean", "n_real", "n_fake", "feature_dim", "bias_dominated", "kid_blocked", "kid_blocked_low",
            "kid_blocked_high", "kid_blocked_se", "diversity_ratio", "precision", "recall"} <= set(out)
    assert out["n_real"] == out["n_fake"] == 12 and out["feature_dim"] == 256 and out["bias_dominated"] is True
    assert out["kid_blocked_low"] < out["kid_blocked"] < out["kid_blocked_high"] and out["kid_blocked"] > 0
    assert 0 < out["diversity_ratio"] and 0 <= out["precision"] <= 1 and 0 <= out["recall"] <= 1
    assert out["projected_dim"] is None and out["fid_projected"] is None
    projected = _json(capsys, ["fid", real, fake, *FID_ARGS, "--json", "--features-dim", "3"])
    assert projected["projected_dim"] == 3 and projected["fid_projected"] > 0
    assert projected["fid"] == out["fid"]  # the plain FID does not change
    assert main(["fid", real, fake, *FID_ARGS]) == 0
    text = capsys.readouterr().out
    caveat = "caveat: N = 12 < 10 x D = 2560: the Fréchet distance is bias-dominated; read kid_blocked / diversity"
    assert caveat in text
    assert "diversity ratio" in text and "KID clip-blocked" in text


def test_fid_features_dim_refuses_what_the_reference_cannot_support(image_folders, capsys):
    real, fake = map(str, image_folders)
    assert main(["fid", real, fake, *FID_ARGS, "--features-dim", "13"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--features-dim 13: must be between 1 and min(N, D) = 12 (N = 12 reference frames, D = 256" in err
    assert "\n" not in err
    for bad in ("0", "-3", "two"):
        assert main(["fid", real, fake, *FID_ARGS, "--features-dim", bad]) == 2
        assert "argument --features-dim: expected a projection dimension" in capsys.readouterr().err
    assert main(["fid", "--help"]) == 0
    assert "fitted on the reference (REAL) set only" in " ".join(capsys.readouterr().out.split())


def test_a_closed_pipe_ends_quietly():
    """`pfbench ... | head`: a reader that stops early (here: one that never reads, so the pipe is closed before
    the first write) ends the command quietly, without a Broken pipe error."""
    import subprocess
    import sys

    proc = subprocess.run(f"{sys.executable} -m pfbench.cli tokens --preset smoke --json | true", shell=True,
                          capture_output=True, text=True, timeout=120)
    assert "Broken pipe" not in proc.stderr and "rror" not in proc.stderr, proc.stderr
