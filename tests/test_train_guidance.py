"""Label dropout trains the null label classifier-free guidance uses; guided samples of a trained model move
away from the unconditional prediction, towards their class."""
import torch

from pfbench.core.config import get_preset
from pfbench.train.loop import TrainConfig, model_for_preset, train
from reference_model.variants import SamplingSchedule, sample_video

PRESET = get_preset("smoke").replace(frames=1)


def _two_class_data(n=32):
    """Class 0: bright clips (+0.6), class 1: dark clips (-0.6), each with a little texture. (N, 3, 1, 16, 16)."""
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(n) % 2
    level = torch.where(labels == 0, 0.6, -0.6).view(n, 1, 1, 1, 1)
    return (level + 0.1 * torch.randn(n, 3, 1, 16, 16, generator=g)).clamp(-1, 1), labels


def _train(dropout, steps):
    torch.manual_seed(0)
    model = model_for_preset(PRESET, num_classes=2)
    before = model.y_embed.weight.detach().clone()
    cfg = TrainConfig(variant="full_sequence", steps=steps, batch_size=8, lr=2e-3, warmup_steps=5,
                      label_dropout=dropout, stream_chunk=8)
    result = train(cfg, PRESET, model=model, data=_two_class_data())
    moved = (result.model.y_embed.weight.detach() - before).norm(dim=1)  # (classes + 1,) last = null label
    return result.model, moved


def test_label_dropout_trains_the_null_label():
    _, moved = _train(0.3, 10)
    assert moved[2] > 0.3 * moved[:2].mean()
    _, frozen = _train(0.0, 10)
    assert frozen[2] < 1e-3 * frozen[:2].mean()  # without dropout only weight decay touches the null row


def test_guidance_moves_samples_towards_their_class():
    model, _ = _train(0.3, 150)
    model.eval()
    schedule = SamplingSchedule(full_sequence_steps=8)
    y = torch.tensor([0, 0, 0, 1, 1, 1])
    out = {}
    with torch.no_grad():
        for w in (1.0, 4.0):
            out[w] = sample_video("full_sequence", model, (6, 3, 1, 16, 16), generator=torch.Generator().manual_seed(1),
                                  schedule=schedule, y=y, guidance=(w, w))
    mean = {w: x.flatten(1).mean(1) for w, x in out.items()}  # (6,) mean intensity per sample
    assert (mean[1.0][:3] > 0).all() and (mean[1.0][3:] < 0).all()  # the conditional model learned the classes
    shift = mean[4.0] - mean[1.0]
    assert (shift[:3] > 0.02).all() and (shift[3:] < -0.02).all(), shift  # guidance pushes further towards the class


def test_gamma_is_one_value_for_training_and_sampling(tmp_path):
    from pfbench.train.checkpoint import load_checkpoint
    from pfbench.train.loop import RunConfig

    smoke = get_preset("smoke")
    cfg = TrainConfig(variant="spatial_pyramid", steps=2, batch_size=2, dataset_size=4)
    a = train(cfg, smoke).losses
    b = train(TrainConfig(**{**cfg.__dict__, "gamma": -0.2}), smoke.replace(gamma=-0.2),
              run=RunConfig(out=tmp_path / "run")).losses
    assert a != b  # the stage windows of training follow gamma
    _, meta = load_checkpoint(tmp_path / "run")
    assert meta["gamma"] == -0.2 and meta["preset_config"]["gamma"] == -0.2  # what `pfbench sample` uses
