"""The backbone: multi-resolution layouts, rotary positions, masks, attention backends, output heads."""
import dataclasses

import pytest
import torch

from reference_model.dit import DIT_PRESETS, DiT, build_model, dit_config
from reference_model.layout import SegmentSpec, SequenceLayout, clip_layout
from reference_model.rope import apply_rope, rope_angles, rope_axis_dims
from reference_model.temporal import ar_layout


def _random_model(**overrides):
    torch.manual_seed(0)
    return DiT(dit_config("tiny", in_channels=3, zero_init=False, **overrides)).eval()


def _inputs(layout, batch=2, channels=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, channels, s.frames, s.height, s.width, generator=g) for s in layout.segments]


def test_forward_on_segments_of_different_resolutions():
    model = _random_model()
    layout = ar_layout(3, 1, 3, 16, 16, patch_size=2)
    outs = model(_inputs(layout), layout, torch.tensor([0.3, 0.7]))
    assert [tuple(o.shape) for o in outs] == [(2, 3, s.frames, s.height, s.width) for s in layout.segments]
    last = model(_inputs(layout), layout, torch.tensor([0.3, 0.7]), output="last")
    assert len(last) == 1 and torch.allclose(last[0], outs[-1], atol=1e-5)


def test_patchify_roundtrip():
    model = _random_model()
    x = torch.randn(2, 3, 4, 8, 12)
    tokens = model.patchify(x)
    assert tokens.shape == (2, 4 * 4 * 6, 12)
    assert torch.equal(model.unpatchify(tokens, 4, 8, 12), x)


def test_zero_init_outputs_zero_velocity():
    model = build_model("tiny", in_channels=3)
    layout = clip_layout(2, 8, 8)
    out = model(_inputs(layout), layout, torch.tensor([0.5, 0.5]))[0]
    assert torch.count_nonzero(out) == 0


def test_rope_split_and_relative_property():
    assert rope_axis_dims(16) == (4, 6, 6)
    assert rope_axis_dims(64) == (16, 24, 24)
    pos = torch.tensor([[1.0, 2.5, 3.0], [4.0, 0.25, 7.0]])
    cos, sin = rope_angles(pos, 16, 10000.0)
    q = torch.randn(1, 1, 2, 16)
    shifted_cos, shifted_sin = rope_angles(pos + torch.tensor([2.0, 1.5, -3.0]), 16, 10000.0)
    # attention logits depend only on the position difference
    dot = (apply_rope(q[:, :, :1], cos[:1], sin[:1]) * apply_rope(q[:, :, 1:], cos[1:], sin[1:])).sum()
    dot_shifted = (apply_rope(q[:, :, :1], shifted_cos[:1], shifted_sin[:1])
                   * apply_rope(q[:, :, 1:], shifted_cos[1:], shifted_sin[1:])).sum()
    assert dot.item() == pytest.approx(dot_shifted.item(), abs=1e-4)


def test_fractional_positions_spread_coarse_history_over_the_current_grid():
    layout = ar_layout(3, 0, 3, 16, 16, patch_size=2)  # history at levels 2, 1, 0; current 8x8 tokens
    pos = layout.positions()
    coarse = pos[:4]  # frame 0 at level 2: a 2x2 token grid
    assert coarse[:, 1].unique().tolist() == [1.5, 5.5]  # centres of 4-token-wide cells on the 8-token grid
    current = pos[-64:]
    assert current[:, 1].unique().tolist() == list(map(float, range(8)))
    assert current[:, 0].unique().tolist() == [3.0]


@pytest.mark.parametrize("frame_index,stage", [(0, 0), (2, 1), (3, 0)])
def test_attention_backends_agree(frame_index, stage):
    layout = ar_layout(frame_index, stage, 3, 16, 16, patch_size=2)
    inputs = _inputs(layout)
    t = torch.tensor([0.2, 0.9])
    results = {}
    for backend in ("dense", "chunked", "flex"):
        model = _random_model(attention=backend)
        with torch.no_grad():
            results[backend] = model(inputs, layout, t)
    for backend in ("chunked", "flex"):
        for a, b in zip(results[backend], results["dense"]):
            assert torch.allclose(a, b, atol=2e-5), backend


