"""The whole generative path against an oracle with a known answer (tests/oracle_model.py).

The oracle returns the exact conditional velocity of a one-point data set, so (1) every variant's training
loss on that data set is ~0 (this pins the target's sign and the time the model is fed) and (2) every sampler
that integrates what was trained lands on the data point, for any K, any steps, with or without the jumps'
corrective noise. Before the fix of the sampler issue (#15) the pyramid samplers stepped global time over each
stage window with dt = (e_k - s_k) / steps and missed the data point by ~1 (its std): these tests failed there.
"""
import pytest
import torch
from oracle_model import OracleModel

from reference_model.samplers import euler_full_sequence, euler_pyramid, guided_velocity, sample_autoregressive
from reference_model.variants import VARIANTS, SamplingSchedule, get_variant, sample_video, training_loss

SHAPE = (1, 3, 3, 16, 16)  # (B, C, T, H, W): K = 4 leaves a 2x2 coarsest stage, one patch


def _data(seed: int = 0, shape=SHAPE) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g, dtype=torch.float64) * 1.5 + 0.3  # (1, C, T, H, W)


def _oracle(variant: str, x1: torch.Tensor, K: int, time_conditioning: str = "stage") -> OracleModel:
    return OracleModel(x1, K if get_variant(variant).spatial_pyramid else 1, time_conditioning=time_conditioning)


def _schedule(K: int, renoise: bool, time_conditioning: str = "stage") -> SamplingSchedule:
    first = tuple(range(3, 3 + K))      # different steps per stage, coarsest first
    later = tuple(range(2, 2 + K))
    return SamplingSchedule(full_sequence_steps=7, steps_first_frame=first, steps_later_frames=later, renoise=renoise,
                            time_conditioning=time_conditioning)


@pytest.mark.parametrize("conditioning", ["stage", "global"])
@pytest.mark.parametrize("K", [2, 3, 4])
@pytest.mark.parametrize("renoise", [True, False])
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_sampler_lands_on_the_data_point(variant, K, renoise, conditioning):
    x1 = _data(K, (2,) + SHAPE[1:])  # two data points; row b is labelled b, so it must land on point b
    model = _oracle(variant, x1, K, conditioning)
    out = sample_video(variant, model, (2,) + SHAPE[1:], generator=torch.Generator().manual_seed(1),
                       schedule=_schedule(K, renoise, conditioning), y=torch.tensor([0, 1]), dtype=torch.float64)
    assert out.shape == (2,) + SHAPE[1:]
    err = (out - x1).abs().max().item()
    assert err < 1e-5, f"{variant} K={K} renoise={renoise} {conditioning}: max error {err:.3g}"


@pytest.mark.parametrize("variant", ["spatial_pyramid", "pyramid_ar"])
@pytest.mark.parametrize("trained, sampled", [("stage", "global"), ("global", "stage")])
def test_a_sampler_fed_the_other_time_conditioning_misses(variant, trained, sampled):
    """Training and sampling must feed the same time: the stage remap to a model trained on global time (or
    the reverse) moves the sample off the data point."""
    x1 = _data(11)
    out = sample_video(variant, _oracle(variant, x1, 3, trained), SHAPE, generator=torch.Generator().manual_seed(1),
                       schedule=_schedule(3, True, sampled), dtype=torch.float64)
    assert (out - x1).abs().max().item() > 0.1


@pytest.mark.parametrize("variant", ["full_sequence", "spatial_pyramid", "pyramid_ar"])
def test_guided_sampling_of_the_oracle_still_lands(variant):
    x1 = _data(3)
    out = sample_video(variant, _oracle(variant, x1, 3), (2,) + SHAPE[1:], generator=torch.Generator().manual_seed(2),
                       schedule=_schedule(3, True), y=torch.tensor([0, 0]), guidance=(4.0, 2.5), dtype=torch.float64)
    assert (out - x1).abs().max().item() < 1e-5


