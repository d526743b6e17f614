"""Train -> sample -> evaluate, the recipe every quality experiment shares (FID convergence, ablations,
VBench-style scores): one initial model for every compared variant, snapshots along training, seeded sampling,
and FID/KID of the samples against the held-out clips.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from pfbench.core.config import Preset
from pfbench.experiments.shapes import NUM_CLASSES, ConvergenceScale
from pfbench.metrics.fid.compute import FidConfig, FidResult, FrameDataset, extract_features, metrics_from_features
from pfbench.metrics.fid.extractors import EXTRACTORS, default_extractor
from pfbench.train.loop import TrainConfig, TrainResult, model_for_preset, train
from reference_model.variants import SamplingSchedule, sample_video


def initial_model(preset: Preset, seed: int, device: str = "cpu"):
    """The common initial weights every compared variant starts from (class-conditional)."""
    torch.manual_seed(seed)
    return model_for_preset(preset, num_classes=NUM_CLASSES).to(device)


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
        from pfbench.core.safe_load import safe_torch_load
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
    """Train a copy of ``init_model`` with pfbench.train.loop.train (AdamW, warm-up, clipping, label dropout) on ``data``.

    With ``run_dir`` training is a run folder (checkpoints every 10% of the steps, log.csv): an interrupted
    experiment resumes there, and ``losses`` is the whole curve from the log. One random stream per batch
    (stream_chunk = batch): these runs are single-process."""
    from pfbench.train.loop import RunConfig
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


def shared_run_name(variant: str, preset: Preset, *, seed: int, steps: int, batch_size: int, lr: float,
                    stage_mix: str, data: str, eval_steps: tuple[int, ...] = ()) -> str:
    """The training run folder's name for exactly this training (variant, preset, initial-weights seed, steps,
    batch, lr, stage mix, data, snapshot steps): two suites that need the same model get the same folder, so the
    second resumes the first's finished run instead of training again; any difference gives another folder (and
    pfbench.train refuses a folder whose stored identity differs)."""
    import hashlib
    import json

    key = json.dumps(dict(variant=variant, preset=preset.to_dict(), seed=seed, steps=steps, batch_size=batch_size,
                          lr=lr, stage_mix=stage_mix, data=data, eval_steps=list(eval_steps)), sort_keys=True,
                     default=str)
    return f"{variant}-seed{seed}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def logged_wall(folder: Path | None) -> dict[int, float]:
    """{step: cumulative training seconds} from a run folder's log.csv, whichever process trained it (covers the
    steps done before a resume, and a run another suite trained)."""
    if folder is None or not (Path(folder) / "log.csv").exists():
        return {}
    from pfbench.train.rundir import read_log

    return {int(r["step"]): float(r["wall_s"]) for r in read_log(Path(folder) / "log.csv") if r.get("kind") == "train"}


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


def fid_config(scale: ConvergenceScale, device: str = "cpu", seed: int = 0) -> FidConfig:
    """EfficientNet-Lite0 features when installed (else the named random-feature fallback)."""
    return FidConfig(extractor=default_extractor(), device=device, bootstrap=scale.fid_bootstrap, kid_subsets=50,
                     seed=seed)


def ci_half_width(result: FidResult) -> float | None:
    if result.fid_ci_low is None or result.fid_ci_high is None:
        return None
    return (result.fid_ci_high - result.fid_ci_low) / 2.0



