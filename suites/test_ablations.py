"""The paper's ablations on the convergence experiment's machinery, each over seeds with an interval: corrective noise
(Fig. 10), causal vs bidirectional attention (Fig. 11), temporal pyramid on/off (pyramid_ar vs ar_full_history),
stage mix (uniform vs 1:2:1), time conditioning (the public code's stage remap vs the true global time).

Shapes, data, seeds and the FID extractor are those of the FID-convergence experiment at the run's preset
(pfbench.benchmarks.fid.convergence_run.convergence_scale: cpu = tiny backbone, 4 x 16 x 16 real clips, 3 seeds). Every model trains
``steps`` steps from the seed's initial weights, on the same clips and sample stream, with equal tokens per batch (the
FID experiment's equalisation: a model both need, e.g. spatial_pyramid and pyramid_ar, is trained once per run and
shared through its run folder); the two settings of an ablation differ only in the ablated switch. For each seed the settings are paired (same weights at
start, same sample seeds), and each claim is the mean paired difference over seeds with a Student-t 95% interval
(pfbench.benchmarks.fid.convergence.paired_difference): rows ``<metric>_gap`` / ``_ci_low`` / ``_ci_high``.

- corrective_noise: one spatial_pyramid model samples the same seeds with the jump's corrective noise on, off (the
  ablation: same marginal variance, 2x2 blocks perfectly correlated) and off-rescale-only (the earlier ablation,
  whose noise also has 1/4 of the variance). ``block_correlation`` (pfbench.experiments.sample_measures.block_correlation: neighbour
  correlation inside the pyramid's 2x2 cells minus across them, on high-passed samples; ~0 for real images) and FID.
  Asserted only the mechanism, which is certain: the jump itself is blockier without the noise.
- attention: pyramid_ar (blockwise causal) vs pyramid_ar_bidirectional: frame-to-frame feature similarity (mean
  cosine similarity of consecutive frames' features from the FID extractor) and FID. FVD needs clips of >= 16 frames:
  recorded as not measured when the clips are shorter.
- temporal_pyramid: pyramid_ar vs ar_full_history: FID, mean tokens per training sample (analytic), training time.
- stage_mix: spatial_pyramid trained uniform vs 1:2:1: held-out loss per stage (comparable across mixes) and cost.
- time_conditioning: spatial_pyramid trained and sampled with the stage remap (default) vs the true global time: FID.
Quality orderings are recorded, not asserted.
"""
from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from pfbench.accounting.flops import variant_counts
from pfbench.accounting.shapes import ModelShape, VideoShape
from pfbench.benchmarks.fid.convergence import paired_difference
from pfbench.benchmarks.fid.convergence_run import convergence_scale
from pfbench.experiments.clips import clips_to_frames, experiment_clips
from pfbench.experiments.recipe import (FidEvaluator, Snapshots, fid_config, initial_model, logged_wall, sample_clips,
                                       shared_run_name, train_variant)
from pfbench.experiments.sample_measures import block_correlation, heldout_stage_losses
from pfbench.experiments.shapes import equal_token_batches, mean_tokens_per_sample, train_flops_per_sample
from pfbench.metrics.fid.compute import metrics_from_features

# model name -> (reference variant, stage mix, time conditioning[, stages K])
MODELS = {"sp": ("spatial_pyramid", "1:2:1", "stage"), "sp_uniform": ("spatial_pyramid", "uniform", "stage"),
          "sp_global_t": ("spatial_pyramid", "1:2:1", "global"), "causal": ("pyramid_ar", "1:2:1", "stage"),
          "bidirectional": ("pyramid_ar_bidirectional", "1:2:1", "stage"),
          "full_history": ("ar_full_history", "1:2:1", "stage"),
          **{f"sp_K{k}": ("spatial_pyramid", "uniform", "stage", k) for k in (1, 2, 4)}}
FULL_KEY = "ablations.full"  # true: also stage mix, time conditioning and K on smoke/cpu (on elsewhere)
MIN_BLOCK_CORRELATION_GAP = 0.05   # the jump without corrective noise: ~1.3 above the jump with it
FVD_MIN_FRAMES = 16


