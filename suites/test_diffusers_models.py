"""The field's video transformers (diffusers) under pfbench's samplers: per family, forward latency (and CUDA peak
memory) at each stage of a 3-stage spatial pyramid, the measured per-stage cost against the FLOP-predicted one, and
the pyramid schedule's end-to-end saving measured by timing euler_pyramid against euler_full_sequence.

smoke / cpu: reduced configs of the same classes (pfbench.benchmarks.models.plan, each row names its config);
gpu-smoke / gpu: the cards' full configs in the preset's dtype. Nothing downloads: random weights, seeded.
"""
from __future__ import annotations

import math

import pytest

from pfbench.benchmarks.models.measure import family_rows
from pfbench.benchmarks.models.plan import FAMILY_CARDS, plan_for

pytest.importorskip("diffusers", reason="the models suite needs diffusers: pip install 'diffusers>=0.42.1,<0.43'")


@pytest.mark.parametrize("card", FAMILY_CARDS)
def test_family_through_the_pyramid(pf_record, pf_preset, pf_device, pf_dtype, pf_seed, card):
    plan = plan_for(pf_preset.name, pf_device)
    rows = family_rows(card, plan, device=pf_device, dtype=pf_dtype, seed=pf_seed)
    pf_record(rows)
    value = {(r["variant"], r["metric"], r["backend"]): r["value"] for r in rows}
    predicted = [value[(f"stage{k}", "stage_cost_predicted", "flop-counter")] for k in (1, 2, 3)]
    assert predicted[0] < predicted[1] < predicted[2] == 1.0              # counted FLOPs grow with the stage
    assert 0 < value[("pyramid", "pyramid_saving_predicted", "flop-counter")] < 1
    assert all(math.isfinite(value[(f"stage{k}", "forward_s", "measured")]) for k in (1, 2, 3))
    if plan.count_full_config:
        assert abs(value[("full_config", "counted_vs_analytic", "flop-counter")]) < 0.01
