"""Attention backends on packed blockwise-causal layouts, bucket padding, cached layout tensors, compiled blocks,
activation checkpointing. CPU only (the CUDA twins are in tests/test_cuda.py)."""
import copy
import dataclasses

import pytest
import torch

from reference_model.attention import AttentionPlan, ids_mask_mod, layout_ids, resolve_backend
from reference_model.dit import DiT, dit_config
from reference_model.layout import PackedLayout, bucket_length, clip_layout, length_buckets
from reference_model.temporal import ar_layout

# Stages 0, 1, 2; frames 0, 2, 3; one bidirectional AR sample and one bidirectional whole clip.
MIXED = PackedLayout((ar_layout(2, 0, 3, 16, 16), ar_layout(0, 2, 3, 16, 16), ar_layout(3, 1, 3, 16, 16),
                      ar_layout(3, 0, 3, 16, 16, causal=False), clip_layout(2, 8, 8, level=1)))


def _model(**overrides):
    torch.manual_seed(0)
    return DiT(dit_config("tiny", in_channels=3, zero_init=False, num_classes=5, **overrides)).eval()


def _inputs(layout, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(1, 3, s.frames, s.height, s.width, generator=g) for s in layout.segments]


def _qkv(length, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(2, 4, length, 16, generator=g) for _ in range(3)]


def test_mixed_layout_really_mixes_stages_frames_and_rules():
    levels = {seg.level for lay in MIXED.layouts for seg in lay.segments if seg.role == "current"}
    frames = {lay.segments[-1].frame_ids[-1] for lay in MIXED.layouts}
    assert levels == {0, 1, 2} and len(frames) >= 3 and {lay.causal for lay in MIXED.layouts} == {True, False}


@pytest.mark.parametrize("pad", [0, 200])
def test_attention_plans_agree_on_packed_layout(pad):
    """flex (eager on CPU), chunked and dense give the same attention on every real token; flex also padded."""
    q, k, v = _qkv(MIXED.num_tokens)
    dense = AttentionPlan.build(MIXED, "dense", "cpu")(q, k, v)
    chunked = AttentionPlan.build(MIXED, "chunked", "cpu")(q, k, v)
    length = MIXED.num_tokens + pad
    padded = [torch.nn.functional.pad(x, (0, 0, 0, pad), value=3.0) for x in (q, k, v)]
    flex = AttentionPlan.build(MIXED, "flex", "cpu", length=length)(*padded)[:, :, :MIXED.num_tokens]
    assert torch.allclose(chunked, dense, atol=2e-5)
    assert torch.allclose(flex, dense, atol=2e-5)


def test_ids_mask_is_the_layout_rule_and_padding_is_isolated():
    length = MIXED.num_tokens + 37
    sid, fid, causal = layout_ids(MIXED, length)
    q_idx, kv_idx = torch.arange(length)[:, None], torch.arange(length)[None, :]
    mask = ids_mask_mod(sid, fid, causal)(0, 0, q_idx, kv_idx)  # (length, length)
    n = MIXED.num_tokens
    assert torch.equal(mask[:n, :n], MIXED.dense_mask())
    assert not mask[:n, n:].any() and not mask[n:, :n].any() and mask[n:, n:].all()
    assert mask.any(dim=1).all()  # no empty row, padding included


@pytest.mark.parametrize("backend", ["dense", "chunked", "flex"])
def test_model_backends_agree_on_packed_layout(backend):
    """Whole-model outputs of every backend (flex with bucket padding) match dense to 2e-5."""
    inputs = [z for i, lay in enumerate(MIXED.layouts) for z in _inputs(lay, seed=i)]
    t, y = torch.linspace(0.1, 0.9, MIXED.num_samples), torch.tensor([0, 1, 2, 3, 4])
    with torch.no_grad():
        ref = _model(attention="dense")(inputs, MIXED, t, y, output="last")
        model = _model(attention=backend, length_buckets=(512, 1024) if backend == "flex" else ())
        out = model(inputs, MIXED, t, y, output="last")
    if backend == "flex":
        plan = next(iter(model._layouts.values())).plan
        assert plan.length == 512 and plan.bucketed and MIXED.num_tokens < 512  # padded by 144 tokens
    for a, b in zip(out, ref):
        assert torch.allclose(a, b, atol=2e-5), backend


def test_buckets_and_padding_lengths():
    assert length_buckets(1000, count=4) == (256, 512, 768, 1024)
    assert bucket_length(300, (256, 512, 768, 1024)) == (512, True)
    assert bucket_length(1025, (256, 512, 768, 1024)) == (1152, False)  # beyond the buckets: next multiple of 128
    assert bucket_length(5) == (128, False)
    with pytest.raises(ValueError, match="positive"):
        length_buckets(0)


def test_auto_backend_is_flex_on_cuda_chunked_elsewhere():
    assert resolve_backend("auto", "cuda") == "flex" and resolve_backend("auto", "cpu") == "chunked"
    with pytest.raises(ValueError, match="unknown attention backend"):
        resolve_backend("flash", "cpu")
    with pytest.raises(ValueError, match="only for the flex backend"):
        AttentionPlan.build(MIXED, "chunked", "cpu", length=MIXED.num_tokens + 1)