@pytest.fixture(scope="module")
def lab(pf_preset, pf_device, pf_seed, pf_train_dir):
    if not pf_preset.trainable:
        pytest.skip(f"preset {pf_preset.name} is shape-only; the ablations need a trainable preset")
    scale = convergence_scale(pf_preset)
    preset = scale.preset(pf_preset)
    real, labels = experiment_clips(scale, preset, scale.heldout_clips, pf_seed, split="heldout")
    evaluator = FidEvaluator(clips_to_frames(real), fid_config(scale, pf_device, pf_seed), frames_per_clip=preset.frames)
    return dict(scale=scale, preset=preset, data=experiment_clips(scale, preset, scale.dataset_size, pf_seed),
                real=real, labels=labels, seeds=scale.seed_list(pf_seed), inits={}, models={}, evaluator=evaluator,
                feature_dim=int(evaluator.real.shape[1]), train_dir=pf_train_dir, samples={},
                data_tag=f"experiment_clips:{scale.name}:train:{scale.dataset_size}:seed{pf_seed}")


def _preset(lab, name):
    spec = MODELS[name]
    return lab["preset"].replace(time_conditioning=spec[2], stages=spec[3] if len(spec) > 3 else lab["preset"].stages)


def _schedule(lab, name):
    """The scale's sampling schedule with one entry per stage of the model's K."""
    from dataclasses import replace
    sched, K = lab["scale"].schedule, _preset(lab, name).stages
    return replace(sched, steps_first_frame=(sched.steps_first_frame[0],) * K,
                   steps_later_frames=(sched.steps_later_frames[0],) * K)


def _batch(lab, name) -> int:
    """Clips per step of model ``name``: equal tokens per batch with full_sequence at the scale's batch (the FID
    experiment's equalisation), so a model both experiments need is one and the same training run."""
    variant, mix = MODELS[name][:2]
    return equal_token_batches([variant], _preset(lab, name), lab["scale"].batch_size, stage_mix=mix)[variant]


def _trained(lab, name, seed, device):
    """Model ``name`` for ``seed``, trained once per run: (model, losses, training seconds). Its run folder is the
    shared one of exactly this training (pfbench.experiments.recipe.shared_run_name), so a model the FID experiment
    trained already is resumed finished, and its seconds are that training's own, from its log."""
    key = (name, seed)
    if key not in lab["models"]:
        variant, mix = MODELS[name][:2]
        if seed not in lab["inits"]:
            lab["inits"][seed] = initial_model(lab["preset"], seed, device)
        s, preset, batch = lab["scale"], _preset(lab, name), _batch(lab, name)
        folder = lab["train_dir"]("shared", shared_run_name(variant, preset, seed=seed, steps=s.steps,
                                                           batch_size=batch, lr=s.lr, stage_mix=mix,
                                                           data=lab["data_tag"], eval_steps=s.eval_steps))
        t0 = time.perf_counter()
        result = train_variant(variant, preset, lab["inits"][seed], lab["data"], steps=s.steps, batch_size=batch,
                               seed=seed, lr=s.lr, stage_mix=mix, device=device, run_dir=folder,
                               callback=Snapshots(s.eval_steps, folder=folder))
        seconds = logged_wall(folder).get(s.steps, time.perf_counter() - t0)
        lab["models"][key] = (result.model, result.losses, seconds)
    return lab["models"][key]


def _features_and_fid(lab, clips):
    """(FidResult, per-frame features (N * T, D)) of generated clips against the held-out set."""
    ev = lab["evaluator"]
    feats = ev._features(clips_to_frames(clips))
    groups = lambda n: np.arange(n) // lab["preset"].frames  # noqa: E731
    return metrics_from_features(ev.real, feats, ev.config, groups(len(ev.real)), groups(len(feats))), feats


def _samples(lab, name, seed, device, renoise=True, keep_variance=True):
    key = (name, seed, renoise, keep_variance)
    if key not in lab["samples"]:
        model, _, _ = _trained(lab, name, seed, device)
        clips = sample_clips(MODELS[name][0], model, _preset(lab, name), lab["scale"].sample_clips,
                             _schedule(lab, name), seed=seed + 1, device=device, renoise=renoise,
                             keep_variance=keep_variance)
        lab["samples"][key] = (clips, *_features_and_fid(lab, clips))
    return lab["samples"][key]


def _bias_note(lab) -> str:
    """' (bias-dominated: ...)' when the Fréchet distance of these sizes is, '' otherwise (no verdict reads it then)."""
    from pfbench.metrics.small_sample import bias_dominated

    n, d = lab["scale"].sample_clips * lab["preset"].frames, lab["feature_dim"]
    return f"; bias-dominated: {n} frames < 10 x D = {10 * d}, no verdict reads it" if bias_dominated(n, d) else ""


def _note(lab, what) -> str:
    s = lab["scale"]
    return (f"{what}; {len(lab['seeds'])} seeds, paired (same initial weights, data, sample seeds); {s.steps} steps, "
            f"equal tokens per batch ({s.batch_size} full_sequence clips), lr {s.lr}, scale {s.name}; "
            f"{s.sample_clips} samples vs {s.heldout_clips} held-out {s.data} clips")