def test_causal_mask_changes_history_but_not_independent_of_future():
    """Blockwise causal: history outputs do not depend on the current frame; bidirectional ones do."""
    layout = ar_layout(2, 0, 3, 8, 8, patch_size=2)
    model = _random_model()
    inputs = _inputs(layout, batch=1)
    changed = inputs[:-1] + [inputs[-1] + 1.0]
    t = torch.tensor([0.5])
    with torch.no_grad():
        a, b = model(inputs, layout, t), model(changed, layout, t)
    assert torch.allclose(a[0], b[0], atol=1e-6)
    bidir = dataclasses.replace(layout, causal=False)
    with torch.no_grad():
        c, d = model(inputs, bidir, t), model(changed, bidir, t)
    assert not torch.allclose(c[0], d[0], atol=1e-4)


def test_class_label_and_null_label():
    model = _random_model(num_classes=4)
    layout = clip_layout(1, 8, 8)
    x = _inputs(layout, batch=1)
    t = torch.tensor([0.5])
    with torch.no_grad():
        null = model(x, layout, t)[0]
        null_explicit = model(x, layout, t, torch.tensor([4]))[0]
        cls = model(x, layout, t, torch.tensor([1]))[0]
    assert torch.allclose(null, null_explicit)
    assert not torch.allclose(null, cls)


def test_bad_inputs_name_the_problem():
    model = _random_model()
    layout = clip_layout(2, 8, 8)
    with pytest.raises(ValueError, match=r"\(B, C, T, H, W\)"):
        model([torch.randn(2, 3, 8, 8)], layout, torch.tensor([0.1, 0.1]))
    with pytest.raises(ValueError, match="does not match the layout"):
        model([torch.randn(2, 3, 2, 8, 16)], layout, torch.tensor([0.1, 0.1]))
    with pytest.raises(ValueError, match="not divisible by patch size"):
        clip_layout(1, 7, 8)
    with pytest.raises(ValueError, match="unknown model size"):
        build_model("huge")


def test_size_presets_span_tiny_to_sd3_medium_shape():
    assert DIT_PRESETS["sd3-medium-like"].depth == 24
    with torch.device("meta"):
        big = DiT(DIT_PRESETS["sd3-medium-like"])
    assert 0.9e9 < big.num_parameters() < 1.2e9  # image stream of SD3-Medium's shape
    assert _random_model().num_parameters() < 500_000


def test_layout_pair_count_matches_dense_mask():
    for causal in (True, False):
        layout = dataclasses.replace(ar_layout(4, 0, 3, 16, 16, patch_size=2), causal=causal)
        mask = layout.dense_mask()
        dense = layout.num_tokens ** 2 if mask is None else int(mask.sum())
        assert layout.attention_pairs() == dense
    chunks = ar_layout(2, 1, 3, 16, 16).causal_chunks()
    assert chunks == [(0, 4, 4), (4, 20, 20), (20, 36, 36)]


def test_unsorted_frame_ids_cannot_use_chunks():
    layout = SequenceLayout((SegmentSpec(4, 4, (1,)), SegmentSpec(4, 4, (0,))), patch_size=2, causal=True)
    with pytest.raises(ValueError, match="non-decreasing"):
        layout.causal_chunks()


@pytest.mark.parametrize("backend", ["dense", "chunked", "flex"])
def test_packed_forward_equals_separate_forwards(backend):
    """Sequence packing: each sample's output is what it would get alone (samples never mix)."""
    from reference_model.layout import PackedLayout
    layouts = (ar_layout(2, 0, 3, 16, 16), ar_layout(0, 2, 3, 16, 16), ar_layout(3, 1, 3, 16, 16, causal=False))
    model = _random_model(attention=backend, num_classes=3)
    inputs = [_inputs(layout, batch=1, seed=i) for i, layout in enumerate(layouts)]
    t = torch.tensor([0.1, 0.5, 0.8])
    y = torch.tensor([0, 2, 1])
    with torch.no_grad():
        packed = model([z for sample in inputs for z in sample], PackedLayout(layouts), t, y, output="last")
        alone = [model(inputs[i], layouts[i], t[i:i + 1], y[i:i + 1], output="last")[0] for i in range(3)]
    for a, b in zip(packed, alone):
        assert torch.allclose(a, b, atol=2e-5)
    with pytest.raises(ValueError, match="batch 1"):
        model([torch.cat([z, z]) for z in inputs[0]], PackedLayout(layouts[:1]), t[:1])
