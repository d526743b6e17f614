"""Experiment shapes: the presets' own shapes are sized for the throughput suites, far too slow to train several
variants to a measurable FID within minutes, so :func:`experiment_shape` derives a smaller, documented shape from
the preset (RGB pixels as latents, no VAE, so samples are scored directly).

Equalisation (FID convergence): as in the paper's Fig. 7 ablation, every variant trains with **equal tokens per
batch**; a pyramid variant sees fewer tokens per sample, so it takes proportionally more clips per step
(:func:`equal_token_batches`). The x axis is cumulative expected analytic training FLOPs.
"""
from __future__ import annotations

from dataclasses import dataclass

from pfbench.accounting.flops import variant_counts
from pfbench.accounting.shapes import ModelShape, VideoShape
from pfbench.core.config import Preset
from reference_model.variants import SamplingSchedule

NUM_CLASSES = 4          # the procedural set's motion directions; models are class-conditional


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
    # variant FVD (pfbench.benchmarks.vbench.variant_fvd): frames per clip (0: not measured), clips per set, batch, training clips
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

    Variant FVD (pfbench.benchmarks.vbench.variant_fvd) trains each variant again on 16-frame clips of the same H x W: cpu 40 steps
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


