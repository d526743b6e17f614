"""Temporal pyramid: history levels, token counts at the paper's sizes, masks, loss and corruption scope."""
import dataclasses

import pytest
import torch

from pfbench.core.config import get_preset
from reference_model import objectives
from reference_model.dit import DiT, dit_config
from reference_model.layout import PackedLayout, clip_layout
from reference_model.temporal import ar_layout, corrupt_history, history_level, history_levels
from reference_model.variants import VARIANTS, training_layouts


def test_history_levels_follow_the_paper():
    # frame i-1 at the current stage's level, i-2 one coarser, capped at K-1
    assert history_levels(5, 0, 3) == [2, 2, 2, 1, 0]
    assert history_levels(5, 1, 3) == [2, 2, 2, 2, 1]
    assert history_levels(5, 2, 3) == [2, 2, 2, 2, 2]
    assert history_levels(5, 0, 3, full_history=True) == [0] * 5
    assert history_level(1, 0, 4) == 0 and history_level(4, 0, 4) == 3 and history_level(9, 2, 4) == 3


def _max_tokens(variant, preset_name):
    p = get_preset(preset_name)
    return max(layout.num_tokens for layout, _ in training_layouts(variant, p.frames, p.height, p.width,
                                                                   p.patch_size, p.stages))


@pytest.mark.parametrize("preset,frames,full,pyramid", [("paper-768p-10s", 31, 119_040, 15_360),
                                                        ("paper-768p-5s", 16, 61_440, 11_760)])
def test_paper_token_counts_counted_from_the_builder(preset, frames, full, pyramid):
    p = get_preset(preset)
    assert p.frames == frames and p.tokens_per_frame == 3840
    assert _max_tokens("full_sequence", preset) == full
    assert _max_tokens("pyramid_ar", preset) == pyramid
    # the uncompressed-history baseline needs the full sequence again at the last frame
    assert _max_tokens("ar_full_history", preset) == full


def test_layout_is_history_then_current_with_frame_ids():
    layout = ar_layout(3, 0, 3, 16, 16, patch_size=2)
    assert [s.role for s in layout.segments] == ["history", "history", "history", "current"]
    ids = layout.token_frame_ids()
    assert ids.tolist() == [0] * 4 + [1] * 16 + [2] * 64 + [3] * 64
    assert layout.current_tokens == 64


def test_mask_is_blockwise_causal_and_open_when_bidirectional():
    layout = ar_layout(3, 1, 3, 16, 16, patch_size=2)
    mask = layout.dense_mask()
    ids = layout.token_frame_ids()
    for q in range(len(ids)):
        assert torch.equal(mask[q], ids <= ids[q])
    assert dataclasses.replace(layout, causal=False).dense_mask() is None
    assert ar_layout(3, 1, 3, 16, 16, causal=False).attention_pairs() == layout.num_tokens ** 2


def test_history_corruption_touches_only_history():
    g = torch.Generator().manual_seed(0)
    history = [torch.zeros(512, 3, 2, 4, 4)]
    corrupted = corrupt_history(history, g)[0]
    per_sample_std = corrupted.flatten(1).std(dim=1)
    assert per_sample_std.max() <= 1 / 3 * 1.3 and per_sample_std.min() < 0.05  # sigma_c ~ U[0, 1/3]
    assert corrupt_history([], g) == []


class _Spy(torch.nn.Module):
    """Wraps the backbone and records what each forward receives."""

    def __init__(self, model):
        super().__init__()
        self.model, self.calls = model, []

    @property
    def cfg(self):
        return self.model.cfg

    def forward(self, latents, layout, t, y=None, output="all"):
        self.calls.append(([z.detach().clone() for z in latents], layout, output))
        return self.model(latents, layout, t, y, output=output)


