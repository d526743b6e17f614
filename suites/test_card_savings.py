"""What a K = 3 pyramid would save for public video DiTs, from their architecture cards (pfbench/cards).

For each shipped card at its native video (height/width rounded down to what three exact halvings allow):
full-resolution diffusion, a spatial pyramid, and a spatio-temporal pyramid where the card's causal VAE
allows halving the latent frame intervals; tokens, inference FLOPs per video (one guidance branch),
training FLOPs per sample, and projected GPU-seconds per video on A100/H100/H200 at a stated MFU.
Pure arithmetic (pfbench.accounting_cards.savings_rows): the same on every device.
"""
from __future__ import annotations

import pytest

from pfbench.accounting_cards import savings_rows
from pfbench.arch_cards import load_card, shipped_card_names

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