def _summarise(case, metric, per_setting: dict, note: str, backend: str, gap: tuple[str, str] | None,
               unit: str = "") -> list[dict]:
    """Seed-mean rows per setting (spread = t half-width over seeds), per-seed rows, and the paired gap a - b."""
    rows = []
    for setting, values in per_setting.items():
        m, lo, hi = paired_difference(values, np.zeros(len(values)))
        rows.append(dict(case=case, variant=setting, metric=metric, value=m, unit=unit, backend=backend,
                         spread=None if np.isnan(hi) else (hi - lo) / 2, spread_kind="ci95_seeds",
                         rounds=len(values), note=f"mean of {len(values)} seeds; " + note))
        rows += [dict(case="per_seed", variant=f"{case}/{setting}/seed{i}", metric=metric, value=v, unit=unit,
                      backend=backend, note=note) for i, v in enumerate(values)]
    if gap:
        a, b = gap
        m, lo, hi = paired_difference(per_setting[a], per_setting[b])
        what = f"{a} - {b}, mean over {len(per_setting[a])} paired seeds, Student-t 95% interval; " + note
        rows += [dict(case=case, variant=a, metric=f"{metric}_gap", value=m, unit=unit, backend=backend, note=what),
                 dict(case=case, variant=a, metric=f"{metric}_gap_ci_low", value=None if np.isnan(lo) else lo,
                      unit=unit, backend=backend, note="2.5%", status="ok" if not np.isnan(lo) else "skipped"),
                 dict(case=case, variant=a, metric=f"{metric}_gap_ci_high", value=None if np.isnan(hi) else hi,
                      unit=unit, backend=backend, note="97.5%", status="ok" if not np.isnan(hi) else "skipped")]
    return rows


def test_corrective_noise(lab, pf_record, pf_device):
    settings = {"renoise_on": (True, True), "renoise_off": (False, True), "renoise_off_rescale_only": (False, False)}
    bc, fid, kid, div = ({s: [] for s in settings} for _ in range(4))
    for seed in lab["seeds"]:
        for setting, (renoise, keep) in settings.items():
            clips, f, _ = _samples(lab, "sp", seed, pf_device, renoise, keep)
            bc[setting].append(block_correlation(clips)["value"])
            fid[setting].append(f.fid)
            kid[setting].append(f.kid_blocked)
            div[setting].append(f.diversity_ratio)
    note = _note(lab, "spatial_pyramid (1:2:1) sampled with the jump's corrective noise on / off (variance kept, "
                      "blocks correlated) / off rescale-only (variance 1/4 too)")
    backend = lab["evaluator"].config.extractor
    rows = (_summarise("corrective_noise", "block_correlation", {s: bc[s] for s in settings}, note,
                       "highpass-2x2-neighbour-corr", ("renoise_off", "renoise_on"))
            + _summarise("corrective_noise", "fid", {s: fid[s] for s in settings}, note + _bias_note(lab), backend,
                         ("renoise_off", "renoise_on"))
            + _summarise("corrective_noise", "kid_blocked", {s: kid[s] for s in settings}, note, backend,
                         ("renoise_off", "renoise_on"))
            + _summarise("corrective_noise", "diversity_ratio", {s: div[s] for s in settings}, note, backend, None))
    jumps = _jump_block_correlation(lab["real"], lab["preset"].stages, lab["seeds"][0])
    rows += [dict(case="corrective_noise", variant=setting, metric="jump_block_correlation", value=value, unit="",
                  backend="highpass-2x2-neighbour-corr",
                  note="held-out clips at the end of the half-resolution stage jumped to the start of the full one "
                       "(the mechanism, before any model step)") for setting, value in jumps.items()]
    real_bc = block_correlation(lab["real"])["value"]
    rows.append(dict(case="corrective_noise", variant="real_data", metric="block_correlation", value=real_bc, unit="",
                     backend="highpass-2x2-neighbour-corr", note="held-out clips (reference, ~0)"))
    pf_record(rows)
    gap = paired_difference(bc["renoise_off"], bc["renoise_on"])
    print(f"corrective noise: block correlation off - on {gap[0]:.3f} [{gap[1]:.3f}, {gap[2]:.3f}]; jumps {jumps}")
    assert jumps["renoise_off"] > jumps["renoise_on"] + MIN_BLOCK_CORRELATION_GAP, jumps