def test_samplers_called_directly_land_and_feed_global_time():
    x1 = _data(4)
    seen = []
    out = euler_full_sequence(OracleModel(x1, 1), torch.randn(SHAPE, dtype=torch.float64), steps=5,
                              callback=seen.append)
    assert (out - x1).abs().max() < 1e-5
    assert [(e["stage"], e["frame"], e["step"]) for e in seen] == [(0, None, i) for i in range(5)]
    assert [e["t"] for e in seen] == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8])
    seen.clear()
    noise = torch.randn((1, 3, 3, 4, 4), dtype=torch.float64)
    out = euler_pyramid(OracleModel(x1, 3), noise, steps_per_stage=(2, 2, 2), generator=torch.Generator().manual_seed(0),
                        callback=seen.append)
    assert (out - x1).abs().max() < 1e-5
    # K = 3 windows: [0, 1/3], [1/5, 2/3], [1/2, 1]; two steps each, local t' 0 and 1/2 mapped into the window
    assert [e["t"] for e in seen] == pytest.approx([0.0, 1 / 6, 0.2, 13 / 30, 0.5, 0.75])
    assert [e["t_local"] for e in seen] == pytest.approx([0.0, 0.5] * 3)
    # what the model is fed (the stage remap): segments [0, 10/39], [10/39, 24/39], [24/39, 1] (lengths 1/3 : 7/15
    # : 1/2 of 13/10), i.e. the public code's timesteps 1000 -> 744 -> 385 -> 0 in sigma = 1 - t
    assert [e["t_model"] for e in seen] == pytest.approx([0.0, 5 / 39, 10 / 39, 17 / 39, 24 / 39, 63 / 78])
    assert [(e["stage"], e["frame"], e["step"], e["shape"][-1]) for e in seen] == [
        (2, None, 0, 4), (2, None, 1, 4), (1, None, 0, 8), (1, None, 1, 8), (0, None, 0, 16), (0, None, 1, 16)]
    seen.clear()
    out = sample_autoregressive(OracleModel(x1, 3), SHAPE, generator=torch.Generator().manual_seed(0),
                                steps_first_frame=(2, 3, 4), steps_later_frames=(1, 1, 2), dtype=torch.float64,
                                callback=seen.append)
    assert (out - x1).abs().max() < 1e-5
    assert [(e["frame"], e["stage"]) for e in seen][:9] == [(0, 2)] * 2 + [(0, 1)] * 3 + [(0, 0)] * 4
    assert [(e["frame"], e["stage"]) for e in seen][9:13] == [(1, 2), (1, 1), (1, 0), (1, 0)]


def test_a_sampler_fed_local_time_would_miss():
    """The oracle is sensitive to the time it is fed: local instead of global time moves the sample off x1."""
    x1 = _data(5)
    oracle = OracleModel(x1, 3)

    class LocalTime:  # feeds t' instead of s + t' (e - s), as the mutant sampler would
        cfg, null_label = oracle.cfg, oracle.null_label

        def __call__(self, latents, layout, t, y=None, output="all"):
            s, e = oracle.windows[layout.segments[-1].level]
            return oracle(latents, layout, (t - s) / (e - s), y, output)

    out = euler_pyramid(LocalTime(), torch.randn((1, 3, 3, 4, 4), dtype=torch.float64), steps_per_stage=(3, 3, 3),
                        generator=torch.Generator().manual_seed(0))
    assert (out - x1).abs().max() > 0.1


@pytest.mark.parametrize("conditioning", ["stage", "global"])
@pytest.mark.parametrize("K", [2, 3, 4])
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_training_loss_of_the_oracle_is_zero(variant, K, conditioning):
    x1 = _data(6, (4,) + SHAPE[1:])  # four data points, sample b labelled b % 4
    labels = torch.arange(8) % 4
    kw = {} if get_variant(variant).spatial_pyramid else {"time_sampling": "logit_normal"}
    loss = training_loss(variant, _oracle(variant, x1, K, conditioning), x1[labels], labels,
                         generator=torch.Generator().manual_seed(0), num_stages=K, stage_mix="uniform",
                         time_conditioning=conditioning, **kw)
    assert loss.item() < 1e-10, (variant, K, conditioning, loss.item())


