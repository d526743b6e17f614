"""What a K = 3 pyramid would save for public video DiTs, from their architecture cards (pfbench/cards).

For each shipped card at its native video (height/width rounded down to what three exact halvings allow):
full-resolution diffusion, a spatial pyramid, and a spatio-temporal pyramid where the card's causal VAE
allows halving the latent frame intervals; tokens, inference FLOPs per video (one guidance branch),
training FLOPs per sample, and projected GPU-seconds per video on A100/H100/H200 at a stated MFU.
Pure arithmetic (pfbench.accounting.card_flops.savings_rows): the same on every device.
"""
from __future__ import annotations

import pytest

from pfbench.accounting.arch_cards import load_card, shipped_card_names
from pfbench.accounting.card_flops import savings_rows

MFU = 0.4   # stated, not measured: a typical bf16 utilisation of large DiT inference
PUBLIC = [n for n in shipped_card_names() if not n.startswith("pfbench-")]


@pytest.mark.parametrize("name", PUBLIC)
def test_card_pyramid_savings(pf_record, name):
    rows = savings_rows(load_card(name), k=3, mfu=MFU)
    pf_record(rows)
    flops = {r["variant"]: r["value"] for r in rows if r["metric"] == "sample_flops_per_video"}
    assert 0 < flops["spatial_pyramid"] < flops["full_sequence"]
    if "spatio_temporal_pyramid" in flops:
        assert flops["spatio_temporal_pyramid"] < flops["spatial_pyramid"]


BACKBONE_DEPTH = 2   # blocks of each card's backbone twin built for measurement (width, heads, FFN unchanged)


@pytest.mark.parametrize("name", PUBLIC)
def test_card_backbone_forward(pf_record, pf_device, pf_dtype, name):
    """The reference backbone at the card's shape, at reduced depth, over the card's native full-resolution clip.

    CUDA: one forward timed (median of the timed repeats), achieved FLOP/s and MFU against the GPU's dense peak,
    allocator peak memory. CPU: built and run on the meta device, FlopCounterMode checked against the analytic
    count (the card's text-free twin: the backbone has no text path)."""
    import torch

    from pfbench.accounting.arch_cards import backbone_card, build_card_model
    from pfbench.accounting.card_flops import card_forward_flops, stage_geometry
    from pfbench.measure.flops import count_flops
    from pfbench.measure.timing import time_fn
    from reference_model.layout import clip_layout

    card = backbone_card(load_card(name)).with_depth(BACKBONE_DEPTH)
    geo = stage_geometry(card, card.native_frames, card.native_height, card.native_width)
    layout = clip_layout(geo["latent_frames"], geo["latent_height"], geo["latent_width"], card.patch_h)
    analytic = card_forward_flops(card, layout.num_tokens)["total"]
    cuda = pf_device.startswith("cuda")
    device = pf_device if cuda else "meta"
    model = build_card_model(card, device=device, attention="chunked").eval()   # SDPA: counted by FlopCounterMode
    if cuda:
        model = model.to(pf_dtype)
    x = torch.zeros((1, card.latent_channels, geo["latent_frames"], geo["latent_height"], geo["latent_width"]),
                    device=device, dtype=pf_dtype if cuda else torch.float32)
    t = torch.zeros(1, device=device)

    def forward():
        with torch.no_grad():
            return model([x], layout, t)

    with model.eager_reference():       # FlopCounterMode sees eager ops only; CUDA forwards run compiled blocks
        counted = count_flops(forward).total_flops
    assert counted == pytest.approx(analytic, rel=0.02)
    note = f"{card.name}: depth {BACKBONE_DEPTH} of {load_card(name).depth}, {layout.num_tokens} tokens, no text path"
    rows = [dict(case=name, variant="backbone", metric="forward_flops", value=analytic, unit="FLOP",
                 backend="analytic", note=note),
            dict(case=name, variant="backbone", metric="forward_flops", value=counted, unit="FLOP",
                 backend="flop-counter", note=note)]
    if not cuda:
        pf_record(rows)
        return
    from pfbench.accounting.gpus import peak_flops
    from pfbench.measure.hardware import device_name
    torch.cuda.reset_peak_memory_stats(torch.device(pf_device))
    timing = time_fn(forward, device=pf_device, warmup=2, repeats=5)
    seconds = timing.median_s
    peak = peak_flops(device_name(pf_device), pf_dtype)
    rows += [dict(case=name, variant="backbone", metric="forward_s", value=seconds, unit="s", backend="measured",
                  note=note),
             dict(case=name, variant="backbone", metric="achieved_flops_per_s", value=analytic / seconds,
                  unit="FLOP/s", backend="measured", note=note),
             dict(case=name, variant="backbone", metric="mfu", value=analytic / seconds / peak if peak else None,
                  unit="fraction", backend="measured", status="ok" if peak else "skipped",
                  note=note if peak else "no dense peak recorded for this GPU"),
             dict(case=name, variant="backbone", metric="peak_memory_bytes",
                  value=torch.cuda.max_memory_allocated(torch.device(pf_device)), unit="bytes",
                  backend="cuda-max-memory-allocated", note=note)]
    pf_record(rows)