def _jump_block_correlation(clips, num_stages: int, seed: int) -> dict[str, float]:
    """Block correlation right after the last jump (on the training path's x_e of the half-resolution stage)."""
    from reference_model.pyramid import noise_pyramid, renoise, stage_endpoints, stage_windows
    windows = stage_windows(num_stages)
    gen = torch.Generator().manual_seed(seed)
    levels = noise_pyramid(torch.randn(clips.shape, generator=gen), num_stages)
    _, x_end = stage_endpoints(clips.float(), levels[1], 1, num_stages, windows)  # (N, C, T, H/2, W/2)
    out = {}
    for setting, corrective, keep in (("renoise_on", True, True), ("renoise_off", False, True),
                                      ("renoise_off_rescale_only", False, False)):
        jumped = renoise(x_end, windows[0][0], generator=torch.Generator().manual_seed(seed + 1),
                         corrective=corrective, keep_variance=keep)
        out[setting] = block_correlation(jumped)["value"]
    return out


def _frame_similarity(feats: torch.Tensor, frames: int) -> float:
    """Mean cosine similarity of consecutive frames' features; feats (N * T, D), clip-major."""
    f = torch.nn.functional.normalize(feats.double(), dim=1).reshape(-1, frames, feats.shape[1])  # (N, T, D)
    return float((f[:, 1:] * f[:, :-1]).sum(-1).mean())


def test_attention_and_temporal_pyramid(lab, pf_record, pf_device):
    preset, frames = lab["preset"], lab["preset"].frames
    backend = lab["evaluator"].config.extractor
    sim, fid, kid, div, train_s = ({n: [] for n in ("causal", "bidirectional", "full_history")} for _ in range(5))
    for seed in lab["seeds"]:
        for name in sim:
            _, f, feats = _samples(lab, name, seed, pf_device)
            sim[name].append(_frame_similarity(feats, frames))
            fid[name].append(f.fid)
            kid[name].append(f.kid_blocked)
            div[name].append(f.diversity_ratio)
            train_s[name].append(_trained(lab, name, seed, pf_device)[2])
    note = _note(lab, "pyramid_ar vs pyramid_ar_bidirectional")
    rows = (_summarise("attention", "frame_similarity", {k: sim[k] for k in ("causal", "bidirectional")},
                       note + f"; cosine similarity of consecutive frames' {backend} features",
                       backend, ("causal", "bidirectional"), unit="fraction")
            + _summarise("attention", "fid", {k: fid[k] for k in ("causal", "bidirectional")}, note + _bias_note(lab),
                         backend, None)
            + _summarise("attention", "kid_blocked", {k: kid[k] for k in ("causal", "bidirectional")}, note, backend,
                         ("causal", "bidirectional"))
            + _summarise("attention", "diversity_ratio", {k: div[k] for k in ("causal", "bidirectional")}, note,
                         backend, None))
    rows.append(dict(case="attention", variant="causal", metric="fvd", value=None, unit="", backend="i3d",
                     status="skipped", note=f"not measured: clips have {frames} frames (FVD needs >= {FVD_MIN_FRAMES})")
                if frames < FVD_MIN_FRAMES else
                dict(case="attention", variant="causal", metric="fvd", value=None, unit="", backend="i3d",
                     status="skipped", note="not measured at this scale (FVD on 16-frame clips: pfbench fvd)"))
    tnote = _note(lab, "pyramid_ar (compressed history) vs ar_full_history (full-resolution history)")
    rows += _summarise("temporal_pyramid", "fid", {"pyramid_ar": fid["causal"], "ar_full_history": fid["full_history"]},
                       tnote + _bias_note(lab), backend, ("pyramid_ar", "ar_full_history"))
    rows += _summarise("temporal_pyramid", "kid_blocked",
                       {"pyramid_ar": kid["causal"], "ar_full_history": kid["full_history"]}, tnote, backend,
                       ("pyramid_ar", "ar_full_history"))
    rows += _summarise("temporal_pyramid", "diversity_ratio",
                       {"pyramid_ar": div["causal"], "ar_full_history": div["full_history"]}, tnote, backend, None)
    rows += _summarise("temporal_pyramid", "train_time_s",
                       {"pyramid_ar": train_s["causal"], "ar_full_history": train_s["full_history"]}, tnote,
                       "measured", None, unit="s")
    rows += [dict(case="temporal_pyramid", variant=v, metric="mean_tokens_per_sample",
                  value=mean_tokens_per_sample(variant, preset), unit="tokens", backend="analytic", note=tnote)
             for v, variant in (("pyramid_ar", "pyramid_ar"), ("ar_full_history", "ar_full_history"))]
    pf_record(rows)
    vshape, mshape = VideoShape.from_preset(preset), ModelShape.from_preset(preset)
    pairs = {v: variant_counts(v, vshape, mshape).attention_pairs for v in ("pyramid_ar", "pyramid_ar_bidirectional")}
    assert pairs["pyramid_ar_bidirectional"] > pairs["pyramid_ar"], pairs  # certain: history attends forward too
    assert mean_tokens_per_sample("pyramid_ar", preset) < mean_tokens_per_sample("ar_full_history", preset)