@pytest.mark.parametrize("variant", ["spatial_pyramid", "pyramid_ar"])
def test_training_loss_feeding_the_other_time_conditioning_is_not_zero(variant):
    """The zero loss above pins the time fed in training: global time to an oracle expecting the remap is wrong."""
    x1 = _data(12, (4,) + SHAPE[1:])
    labels = torch.arange(8) % 4
    for trained, fed in (("stage", "global"), ("global", "stage")):
        loss = training_loss(variant, _oracle(variant, x1, 3, trained), x1[labels], labels,
                             generator=torch.Generator().manual_seed(0), num_stages=3, stage_mix="uniform",
                             time_conditioning=fed)
        assert loss.item() > 1e-3, (variant, trained, fed, loss.item())


def test_training_loss_sees_a_wrong_velocity():
    """The zero loss above is not vacuous: the oracle's velocity off by 1% gives a clearly non-zero loss."""
    x1 = _data(7)
    oracle = OracleModel(x1, 3)

    def scaled(latents, layout, t, y=None, output="all"):
        return [1.01 * v for v in oracle(latents, layout, t, y, output)]
    scaled.cfg, scaled.null_label = oracle.cfg, oracle.null_label
    loss = training_loss("spatial_pyramid", scaled, x1.expand(8, -1, -1, -1, -1).contiguous(),
                         generator=torch.Generator().manual_seed(0), num_stages=3)
    assert loss.item() > 1e-6


class _ConstantModel:
    """cond velocity 2 for real labels, -1 for the null label (shape of the last segment)."""

    class cfg:
        patch_size = 2
        in_channels = 3
    null_label = 4

    def __call__(self, latents, layout, t, y=None, output="all"):
        z = latents[-1]
        label = torch.full((z.shape[0],), self.null_label) if y is None else y
        value = torch.where(label == self.null_label, -1.0, 2.0).to(z.dtype).view(-1, 1, 1, 1, 1)
        return [value.expand_as(z).clone()]


@pytest.mark.parametrize("w, expected", [(0.0, -1.0), (1.0, 2.0), (3.0, 8.0), (0.5, 0.5)])
def test_guided_velocity_mixes_null_plus_w_times_difference(w, expected):
    from reference_model.layout import clip_layout
    z = torch.zeros(2, 3, 1, 4, 4)
    v = guided_velocity(_ConstantModel(), [z], clip_layout(1, 4, 4, 2), torch.zeros(2), torch.tensor([0, 1]), w)
    assert torch.allclose(v, torch.full_like(v, expected))
    # without a label there is nothing to guide: the null velocity
    v = guided_velocity(_ConstantModel(), [z], clip_layout(1, 4, 4, 2), torch.zeros(2), None, w)
    assert torch.allclose(v, torch.full_like(v, -1.0))