def test_rotary_tables_and_ids_are_cached_per_layout():
    model = _model()
    layout = ar_layout(3, 1, 3, 16, 16)
    x = _inputs(layout)
    with torch.no_grad():
        a = model(x, layout, torch.tensor([0.5]))
        first = model._layouts[(layout, "cpu", "chunked")]
        b = model(x, layout, torch.tensor([0.5]))
    assert model._layouts[(layout, "cpu", "chunked")] is first and len(model._layouts) == 1
    assert torch.equal(a[-1], b[-1])
    for i in range(DiT.LAYOUT_CACHE_SIZE + 3):  # bounded: old layouts are dropped
        other = clip_layout(1, 8, 8 + 2 * i)
        with torch.no_grad():
            model(_inputs(other), other, torch.tensor([0.5]))
    assert len(model._layouts) == DiT.LAYOUT_CACHE_SIZE
    assert copy.deepcopy(model)._layouts == {}  # caches are not copied


def _loss_and_grads(model, layout, inputs, t, y):
    model.zero_grad(set_to_none=True)
    out = model(inputs, layout, t, y, output="last")
    loss = sum((o.float() ** 2).mean() for o in out)
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_compiled_blocks_match_eager_forward_and_backward():
    """torch.compile of the blocks (backend aot_eager on CPU: inductor's C++ build takes minutes on 2 cores;
    the CUDA test uses inductor) gives the eager loss and gradients; one compile serves every block."""
    torch._dynamo.reset()
    graphs_before = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    layout = PackedLayout(MIXED.layouts[:3])
    inputs = [z for i, lay in enumerate(layout.layouts) for z in _inputs(lay, seed=i)]
    t, y = torch.tensor([0.2, 0.5, 0.8]), torch.tensor([0, 1, 2])
    eager = _model(depth=3).train()
    compiled = _model(depth=3, compile_blocks=True, compile_backend="aot_eager").train()
    assert compiled.compiles_blocks("cpu") and not eager.compiles_blocks("cpu")
    loss_e, grads_e = _loss_and_grads(eager, layout, inputs, t, y)
    loss_c, grads_c = _loss_and_grads(compiled, layout, inputs, t, y)
    assert compiled._compiled is not None
    assert torch.allclose(loss_c, loss_e, rtol=1e-5, atol=1e-6)
    assert grads_e.keys() == grads_c.keys()
    for name in grads_e:
        assert torch.allclose(grads_c[name], grads_e[name], rtol=1e-4, atol=1e-6), name
    graphs = torch._dynamo.utils.counters["stats"]["unique_graphs"] - graphs_before
    assert graphs == 2, f"{graphs} graphs compiled for 3 blocks: every block should share one (pre, post) compile"
    with compiled.eager_reference():
        assert not compiled.compiles_blocks("cpu")
    assert compiled.compiles_blocks("cpu")


def test_activation_checkpointing_keeps_loss_and_gradients():
    layout = ar_layout(3, 0, 3, 16, 16)
    inputs, t, y = _inputs(layout), torch.tensor([0.4]), torch.tensor([1])
    plain = _model().train()
    ckpt = _model(activation_checkpointing=True).train()
    assert ckpt.gradient_checkpointing and not plain.gradient_checkpointing
    loss_p, grads_p = _loss_and_grads(plain, layout, inputs, t, y)
    loss_c, grads_c = _loss_and_grads(ckpt, layout, inputs, t, y)
    assert torch.allclose(loss_p, loss_c)
    for name in grads_p:
        assert torch.allclose(grads_p[name], grads_c[name], atol=1e-6), name


def test_config_round_trips_with_new_fields():
    cfg = dit_config("tiny", length_buckets=(256, 512), compile_blocks=False, activation_checkpointing=True)
    assert dataclasses.replace(cfg) == cfg and DiT(cfg).gradient_checkpointing


def test_bf16_autocast_forward_runs_every_backend_with_one_dtype():
    """bf16 autocast forward of every backend agrees with dense (on CUDA autocast runs the norms in float32, so
    the model casts q, k to v's dtype for FlexAttention; tests/test_cuda.py covers that case)."""
    inputs = [z for i, lay in enumerate(MIXED.layouts) for z in _inputs(lay, seed=i)]
    t = torch.linspace(0.1, 0.9, MIXED.num_samples)
    outs = {}
    for backend in ("dense", "chunked", "flex"):
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            outs[backend] = _model(attention=backend)(inputs, MIXED, t, None, output="last")
    for backend in ("chunked", "flex"):
        for a, b in zip(outs[backend], outs["dense"]):
            assert torch.allclose(a.float(), b.float(), atol=5e-2, rtol=5e-2), backend


def test_chunked_backward_matches_dense_on_packed_layout():
    q, k, v = [x.requires_grad_() for x in _qkv(MIXED.num_tokens, seed=3)]
    grad = torch.randn(2, 4, MIXED.num_tokens, 16, generator=torch.Generator().manual_seed(4))
    g_dense = torch.autograd.grad(AttentionPlan.build(MIXED, "dense", "cpu")(q, k, v), (q, k, v), grad)
    g_chunk = torch.autograd.grad(AttentionPlan.build(MIXED, "chunked", "cpu")(q, k, v), (q, k, v), grad)
    for a, b in zip(g_chunk, g_dense):
        assert torch.allclose(a, b, atol=2e-5)
