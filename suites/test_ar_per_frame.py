"""Per-frame cost of autoregressive generation: pyramid_ar, a sliding window of W frames, full history.

For every latent frame of one generated video: the FLOPs pfbench.accounting predicts (checked against the
counted layouts and, for the last frame, FlopCounterMode on the real forward), the measured wall time
(median over interleaved rounds, device synchronised) and the peak memory while that frame was generated.
Beside it, the quality of samples from the same settings (the VBench-style offline metrics the vbench suite
uses), so the report can say what the window saves and what it costs.
"""
from __future__ import annotations

import os

import pytest
import torch

from pfbench.accounting.flops import forward_flops
from pfbench.accounting.shapes import ModelShape
from pfbench.benchmarks.ar_per_frame.frame_costs import (
    DEFAULT_WINDOW,
    SETTINGS,
    ar_cost_config,
    case_name,
    flops_rows,
    measure_frames,
    measured_rows,
    predicted_frame_flops,
)
from pfbench.measure.flops import count_flops
from pfbench.train.loop import model_for_preset
from reference_model.temporal import ar_layout, history_latents


def _window(pf_config) -> int:
    """W as the run recorded it: the config key ar_per_frame.window of the resolved preset (an older config.json kept
    it in "overrides" only; the conftest applies those)."""
    return int(pf_config["preset"].get("ar_window", DEFAULT_WINDOW))


def _last_frame_counted(setting, model, preset, cfg, device) -> tuple[int, int]:
    """FlopCounterMode on the last frame's full-resolution forward vs the analytic forward of that layout."""
    variant, schedule = cfg.setting(setting)
    layout = ar_layout(cfg.frames - 1, 0, len(schedule.steps_first_frame), preset.height, preset.width,
                       preset.patch_size, variant == "ar_full_history", True, schedule.history_window)
    clip = torch.zeros(1, preset.channels, cfg.frames, preset.height, preset.width, device=device)
    latents = history_latents(clip, layout) + [torch.zeros(1, preset.channels, 1, preset.height, preset.width,
                                                           device=device)]
    with torch.no_grad(), model.eager_reference():   # FlopCounterMode sees eager ops only (not compiled blocks)
        counted = count_flops(lambda: model(latents, layout, torch.zeros(1, device=device), output="last"))
    analytic = forward_flops(ModelShape.from_preset(preset), layout.num_tokens, layout.attention_pairs(),
                             layout.current_tokens)
    return counted.total_flops, analytic


def test_ar_per_frame_cost(benchmark, pf_config, pf_preset, pf_device, pf_dtype, pf_seed, pf_record):
    cfg = ar_cost_config(pf_preset, window=_window(pf_config))
    rows = flops_rows(pf_preset, cfg)
    frame_flops = [r for r in rows if r["metric"] == "frame_flops"]
    analytic = [r["value"] for r in frame_flops if r["backend"] == "analytic"]
    assert analytic == pytest.approx([r["value"] for r in frame_flops if r["backend"] == "counted"], rel=1e-12)
    if not pf_preset.trainable:
        pf_record(rows)
        pytest.skip(f"preset {pf_preset.name} is shape-only: per-frame FLOPs recorded, nothing measured")
    torch.manual_seed(pf_seed)
    model = model_for_preset(pf_preset).to(pf_device, pf_dtype).eval()
    costs = benchmark.pedantic(measure_frames, args=(model, pf_preset, cfg), rounds=1, iterations=1,
                               kwargs=dict(device=pf_device, dtype=pf_dtype, seed=pf_seed))
    benchmark.extra_info.update(case=case_name(pf_preset), window=cfg.window, frames=cfg.frames, rounds=cfg.rounds)
    steps_first, steps_later = sum(cfg.schedule.steps_first_frame), sum(cfg.schedule.steps_later_frames)
    for setting, c in costs.items():
        assert c.evaluations == [steps_first] + [steps_later] * (cfg.frames - 1), setting
    pf_record(rows + measured_rows(case_name(pf_preset), costs, cfg))
    window = predicted_frame_flops("pyramid_ar_window", pf_preset, cfg)
    if cfg.frames > cfg.window + 1:
        assert len(set(window[cfg.window:])) == 1, "the window's predicted per-frame cost must be flat after W"


