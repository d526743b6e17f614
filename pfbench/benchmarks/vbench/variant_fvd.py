"""Every reference variant's own samples, for the vbench suite's quality rows: VBench-style scores and FVD/KVD.

The FID and ablation experiments train on short clips (3-8 latent frames, sized for minutes on a CPU), and the
Kinetics-400 I3D of FVD needs at least 9 frames (the protocol: 16). So the variants' samples come from their own,
equally controlled experiment: every variant trains from the same seeded initial weights on the same
``fvd_frames``-frame clips (the experiment shape's data: real crops with a held-out split at the cpu preset,
procedural elsewhere) for ``vbench_steps`` steps of ``fvd_batch`` clips and samples ``fvd_clips`` clips; FVD/KVD
compare them with as many held-out clips that no variant trained on, and the VBench-style dimensions score the same
clips. A preset whose shape has no FVD experiment (``fvd_frames == 0``: smoke) trains on its short procedural clips
for the scores only, and its FVD rows are "skipped" with the reason. Models this briefly trained give numbers of a
smoke-to-small scale: compare FVDs only at equal N (every row says its N), never with published FVDs.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from pfbench.core.config import Preset
from pfbench.experiments.clips import clips_to_videos, experiment_clips, procedural_clips
from pfbench.experiments.recipe import initial_model, sample_clips, train_variant
from pfbench.experiments.shapes import experiment_shape

CASE = "variant_fvd"


@dataclass
class VariantSamples:
    """Each variant's sampled videos (uint8 (T, H, W, 3)), the held-out reference (None: no FVD experiment) and
    a sentence saying how they were made."""

    sets: dict[str, list[np.ndarray]]
    reference: list[np.ndarray] | None
    setting: str


def fvd_preset(base: Preset) -> tuple[object, Preset]:
    """(experiment shape, the preset of the variant-sample experiment: ``fvd_frames`` frames, or the shape's own)."""
    shape = experiment_shape(base)
    return shape, shape.preset(base).replace(frames=shape.fvd_frames or shape.frames)


def variant_samples(base: Preset, seed: int, device: str = "cpu", variants=None) -> VariantSamples:
    """Train every variant from one init on the experiment's clips and sample it (see the module docstring)."""
    from reference_model.variants import VARIANTS

    shape, preset = fvd_preset(base)
    t0 = time.perf_counter()
    if shape.fvd_frames:
        data = experiment_clips(shape, preset, shape.fvd_train_clips, seed, "train")
        reference = clips_to_videos(experiment_clips(shape, preset, shape.fvd_clips, seed, "heldout")[0])
        batch, n = shape.fvd_batch, shape.fvd_clips
        source = "real crops, held-out split" if shape.data == "real" else "procedural clips, held-out seed"
    else:
        data, reference = procedural_clips(preset, shape.dataset_size, seed), None
        batch, n, source = shape.ablation_batch, shape.vbench_clips, "procedural clips"
    init = initial_model(preset, seed, device)
    sets = {}
    for variant in variants or VARIANTS:
        model = train_variant(variant, preset, init, data, steps=shape.vbench_steps, batch_size=batch,
                              seed=seed, lr=shape.lr, device=device).model
        sets[variant] = clips_to_videos(sample_clips(variant, model, preset, n, shape.schedule, seed=seed + 1,
                                                     device=device))
    setting = (f"{n} clips per variant of {preset.frames}x{preset.height}x{preset.width} ({source}); each variant "
               f"trained {shape.vbench_steps} steps x {batch} clips from one init ({time.perf_counter() - t0:.0f} s "
               f"for all)")
    return VariantSamples(sets, reference, setting)


def variant_fvd_rows(samples: VariantSamples, base: Preset, seed: int, device: str = "cpu") -> list[dict]:
    """Tidy ``fvd`` / ``kvd`` rows (case ``variant_fvd``) of each variant's samples against the held-out reference;
    "skipped" rows that say why without an FVD experiment (the smoke preset) or without the I3D weights."""
    from pfbench.metrics.fvd.compute import EXTRACTOR, FvdConfig, fvd_rows

    if samples.reference is None:
        shape = experiment_shape(base)
        why = (f"skipped: preset {base.name} keeps its quality experiments to {shape.frames}-frame clips (the I3D "
               f"needs >= 9, the protocol 16); `--pf-preset cpu` or gpu trains 16-frame variants for FVD")
        return [{"case": CASE, "variant": v, "metric": m, "value": None, "unit": "", "backend": EXTRACTOR,
                 "status": "skipped", "note": why} for v in samples.sets for m in ("fvd", "kvd")]
    rows = fvd_rows(samples.sets, samples.reference, CASE, FvdConfig(device=device, seed=seed))
    for r in rows:
        r["note"] = f"{r['note']}; {samples.setting}" if r["note"] else samples.setting
    return rows
