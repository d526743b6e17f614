"""Per-frame AR cost harness: per-frame attribution of the sampler's evaluations, rows, and the report section."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from pfbench.accounting.arch_cards import load_card
from pfbench.accounting.card_flops import savings_rows
from pfbench.benchmarks.ar_per_frame.frame_costs import (
    SETTINGS,
    ARCostConfig,
    FrameCosts,
    ar_cost_config,
    case_name,
    flops_rows,
    measure_frames,
    measured_rows,
    predicted_frame_flops,
    summary,
)
from pfbench.cli.main import main
from pfbench.core.config import get_preset
from pfbench.train.loop import model_for_preset

FIXTURE = Path(__file__).parent / "fixtures" / "run_cpu"


def test_config_window_setting_and_bad_env(monkeypatch):
    preset = get_preset("cpu")
    cfg = ar_cost_config(preset, window=3)
    assert cfg.frames == preset.frames and cfg.setting("pyramid_ar_window")[1].history_window == 3
    assert cfg.setting("ar_full_history") == ("ar_full_history", cfg.schedule)
    assert ar_cost_config(preset.replace(ar_window=5)).window == 5  # the config key ar_per_frame.window
    with pytest.raises(ValueError, match="unknown per-frame setting"):
        cfg.setting("nope")


def test_predicted_rows_match_counted_and_the_window_is_flat():
    preset = get_preset("cpu")
    cfg = ar_cost_config(preset, window=2)
    rows = [r for r in flops_rows(preset, cfg) if r["metric"] == "frame_flops"]
    analytic = [r for r in rows if r["backend"] == "analytic"]
    assert [r["value"] for r in analytic] == pytest.approx([r["value"] for r in rows if r["backend"] == "counted"])
    window = predicted_frame_flops("pyramid_ar_window", preset, cfg)
    full = predicted_frame_flops("ar_full_history", preset, cfg)
    assert len(set(window[2:])) == 1 and full[-1] > 5 * full[1]


def test_measure_frames_attributes_every_evaluation_to_its_frame():
    preset = get_preset("smoke")
    cfg = ARCostConfig(frames=3, window=1, rounds=2, warmup_rounds=0, schedule=ar_cost_config(preset).schedule)
    torch.manual_seed(0)
    model = model_for_preset(preset).eval()
    costs = measure_frames(model, preset, cfg)
    assert set(costs) == set(SETTINGS)
    first, later = sum(cfg.schedule.steps_first_frame), sum(cfg.schedule.steps_later_frames)
    for c in costs.values():
        assert c.evaluations == [first, later, later] and c.rounds == 2
        assert all(s > 0 for s in c.wall_s) and all(s >= 0 for s in c.spread_s)
        assert c.memory_backend in ("vmhwm-clear-refs", "unavailable")
    s = summary(costs["ar_full_history"], 1)
    assert s["predicted_growth"] > 1 and s["total_s"] == pytest.approx(sum(costs["ar_full_history"].wall_s))


def _synthetic(preset, cfg) -> dict:
    """FrameCosts with made-up times (growth like the prediction) to drive the report, not to measure anything."""
    out = {}
    for setting in SETTINGS:
        flops = predicted_frame_flops(setting, preset, cfg)
        out[setting] = FrameCosts(setting, [f / 1e10 for f in flops], [0.01] * cfg.frames, [2 ** 28] * cfg.frames,
                                  flops, [12] + [6] * (cfg.frames - 1), "vmhwm-clear-refs", 3)
    return out


def test_report_shows_the_per_frame_plot_and_the_card_table(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(FIXTURE, run)
    preset = get_preset("cpu")
    cfg = ar_cost_config(preset, window=2)
    rows = flops_rows(preset, cfg) + measured_rows(case_name(preset), _synthetic(preset, cfg), cfg)
    rows += [dict(case="ar_per_frame_samples", variant=s, metric="vbench_quality_score", value=0.5 + 0.01 * i,
                  unit="score", backend="vbench-aggregation", status="ok") for i, s in enumerate(SETTINGS)]
    (run / "rows" / "ar_per_frame.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    cards = savings_rows(load_card("wan2.1-t2v-1.3b")) + savings_rows(load_card("pyramid-flow-sd3"))
    (run / "rows" / "cards.jsonl").write_text("\n".join(json.dumps(r) for r in cards) + "\n")
    assert main(["report", str(run)]) == 0
    md = (run / "report.md").read_text()
    assert "## Per-frame cost of autoregressive generation" in md and "(plots/ar_per_frame.png)" in md
    assert "## What a pyramid would save for public video DiTs" in md and "(plots/card_savings.png)" in md
    assert "pyramid_ar_window" in md and "0.52" in md                  # the window's quality beside its cost
    assert "21x112x208,41x224x416,81x448x832" in md                    # Wan's spatio-temporal pyramid
    for name in ("ar_per_frame", "card_savings"):
        assert (run / "plots" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"


def test_a_spent_time_budget_gives_fewer_rounds_not_a_failure():
    preset = get_preset("smoke")
    base = ar_cost_config(preset)
    cfg = ARCostConfig(base.frames, base.window, rounds=3, warmup_rounds=1, schedule=base.schedule, time_budget_s=0.0)
    costs = measure_frames(model_for_preset(preset).eval(), preset, cfg)
    assert {c.rounds for c in costs.values()} == {1}                    # the warm-up round is the measurement
    assert all(len(c.wall_s) == base.frames for c in costs.values())


def test_query_pairs_split_history_and_current_queries_by_hand():
    from pfbench.benchmarks.ar_per_frame.frame_costs import query_pairs
    from reference_model.temporal import ar_layout
    # frame 2 at full resolution (8x8 latent, patch 2 -> 16 tokens per frame), full-resolution history 0, 1:
    # history queries: frame 0 sees 16 keys, frame 1 sees 32 -> 16*16 + 16*32 = 768; current 16 queries see 48.
    layout = ar_layout(2, 0, 3, 8, 8, 2, full_history=True)
    assert query_pairs(layout) == (768, 16 * 48)
    assert sum(query_pairs(layout)) == layout.attention_pairs()


def test_kv_cache_bound_prices_history_once_per_stage():
    from pfbench.accounting.flops import forward_flops
    from pfbench.accounting.shapes import ModelShape
    from pfbench.benchmarks.ar_per_frame.frame_costs import kv_cache_bound_frame_flops
    from reference_model.variants import sampling_layouts
    preset = get_preset("cpu")
    cfg = ar_cost_config(preset, window=2)
    model = ModelShape.from_preset(preset)
    for setting in SETTINGS:
        bound = kv_cache_bound_frame_flops(setting, preset, cfg)
        full = predicted_frame_flops(setting, preset, cfg)
        assert bound[0] == pytest.approx(full[0])  # frame 0 has no history: nothing to cache
        assert all(b < f for b, f in zip(bound[1:], full[1:]))
    # the last frame of ar_full_history by hand: history (7 full frames) once per stage, n steps of the current frame
    variant, schedule = cfg.setting("ar_full_history")
    layouts = [(lay, n) for lay, n in sampling_layouts(variant, cfg.frames, preset.height, preset.width,
                                                       preset.patch_size, schedule)
               if lay.segments[-1].frame_ids[0] == cfg.frames - 1]
    want = 0
    for lay, n in layouts:
        per_frame = [c for _, c in lay.frame_tokens]  # history frames then the current one
        hist, cur = per_frame[:-1], per_frame[-1]
        hist_pairs = sum(c * sum(hist[:i + 1]) for i, c in enumerate(hist))
        want += forward_flops(model, sum(hist), hist_pairs, 0) + n * forward_flops(model, cur, cur * sum(per_frame),
                                                                                     cur)
    assert kv_cache_bound_frame_flops("ar_full_history", preset, cfg)[-1] == pytest.approx(want)
