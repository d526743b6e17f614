"""CUDA-only checks of the GPU path (skipped cleanly without a GPU): FlexAttention backward parity on packed
blockwise-causal layouts, compiled (inductor) vs eager model, one compile per length bucket, no host
synchronisation inside a cached step, CUDA memory (allocator peaks, activation checkpointing, OOM as a result).
Run by tools/gpu_proof.sh."""
import pytest
import torch

from pfbench.measure.memory import run_catching_oom, track_memory
from reference_model.attention import AttentionPlan
from reference_model.dit import DiT, dit_config
from reference_model.layout import PackedLayout, clip_layout, length_buckets
from reference_model.temporal import ar_layout

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

CUDA = "cuda"
MIXED = PackedLayout((ar_layout(2, 0, 3, 32, 32), ar_layout(0, 2, 3, 32, 32), ar_layout(5, 1, 3, 32, 32),
                      ar_layout(3, 0, 3, 32, 32, causal=False), clip_layout(2, 16, 16, level=1)))


def _qkv(length, dtype=torch.float32, seed=0):
    g = torch.Generator(device=CUDA).manual_seed(seed)
    return [torch.randn(2, 4, length, 64, generator=g, device=CUDA, dtype=dtype).requires_grad_() for _ in range(3)]


def _grads(out, inputs, seed=1):
    g = torch.Generator(device=CUDA).manual_seed(seed)
    grad = torch.randn(out.shape, generator=g, device=CUDA, dtype=out.dtype)
    return torch.autograd.grad(out, inputs, grad)


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 2e-4), (torch.bfloat16, 3e-2)])
def test_flex_forward_and_backward_match_dense_on_packed_layout(dtype, tol):
    n = MIXED.num_tokens
    length = length_buckets(n, count=2)[-1]
    q, k, v = _qkv(n, dtype)
    ref = AttentionPlan.build(MIXED, "dense", CUDA)(q, k, v)
    ref_grads = _grads(ref, (q, k, v))
    pq, pk, pv = [torch.nn.functional.pad(x.detach(), (0, 0, 0, length - n)).requires_grad_() for x in (q, k, v)]
    flex = AttentionPlan.build(MIXED, "flex", CUDA, length=length, bucketed=True)(pq, pk, pv)
    flex_grads = _grads(flex[:, :, :n], (pq, pk, pv))
    assert torch.allclose(flex[:, :, :n].float(), ref.float(), atol=tol, rtol=tol)
    for a, b in zip(flex_grads, ref_grads):
        assert torch.allclose(a[:, :, :n].float(), b.float(), atol=tol, rtol=tol)
        assert a[:, :, n:].abs().max() == 0  # padding never feeds a real token


def _model(**overrides):
    torch.manual_seed(0)
    return DiT(dit_config("small", in_channels=4, zero_init=False, num_classes=5, **overrides)).to(CUDA).train()


def _packed_inputs(layout, seed=0):
    g = torch.Generator(device=CUDA).manual_seed(seed)
    return [torch.randn(1, 4, s.frames, s.height, s.width, generator=g, device=CUDA) for s in layout.segments]


def _loss_grads(model, layout, inputs):
    model.zero_grad(set_to_none=True)
    t = torch.linspace(0.1, 0.9, layout.num_samples, device=CUDA)
    y = torch.arange(layout.num_samples, device=CUDA) % 5
    out = model(inputs, layout, t, y, output="last")
    loss = sum(o.float().pow(2).mean() for o in out)
    loss.backward()
    return loss.detach(), {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}


def test_compiled_inductor_model_matches_eager_and_compiles_once_per_bucket():
    buckets = length_buckets(2048, count=2)
    eager = _model(attention="dense", compile_blocks=False)
    compiled = _model(attention="flex", compile_blocks=True, length_buckets=buckets)
    inputs = _packed_inputs(MIXED)
    loss_e, grads_e = _loss_grads(eager, MIXED, inputs)
    loss_c, grads_c = _loss_grads(compiled, MIXED, inputs)
    assert torch.allclose(loss_c, loss_e, rtol=1e-3)
    for name, g in grads_e.items():
        assert torch.allclose(grads_c[name], g, rtol=2e-2, atol=1e-4), name
    # another packing (1,168 tokens; MIXED has 1,504) of the same 2,048 bucket: no new graph
    other = PackedLayout((ar_layout(7, 0, 3, 32, 32), ar_layout(1, 0, 3, 32, 32)))
    assert compiled._layout_tensors(other, torch.device(CUDA)).plan.length == \
        compiled._layout_tensors(MIXED, torch.device(CUDA)).plan.length
    graphs = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    _loss_grads(compiled, other, _packed_inputs(other, seed=1))
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == graphs


def test_bf16_autocast_step_with_flex_and_compiled_blocks_matches_fp32():
    """The throughput suite's path: bf16 autocast, flex, compiled blocks, padded to a bucket (one dtype reaches
    FlexAttention even though autocast runs the norms in float32)."""
    model = _model(attention="flex", compile_blocks=True, length_buckets=length_buckets(2048, count=2))
    inputs = _packed_inputs(MIXED)
    loss32, _ = _loss_grads(model, MIXED, inputs)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        loss16, grads = _loss_grads(model, MIXED, inputs)
    assert torch.isfinite(loss16) and torch.allclose(loss16, loss32, rtol=5e-2)
    assert all(torch.isfinite(g).all() for g in grads.values())


def test_cached_step_has_no_host_synchronisation():
    model = _model(attention="flex", length_buckets=length_buckets(2048, count=2))
    inputs = _packed_inputs(MIXED)
    _loss_grads(model, MIXED, inputs)  # builds the block mask, rotary tables, compiles
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        t = torch.linspace(0.1, 0.9, MIXED.num_samples, device=CUDA)
        out = model(inputs, MIXED, t, None, output="last")
        sum(o.float().pow(2).mean() for o in out).backward()
    finally:
        torch.cuda.set_sync_debug_mode("default")


def test_cuda_memory_peaks_checkpointing_and_oom_as_a_result():
    layout = PackedLayout(tuple(ar_layout(7, 0, 3, 64, 64) for _ in range(2)))
    peaks = {}
    for ckpt in (False, True):
        model = _model(activation_checkpointing=ckpt, compile_blocks=False)
        inputs = _packed_inputs(layout)
        with track_memory(CUDA) as tracker:
            _loss_grads(model, layout, inputs)
        peaks[ckpt] = tracker.result.max_allocated_bytes
        assert tracker.result.max_reserved_bytes >= peaks[ckpt] > 0
        del model, inputs
    assert peaks[True] < peaks[False]
    free, _ = torch.cuda.mem_get_info()
    caught = run_catching_oom(lambda: torch.empty(int(free * 4), dtype=torch.uint8, device=CUDA))
    assert caught.oom and caught.result is None and "out of memory" in caught.message.lower()
