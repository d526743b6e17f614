"""Training-based experiments use run folders: an interrupted experiment continues where it stopped, with its
snapshots and its whole loss curve, and ends where an uninterrupted one does."""
import pytest
import torch

from pfbench.core.config import get_preset
from pfbench.experiments.clips import procedural_clips
from pfbench.experiments.recipe import Snapshots, initial_model, train_variant
from pfbench.experiments.shapes import experiment_shape

EVALS = (2, 4, 6)


@pytest.fixture(scope="module")
def lab():
    shape = experiment_shape(get_preset("smoke"))
    preset = shape.preset(get_preset("smoke"))
    return preset, initial_model(preset, 0), procedural_clips(preset, 8, 0)


def _train(lab, steps, folder, snaps):
    preset, init, data = lab
    return train_variant("spatial_pyramid", preset, init, data, steps=steps, batch_size=2, seed=0, callback=snaps,
                         run_dir=folder)


def test_interrupted_experiment_resumes_with_snapshots_and_losses(lab, tmp_path):
    straight = Snapshots(EVALS)
    full = _train(lab, 6, None, straight)
    folder = tmp_path / "train" / "fid" / "spatial_pyramid"
    _train(lab, 4, folder, Snapshots(EVALS, folder=folder))  # the attempt that was interrupted after step 4
    snaps = Snapshots(EVALS, folder=folder)
    resumed = _train(lab, 6, folder, snaps)
    snaps.complete()
    assert resumed.resumed_from == 4 and set(snaps.weights) == set(EVALS)
    assert resumed.losses == pytest.approx(full.losses, rel=1e-6, abs=1e-7)  # the whole curve, from log.csv
    for step in EVALS:
        assert snaps.window_loss[step] == pytest.approx(straight.window_loss[step], rel=1e-6)
        for k, v in straight.weights[step].items():
            torch.testing.assert_close(snaps.weights[step][k], v, rtol=1e-5, atol=1e-6)