def test_ar_per_frame_flop_counter(pf_config, pf_preset, pf_device, pf_dtype, pf_seed):
    """FlopCounterMode on each setting's last-frame full-resolution forward equals the analytic forward."""
    if not pf_preset.trainable:
        pytest.skip(f"preset {pf_preset.name} is shape-only")
    cfg = ar_cost_config(pf_preset, window=_window(pf_config))
    torch.manual_seed(pf_seed)
    model = model_for_preset(pf_preset).to(pf_device, pf_dtype).eval()
    for setting in SETTINGS:
        got, want = _last_frame_counted(setting, model, pf_preset, cfg, pf_device)
        assert got == pytest.approx(want, rel=0.02), setting


def test_ar_per_frame_sample_quality(pf_config, pf_preset, pf_device, pf_seed, pf_record):
    """VBench-style offline scores of the three settings' samples: what the window costs in quality.

    pyramid_ar and ar_full_history are trained briefly from one init (the vbench suite's budget); the window
    setting samples the same pyramid_ar model with history_window = W."""
    from pfbench.experiments.clips import SAMPLE_FPS, clips_to_videos, procedural_clips
    from pfbench.experiments.recipe import initial_model, sample_labels, train_variant
    from pfbench.experiments.sample_measures import score_sample_sets
    from pfbench.experiments.shapes import experiment_shape
    from pfbench.metrics.vbench.base import VBenchConfig
    from pfbench.metrics.vbench.scoring import OFFLINE_DIMENSIONS
    from reference_model.variants import sample_video

    if not pf_preset.trainable:
        pytest.skip(f"preset {pf_preset.name} is shape-only; sampling needs a trainable preset")
    shape = experiment_shape(pf_preset)
    preset = shape.preset(pf_preset)
    cfg = ar_cost_config(preset, window=_window(pf_config))
    data = procedural_clips(preset, shape.dataset_size, pf_seed)
    init = initial_model(preset, pf_seed, pf_device)
    models = {v: train_variant(v, preset, init, data, steps=shape.vbench_steps, batch_size=shape.ablation_batch,
                               seed=pf_seed, lr=shape.lr, device=pf_device).model.eval()
              for v in ("pyramid_ar", "ar_full_history")}
    sets = {}
    n = shape.vbench_clips
    for setting in SETTINGS:
        variant, schedule = cfg.setting(setting)
        schedule = type(schedule)(**{**schedule.__dict__, "steps_first_frame": shape.schedule.steps_first_frame,
                                     "steps_later_frames": shape.schedule.steps_later_frames})
        gen = torch.Generator(device=pf_device).manual_seed(pf_seed + 1)
        with torch.no_grad():
            clips = sample_video(variant, models[variant], (n, preset.channels, preset.frames, preset.height,
                                                            preset.width), generator=gen, schedule=schedule,
                                 y=sample_labels(n).to(pf_device), device=pf_device)
        assert torch.isfinite(clips).all(), setting
        sets[setting] = clips_to_videos(clips.float().cpu())
    config = VBenchConfig(device=pf_device, weights_dir=os.environ.get("PFBENCH_WEIGHTS_DIR"))
    rows = score_sample_sets(sets, SAMPLE_FPS, OFFLINE_DIMENSIONS, config, case="ar_per_frame_samples")
    note = (f"{n} clips per setting of {preset.frames} latent frames; window W={cfg.window}; models trained "
            f"{shape.vbench_steps} steps x {shape.ablation_batch} clips from one init (shape {shape.name})")
    for r in rows:
        r["note"] = f"{r['note']}; {note}" if r["note"] else note
    pf_record(rows)
    assert {r["variant"] for r in rows} == set(SETTINGS)
    assert all(r["status"] in ("ok", "skipped") for r in rows), [r for r in rows if r["status"] == "error"]