class _StageStarts(OracleModel):
    """The oracle, keeping the state x the sampler hands it at the first step (t' = 0) of every stage."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.starts = []

    def __call__(self, latents, layout, t, y=None, output="all"):
        seg = layout.segments[-1]
        a, _ = self.fed[seg.level]  # the start of the stage's fed time segment (t' = 0)
        if abs(float(t[0]) - a) < 1e-12:
            self.starts.append((seg.level, latents[-1].clone()))
        return super().__call__(latents, layout, t, y, output)


def test_jumps_start_each_stage_on_the_training_start_distribution():
    """After a jump, x = s_k Up(Down(x1)) + (1 - s_k) n with n ~ N(0, I): unit variance, no 2x2 block correlation.

    Jumping with the window's end instead of its start, or without the corrective noise, breaks this.
    """
    from reference_model.pyramid import downsample, upsample
    x1 = _data(8, (1, 3, 2, 64, 64))
    model = _StageStarts(x1, 3)
    sample_video("spatial_pyramid", model, (8, 3, 2, 64, 64), generator=torch.Generator().manual_seed(3),
                 schedule=_schedule(3, True), dtype=torch.float64)
    assert [k for k, _ in model.starts] == [2, 1, 0]
    for k, x in model.starts[1:]:
        s, _ = model.windows[k]
        n = (x - s * upsample(downsample(x1, 2 ** (k + 1)), 2)) / (1 - s)  # (B, C, T, h, w)
        assert abs(float(n.mean())) < 0.02 and abs(float(n.std()) - 1) < 0.02, (k, float(n.mean()), float(n.std()))
        within_block = (n[..., 0::2, 0::2] * n[..., 0::2, 1::2]).mean()  # horizontal neighbours inside a 2x2 block
        assert abs(float(within_block)) < 0.03, (k, float(within_block))


def test_ar_jumps_start_each_frame_stage_on_the_training_start_distribution():
    from reference_model.pyramid import downsample, upsample
    x1 = _data(9, (1, 3, 2, 64, 64))
    model = _StageStarts(x1, 3)
    sample_video("pyramid_ar", model, (8, 3, 2, 64, 64), generator=torch.Generator().manual_seed(3),
                 schedule=_schedule(3, True), dtype=torch.float64)
    order = [(i, k) for i in range(2) for k in (2, 1, 0)]  # generation order: frame by frame, coarsest first
    assert [k for k, _ in model.starts] == [k for _, k in order]
    for (i, k), (_, x) in zip(order, model.starts):
        if k == 2:
            continue
        s, _ = model.windows[k]
        u = upsample(downsample(x1[:, :, i:i + 1], 2 ** (k + 1)), 2)
        n = (x - s * u) / (1 - s)
        assert abs(float(n.mean())) < 0.02 and abs(float(n.std()) - 1) < 0.02, (i, k, float(n.std()))


def test_samplers_are_reproducible_from_their_generator():
    x1 = _data(10)
    runs = {}
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        model = _StageStarts(x1, 3)
        sample_video("pyramid_ar", model, (1,) + SHAPE[1:], generator=torch.Generator().manual_seed(seed),
                     schedule=_schedule(3, True), dtype=torch.float64)
        runs[name] = torch.cat([x.flatten() for _, x in model.starts])
    assert torch.equal(runs["a"], runs["b"]) and not torch.allclose(runs["a"], runs["c"])


def test_ar_sampler_uses_first_frame_guidance_on_frame_zero_only():
    """Velocity = w under guidance (cond 1, null 0): the frames carry their own w."""
    class LabelVelocity:
        class cfg:
            patch_size, in_channels = 2, 3
        null_label = 4

        def __call__(self, latents, layout, t, y=None, output="all"):
            z = latents[-1]
            value = (y != self.null_label).to(z.dtype).view(-1, 1, 1, 1, 1)
            return [value.expand_as(z).clone()]

    def run(w):
        return sample_autoregressive(LabelVelocity(), (1, 3, 3, 16, 16), generator=torch.Generator().manual_seed(0),
                                     steps_first_frame=(2, 2, 2), steps_later_frames=(1, 1, 1), y=torch.tensor([1]),
                                     guidance=w)
    ab, aa, bb = run((2.0, 5.0)), run((2.0, 2.0)), run((5.0, 5.0))
    assert torch.allclose(ab[:, :, :1], aa[:, :, :1]) and torch.allclose(ab[:, :, 1:], bb[:, :, 1:])
    assert not torch.allclose(ab[:, :, :1], bb[:, :, :1])


def test_sampler_defaults_are_unguided_with_corrective_noise_and_compressed_causal_history():
    x1 = _data(11)
    model = OracleModel(x1, 3)
    kw = dict(steps_first_frame=(2, 2, 2), steps_later_frames=(1, 1, 1), dtype=torch.float64)
    default = sample_autoregressive(model, SHAPE, generator=torch.Generator().manual_seed(0), **kw)
    layouts = [layout for layout, _ in model.calls]
    assert all(layout.causal for layout in layouts)
    assert max(len(layout.segments) for layout in layouts) > 2  # history spread over levels: compressed
    assert (default - x1).abs().max() < 1e-5
    # euler_full_sequence / euler_pyramid default to guidance 1 (the conditional velocity alone)
    z = torch.zeros(1, 3, 1, 4, 4)
    out = euler_full_sequence(_ConstantModel(), z, steps=2, y=torch.tensor([1]))
    assert torch.allclose(out, torch.full_like(out, 2.0))
    model = _StageStarts(x1, 3)
    euler_pyramid(model, torch.randn((4, 3, 3, 4, 4), dtype=torch.float64), steps_per_stage=(2, 2, 2),
                  generator=torch.Generator().manual_seed(0))
    _, start = model.starts[-1]  # full-resolution stage start: corrective noise decorrelates 2x2 blocks
    assert not torch.allclose(start[..., 0::2, 0::2], start[..., 0::2, 1::2])


def test_pyramid_sampler_checks_its_noise():
    model = OracleModel(_data(12), 3)
    with pytest.raises(ValueError, match=r"\(B, C, T, h, w\)"):
        euler_pyramid(model, torch.randn(1, 3, 4, 4), steps_per_stage=(1, 1, 1))
    for h, w in ((3, 4), (4, 3)):
        with pytest.raises(ValueError, match="patch size 2"):
            euler_pyramid(model, torch.randn(1, 3, 1, h, w), steps_per_stage=(1, 1, 1))


def test_patch_size_reaches_the_sampling_layouts():
    x1 = _data(13)
    for variant in ("full_sequence", "spatial_pyramid", "pyramid_ar"):
        model = OracleModel(x1, 3 if variant != "full_sequence" else 1, patch_size=1)
        sample_video(variant, model, SHAPE, generator=torch.Generator().manual_seed(0), schedule=_schedule(3, True),
                     dtype=torch.float64)
        assert {layout.patch_size for layout, _ in model.calls} == {1}


def test_draws_cover_their_ranges_and_follow_the_generator():
    from reference_model.objectives import draw_frames, draw_stages
    frames = draw_frames(400, 4, torch.Generator().manual_seed(0))
    assert set(frames.tolist()) == {0, 1, 2, 3}
    assert torch.equal(frames, draw_frames(400, 4, torch.Generator().manual_seed(0)))
    assert not torch.equal(frames, draw_frames(400, 4, torch.Generator().manual_seed(1)))
    stages = draw_stages(4000, "1:2:1", 3, torch.Generator().manual_seed(0))
    counts = torch.bincount(stages, minlength=3).double() / 4000  # indexed by k: full, mid, low
    assert torch.allclose(counts, torch.tensor([0.25, 0.5, 0.25], dtype=torch.float64), atol=0.03)
    assert torch.equal(stages, draw_stages(4000, "1:2:1", 3, torch.Generator().manual_seed(0)))
    assert not torch.equal(stages, draw_stages(4000, "1:2:1", 3, torch.Generator().manual_seed(1)))


@pytest.mark.parametrize("window", [1, 2])
def test_sliding_window_sampler_lands_on_the_data_point(window):
    from dataclasses import replace
    x1 = _data(14, (2,) + SHAPE[1:])
    schedule = replace(_schedule(3, True), history_window=window)
    out = sample_video("pyramid_ar", OracleModel(x1, 3), (2,) + SHAPE[1:], generator=torch.Generator().manual_seed(1),
                       schedule=schedule, y=torch.tensor([0, 1]), dtype=torch.float64)
    assert (out - x1).abs().max() < 1e-5