def test_loss_uses_current_frame_tokens_only_and_corrupts_only_history():
    torch.manual_seed(0)
    model = _Spy(DiT(dit_config("tiny", in_channels=3, zero_init=False)))
    x1 = torch.randn(3, 3, 4, 16, 16)
    objectives.autoregressive_loss(model, x1, generator=torch.Generator().manual_seed(1),
                                   frames=torch.tensor([3, 1, 0]), stages=torch.tensor([0, 2, 1]))
    latents, packed, output = model.calls[0]
    assert output == "last"  # the model returns (and the loss sees) current-frame tokens only
    assert isinstance(packed, PackedLayout) and packed.num_samples == 3
    assert [lay.num_tokens for lay in packed.layouts] == [4 + 16 + 64 + 64, 4 + 4, 16]
    # sample 0: history frame 2 sits at full resolution and is corrupted, not the clean frame
    frame2 = latents[2]
    assert frame2.shape == (1, 3, 1, 16, 16) and not torch.allclose(frame2, x1[:1, :, 2:3])
    assert (frame2 - x1[:1, :, 2:3]).abs().max() < 1.0 + 4 * x1.abs().max()  # a blend, not replaced
    # its current frame is built from clean x1 (coupled endpoints), never from corrupted history
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1, 3, 4, 16, 16)
    model.calls.clear()
    objectives.autoregressive_loss(model, x, generator=g, corrupt=False, frames=torch.tensor([2]),
                                   stages=torch.tensor([1]))
    latents, packed, _ = model.calls[0]
    clean_coarse = torch.nn.functional.avg_pool2d(x[:, :, 0], 4).unsqueeze(2)
    assert torch.allclose(latents[0], clean_coarse)  # frame 0 at level 2, clean without corruption
    # samples never see each other: the packed mask is block diagonal
    mask = PackedLayout((ar_layout(1, 0, 3, 8, 8), ar_layout(0, 0, 3, 8, 8))).dense_mask()
    assert not mask[:32, 32:].any() and not mask[32:, :32].any()


def test_future_frames_never_reach_the_loss():
    """Frame i's loss depends on frames 0..i only: a change to a later frame leaves it bit-identical."""
    torch.manual_seed(0)
    model = DiT(dit_config("tiny", in_channels=3, zero_init=False))
    x = torch.randn(1, 3, 3, 16, 16)
    changed = x.clone()
    changed[:, :, 2] += 5.0

    def loss(clip, frame):
        return objectives.autoregressive_loss(model, clip, generator=torch.Generator().manual_seed(0),
                                              frames=torch.tensor([frame]), stages=torch.tensor([0]))

    assert torch.equal(loss(x, 1), loss(changed, 1))
    assert not torch.equal(loss(x, 2), loss(changed, 2))


def test_spatial_pyramid_variant_is_bidirectional_whole_clip():
    layouts = list(training_layouts("spatial_pyramid", 4, 16, 16, 2, 3))
    assert [l.num_tokens for l, _ in layouts] == [256, 64, 16]
    assert sum(p for _, p in layouts) == pytest.approx(1.0)
    assert all(not l.causal for l, _ in layouts)
    assert clip_layout(4, 16, 16).num_tokens == 256


def test_every_variant_enumerates_a_probability_distribution():
    for name in VARIANTS:
        total = sum(p for _, p in training_layouts(name, 5, 16, 16, 2, 3))
        assert total == pytest.approx(1.0), name


@pytest.mark.parametrize("variant", ["full_sequence", "pyramid_ar"])
def test_gpu_preset_training_step_runs_shape_only_on_meta(variant):
    """The SD3-Medium-shaped backbone at the gpu preset's 384p 5 s latents: forward and backward on the meta
    device (shapes only, no memory, no compute), so the realistic path is exercised on any machine."""
    from pfbench.train.loop import model_for_preset
    from reference_model.objectives import stratified_draws
    from reference_model.variants import training_loss
    p = get_preset("gpu")
    with torch.device("meta"):
        model = model_for_preset(p)
    x = torch.randn(1, p.channels, p.frames, p.height, p.width, device="meta")
    stages, frames = stratified_draws(1, p.stage_mix, p.stages, p.frames)
    loss = training_loss(variant, model, x, stages=stages, frames=frames)
    loss.backward()
    assert loss.shape == () and model.blocks[0].attn.qkv.weight.grad.shape == (3 * 1536, 1536)
