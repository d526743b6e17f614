"""FVD/KVD of every reference variant's own samples, on clips long enough for the I3D (the vbench suite's rows).

The quality experiments train on short clips (3-8 latent frames, sized for minutes on a CPU), and the Kinetics-400
I3D of FVD needs at least 9 frames (the protocol: 16). So FVD gets its own, equally controlled experiment: every
variant trains from the same seeded initial weights on the same ``fvd_frames``-frame clips (the experiment shape's
data: real crops with a held-out split at the cpu preset, procedural elsewhere) for ``vbench_steps`` steps of
``fvd_batch`` clips, samples ``fvd_clips`` clips, and is scored against as many held-out clips that no variant
trained on. Models this briefly trained make FVDs of a smoke-to-small scale: compare them only at equal N (every
row says its N), never with published FVDs.
"""
from __future__ import annotations

import time

from pfbench.config import Preset
from pfbench.experiments import (clips_to_videos, experiment_clips, experiment_shape, initial_model, sample_clips,
                                 train_variant)

CASE = "variant_fvd"


def fvd_preset(base: Preset) -> tuple[object, Preset]:
    """(experiment shape, the preset of the FVD experiment: the shape's clip with ``fvd_frames`` frames)."""
    shape = experiment_shape(base)
    return shape, shape.preset(base).replace(frames=max(shape.fvd_frames, 1))


def variant_fvd_rows(base: Preset, seed: int, device: str = "cpu", variants=None) -> list[dict]:
    """Tidy ``fvd`` / ``kvd`` rows (case ``variant_fvd``) for each variant; "skipped" rows that say why when the
    preset's shape has no FVD experiment (``fvd_frames == 0``: the smoke preset) or the I3D weights are missing."""
    from pfbench.metrics.fvd import EXTRACTOR, FvdConfig, fvd_rows
    from reference_model.variants import VARIANTS

    variants = list(variants or VARIANTS)
    shape, preset = fvd_preset(base)
    if shape.fvd_frames == 0:
        why = (f"skipped: preset {base.name} keeps its quality experiments to {shape.frames}-frame clips (the I3D "
               f"needs >= 9, the protocol 16); `--pf-preset cpu` or gpu trains 16-frame variants for FVD")
        return [{"case": CASE, "variant": v, "metric": m, "value": None, "unit": "", "backend": EXTRACTOR,
                 "status": "skipped", "note": why} for v in variants for m in ("fvd", "kvd")]
    t0 = time.perf_counter()
    data = experiment_clips(shape, preset, shape.fvd_train_clips, seed, "train")
    reference = clips_to_videos(experiment_clips(shape, preset, shape.fvd_clips, seed, "heldout")[0])
    init = initial_model(preset, seed, device)
    sets, seconds = {}, {}
    for variant in variants:
        t = time.perf_counter()
        model = train_variant(variant, preset, init, data, steps=shape.vbench_steps, batch_size=shape.fvd_batch,
                              seed=seed, lr=shape.lr, device=device).model
        clips = sample_clips(variant, model, preset, shape.fvd_clips, shape.schedule, seed=seed + 1, device=device)
        sets[variant], seconds[variant] = clips_to_videos(clips), time.perf_counter() - t
    rows = fvd_rows(sets, reference, CASE, FvdConfig(device=device, seed=seed))
    source = "real crops (held-out split)" if shape.data == "real" else "procedural clips (held-out seed)"
    for r in rows:
        setting = (f"{preset.frames}x{preset.height}x{preset.width} clips of {source}; each variant trained "
                   f"{shape.vbench_steps} steps x {shape.fvd_batch} clips from one init, "
                   f"{seconds[r['variant']]:.0f} s train + sample; {time.perf_counter() - t0:.0f} s in all")
        r["note"] = f"{r['note']}; {setting}" if r["note"] else setting
    return rows