def _full_only(pf_preset, what: str) -> None:
    if pf_preset.name in ("smoke", "cpu") and not pf_preset.ablations_full:
        pytest.skip(f"{what} trains more models per seed: --set {FULL_KEY}=true (or $PFBENCH_ABLATIONS_FULL=1) "
                    f"runs it on preset {pf_preset.name}")


def test_stage_mix_and_time_conditioning(lab, pf_record, pf_device, pf_preset):
    """Off by default on the smoke and cpu presets (runtime): config key ablations.full."""
    _full_only(pf_preset, "the stage-mix and time-conditioning ablation")
    preset = lab["preset"]
    backend = lab["evaluator"].config.extractor
    losses = {n: {k: [] for k in range(preset.stages)} for n in ("sp", "sp_uniform")}
    fid = {"sp": [], "sp_global_t": []}
    for seed in lab["seeds"]:
        for name in losses:
            model, _, _ = _trained(lab, name, seed, pf_device)
            for k, v in heldout_stage_losses("spatial_pyramid", model, lab["real"], lab["labels"], preset.stages,
                                             seed=seed + 2, device=pf_device).items():
                losses[name][k].append(v)
        for name in fid:
            fid[name].append(_samples(lab, name, seed, pf_device)[1].fid)
    note = _note(lab, "spatial_pyramid trained with stage mix 1:2:1 vs uniform (low:mid:full)")
    rows = []
    for k in range(preset.stages):
        rows += _summarise("stage_mix", f"heldout_loss_stage{k}",
                           {"mix_1:2:1": losses["sp"][k], "mix_uniform": losses["sp_uniform"][k]},
                           note + f"; held-out clips, every sample at stage {k} (0 = full resolution), fixed noise",
                           "mse", ("mix_1:2:1", "mix_uniform"))
    rows += [dict(case="stage_mix", variant=f"mix_{mix}", metric="train_flops_per_sample",
                  value=train_flops_per_sample("spatial_pyramid", preset, mix), unit="FLOP", backend="analytic",
                  note=note) for mix in ("1:2:1", "uniform")]
    tnote = _note(lab, "spatial_pyramid trained and sampled with the stage remap (public code) vs global time t")
    rows += _summarise("time_conditioning", "fid", {"stage_remap": fid["sp"], "global_t": fid["sp_global_t"]},
                       tnote, backend, ("global_t", "stage_remap"))
    pf_record(rows)
    flops = {r["variant"]: r["value"] for r in rows if r["metric"] == "train_flops_per_sample"}
    assert flops["mix_uniform"] > flops["mix_1:2:1"], flops  # certain: uniform has more full-resolution samples


def test_num_stages(lab, pf_record, pf_device, pf_preset):
    """K in {1, 2, 3, 4} (spatial_pyramid, uniform stage mix; K = 1 is full-resolution flow matching): FID and the
    analytic training cost per sample. Off by default on the smoke and cpu presets (runtime): config key ablations.full."""
    _full_only(pf_preset, "the K sweep")
    names = {1: "sp_K1", 2: "sp_K2", 3: "sp_uniform", 4: "sp_K4"}
    fid = {k: [] for k in names}
    for seed in lab["seeds"]:
        for k, name in names.items():
            fid[k].append(_samples(lab, name, seed, pf_device)[1].fid)
    note = _note(lab, "spatial_pyramid with K stages, uniform stage mix (K = 1: full-resolution flow matching)")
    backend = lab["evaluator"].config.extractor
    rows = _summarise("num_stages", "fid", {f"K{k}": v for k, v in fid.items()}, note, backend, ("K1", "K3"))
    rows += [dict(case="num_stages", variant=f"K{k}", metric="train_flops_per_sample",
                  value=train_flops_per_sample("spatial_pyramid", _preset(lab, name), "uniform"), unit="FLOP",
                  backend="analytic", note=note) for k, name in names.items()]
    pf_record(rows)
    cost = [r["value"] for r in rows if r["metric"] == "train_flops_per_sample"]
    assert cost == sorted(cost, reverse=True), cost  # certain: more stages, cheaper samples
