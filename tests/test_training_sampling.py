"""Objectives train a tiny model; samplers are deterministic, finite, and visit the stages in order."""
import pytest
import torch

from pfbench.core.config import get_preset
from pfbench.train.checkpoint import load_checkpoint, save_checkpoint
from pfbench.train.loop import TrainConfig, train
from reference_model.dit import DiT, dit_config
from reference_model.objectives import stage_mix_weights
from reference_model.samplers import euler_pyramid
from reference_model.variants import SamplingSchedule, get_variant, sample_video, training_loss

SMOKE = get_preset("smoke")


@pytest.mark.parametrize("variant", ["full_sequence", "spatial_pyramid", "pyramid_ar"])
def test_objective_trains_tiny_model_to_lower_loss(variant):
    cfg = TrainConfig(variant=variant, steps=60, batch_size=8, lr=2e-3, warmup_steps=5, dataset_size=8,
                      conditional=False)
    result = train(cfg, SMOKE)
    first, last = sum(result.losses[:8]) / 8, sum(result.losses[-8:]) / 8
    assert last < 0.7 * first, (variant, first, last)


def _model(seed=0):
    torch.manual_seed(seed)
    return DiT(dit_config("tiny", in_channels=3, zero_init=False, num_classes=4)).eval()


SCHEDULE = SamplingSchedule(full_sequence_steps=3, steps_first_frame=(2, 2, 2), steps_later_frames=(1, 1, 1))


@pytest.mark.parametrize("variant", ["full_sequence", "spatial_pyramid", "pyramid_ar", "ar_full_history",
                                     "pyramid_ar_bidirectional"])
def test_samplers_are_finite_shaped_and_deterministic(variant):
    model = _model()
    shape = (2, 3, 3, 16, 16)
    y = torch.tensor([0, 2])
    with torch.no_grad():
        a = sample_video(variant, model, shape, generator=torch.Generator().manual_seed(5), schedule=SCHEDULE,
                         y=y, guidance=(3.0, 2.0))
        b = sample_video(variant, model, shape, generator=torch.Generator().manual_seed(5), schedule=SCHEDULE,
                         y=y, guidance=(3.0, 2.0))
        c = sample_video(variant, model, shape, generator=torch.Generator().manual_seed(6), schedule=SCHEDULE,
                         y=y, guidance=(3.0, 2.0))
    assert a.shape == shape and torch.isfinite(a).all()
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


def test_pyramid_sampler_visits_stage_resolutions_in_order():
    events = []
    with torch.no_grad():
        euler_pyramid(_model(), torch.randn(1, 3, 2, 4, 4), steps_per_stage=(2, 3, 2),
                      generator=torch.Generator().manual_seed(0), callback=events.append)
    assert [e["stage"] for e in events] == [2, 2, 1, 1, 1, 0, 0]
    assert [e["shape"][-1] for e in events] == [4, 4, 8, 8, 8, 16, 16]
    ts = [e["t"] for e in events]
    assert ts[0] == 0.0 and ts[2] == pytest.approx(0.2) and ts[5] == pytest.approx(0.5)


def test_autoregressive_sampler_frames_and_steps():
    events = []
    with torch.no_grad():
        out = sample_video("pyramid_ar", _model(), (1, 3, 3, 16, 16), generator=torch.Generator().manual_seed(0),
                           schedule=SCHEDULE, callback=events.append)
    assert out.shape == (1, 3, 3, 16, 16)
    assert [e["frame"] for e in events] == [0] * 6 + [1] * 3 + [2] * 3


def test_guidance_changes_the_sample():
    model = _model()
    kw = dict(generator=None, schedule=SCHEDULE, y=torch.tensor([1]))
    with torch.no_grad():
        plain = sample_video("spatial_pyramid", model, (1, 3, 1, 16, 16), **{**kw, "generator": torch.Generator().manual_seed(0)})
        guided = sample_video("spatial_pyramid", model, (1, 3, 1, 16, 16), guidance=(4.0, 4.0),
                              **{**kw, "generator": torch.Generator().manual_seed(0)})
    assert not torch.allclose(plain, guided)


def test_stage_mix():
    assert stage_mix_weights("1:2:1", 3).tolist() == [0.25, 0.5, 0.25]
    assert stage_mix_weights("uniform", 2).tolist() == [0.5, 0.5]
    assert stage_mix_weights("1:0:0", 3).tolist() == [0.0, 0.0, 1.0]  # low-res only: k = 2
    with pytest.raises(ValueError, match="needs 3"):
        stage_mix_weights("1:2", 3)


def test_bad_inputs_fail_with_a_fix(tmp_path):
    model = _model()
    with pytest.raises(ValueError, match=r"\(B, C, T, H, W\)"):
        training_loss("pyramid_ar", model, torch.randn(2, 3, 16, 16))
    with pytest.raises(ValueError, match="multiples of 8"):
        training_loss("spatial_pyramid", model, torch.randn(2, 3, 2, 12, 16))
    with pytest.raises(ValueError, match="NaN"):
        training_loss("full_sequence", model, torch.full((1, 3, 1, 16, 16), float("nan")))
    with pytest.raises(ValueError, match="unknown variant 'pyramid'.*full_sequence"):
        get_variant("pyramid")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="corrupt"):
        load_checkpoint(bad)
    with pytest.raises(FileNotFoundError, match="pfbench train"):
        load_checkpoint(tmp_path / "missing.pt")
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a pfbench checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_checkpoint_roundtrip(tmp_path):
    model = _model()
    path = save_checkpoint(tmp_path / "m.pt", model, {"variant": "pyramid_ar"}, step=7)
    loaded, meta = load_checkpoint(path)
    assert meta["variant"] == "pyramid_ar" and meta["step"] == 7
    for a, b in zip(model.state_dict().values(), loaded.state_dict().values()):
        assert torch.equal(a, b)
