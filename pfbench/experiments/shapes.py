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
class ConvergenceScale:
    """The FID-convergence experiment (and the ablations, which share its models) at one preset's scale: every
    variant of one seed shares data, tokens per batch, optimiser, LR schedule and initial weights; seeds change the
    initial weights and the sample stream."""
    name: str
    model: str
    frames: int
    height: int
    width: int
    batch_size: int                   # full_sequence clips per step; pyramid variants: equal tokens per batch
    steps: int
    eval_fractions: tuple[float, ...]
    seeds: int
    dataset_size: int
    heldout_clips: int
    sample_clips: int
    fid_bootstrap: int
    schedule: SamplingSchedule
    budget_s: float
    budget_clock: str = "cpu"         # "cpu": process CPU seconds; "wall": wall seconds (CUDA)
    lr: float = 1e-3
    data: str = "real"

    @property
    def eval_steps(self) -> tuple[int, ...]:
        return tuple(sorted({max(1, round(f * self.steps)) for f in self.eval_fractions}))

    def eval_priority(self) -> list[int]:
        """Evaluation steps, most needed first: the end, the middle, a quarter, three quarters, then the rest."""
        rank = {1.0: 0, 0.5: 1, 0.4: 1, 0.25: 2, 0.2: 2, 0.75: 3, 0.6: 3, 0.8: 4}
        by_fraction = sorted(self.eval_fractions, key=lambda f: (rank.get(round(f, 6), 5), -f))
        out = []
        for f in by_fraction:
            s = max(1, round(f * self.steps))
            if s not in out:
                out.append(s)
        return out

    def preset(self, base: Preset) -> Preset:
        """The run preset at this scale (RGB pixels as latents, class-conditional)."""
        return base.replace(name=f"{base.name}/{self.name}", model=self.model, channels=3, frames=self.frames,
                            height=self.height, width=self.width, batch_size=self.batch_size, num_classes=NUM_CLASSES)

    def seed_list(self, base_seed: int) -> list[int]:
        return [base_seed + 1000 * i for i in range(self.seeds)]


@dataclass(frozen=True)
class ExperimentShape:
    """The quality experiments at one preset's scale: the clip shape and backbone they share, and each
    experiment's budget (the one table is :func:`experiment_shape`)."""

    name: str
    model: str                        # key of reference_model.dit.DIT_PRESETS
    frames: int                       # latent (= pixel) frames per clip
    height: int
    width: int
    batch_size: int                   # clips per step of full_sequence (pyramid variants: equal tokens)
    dataset_size: int                 # training clips
    schedule: SamplingSchedule        # sampler steps of the scored samples (full sequence; per pyramid stage)
    ablation_batch: int               # clips per step of the sample-scoring runs (vbench, ar_per_frame)
    vbench_steps: int                 # training steps of each variant for the VBench-style sample scores
    vbench_clips: int                 # clips scored per variant
    convergence: ConvergenceScale     # the FID-convergence experiment and the ablations at this scale
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
    """The table below (:func:`_table_shape`); with ``data.sources`` every experiment trains and evaluates on crops of
    those videos (``data = "real"``), and ``data.clip_frames/height/width`` replace the clip of every experiment."""
    import dataclasses

    shape = _table_shape(preset)
    if preset.data_sources:
        shape = dataclasses.replace(shape, data="real", convergence=dataclasses.replace(shape.convergence, data="real"))
    clip = {k: v for k, v in (("frames", preset.clip_frames), ("height", preset.clip_height),
                              ("width", preset.clip_width)) if v}
    if clip:
        geometry = {"frames": shape.frames, "height": shape.height, "width": shape.width, **clip}
        name = f"{shape.name.rsplit('-', 1)[0]}-{geometry['frames']}x{geometry['height']}x{geometry['width']}"
        shape = dataclasses.replace(shape, name=name, **clip,
                                    convergence=dataclasses.replace(shape.convergence, name=name, **clip))
    return shape


def _table_shape(preset: Preset) -> ExperimentShape:
    """The one table of experiment scales: for a preset, the clip shape and backbone of its quality experiments and
    the budget of each.

    | preset | model | clip (T x H x W) | data | scored samples: steps x clips, sampler (full / per stage) |
    |---|---|---|---|---|
    | smoke, gpu-smoke | tiny | 3 x 16 x 16 | procedural | 8 x 2 clips, 6 / 2 steps |
    | cpu | tiny | 4 x 16 x 16 | real crops | 40 x 3 clips, 12 / 4 steps |
    | otherwise | small | 8 x 32 x 32 | procedural | 200 x 4 clips, 30 / 10 steps |

    FID convergence and the ablations (``convergence``; data: procedural at smoke, real crops otherwise):

    | preset | baseline batch | steps | evaluations (fraction of the run) | seeds | samples / held-out clips | sampler | budget |
    |---|---|---|---|---|---|---|---|
    | smoke, gpu-smoke | 4 | 8 | 0.5, 1 | 2 | 4 / 8 | 4 / 2 | 120 CPU-s |
    | cpu | 4 | 24 | 0.125, 0.25, 0.5, 0.75, 1 | 3 | 6 / 12 | 8 / 3 | 600 CPU-s |
    | otherwise | 32 | 1500 | 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1 | 3 | 128 / 256 | 20 / 8 | 1200 s wall |

    Variant FVD (pfbench.benchmarks.vbench.variant_fvd) trains each variant again on 16-frame clips of the same
    H x W: cpu 40 steps x 4 clips, 6 samples vs 6 held-out clips; otherwise 200 x 16, 64 vs 64; smoke none (3-frame
    clips only).

    tiny = 2 blocks of width 64; small = 4 blocks of width 256 (reference_model.dit.DIT_PRESETS); patch 2,
    3 pyramid stages, stage mix 1:2:1.
    """
    if not preset.trainable:
        raise ValueError(f"preset {preset.name!r} is shape-only (not trainable): run the quality experiments "
                         "with --pf-preset smoke, cpu or gpu")
    if preset.name in ("smoke", "gpu-smoke"):  # gpu-smoke: every suite in ~2 minutes on any CUDA GPU
        geometry = dict(name="smoke-tiny-3x16x16", model="tiny", frames=3, height=16, width=16)
        return ExperimentShape(**geometry, batch_size=4, dataset_size=32,
                               schedule=SamplingSchedule(6, (2, 2, 2), (2, 2, 2)), ablation_batch=4, vbench_steps=8,
                               vbench_clips=2,
                               convergence=ConvergenceScale(
                                   **geometry, batch_size=4, steps=8, eval_fractions=(0.5, 1.0), seeds=2,
                                   dataset_size=32, heldout_clips=8, sample_clips=4, fid_bootstrap=10,
                                   schedule=SamplingSchedule(4, (2, 2, 2), (2, 2, 2)), budget_s=120.0,
                                   data="procedural"))
    if preset.name == "cpu":
        geometry = dict(name="cpu-tiny-4x16x16", model="tiny", frames=4, height=16, width=16)
        return ExperimentShape(**geometry, batch_size=8, dataset_size=256,
                               schedule=SamplingSchedule(12, (4, 4, 4), (4, 4, 4)), ablation_batch=8, vbench_steps=40,
                               vbench_clips=3, data="real", fvd_frames=16, fvd_clips=6, fvd_batch=4,
                               fvd_train_clips=64,
                               convergence=ConvergenceScale(
                                   **geometry, batch_size=4, steps=24, eval_fractions=(0.125, 0.25, 0.5, 0.75, 1.0),
                                   seeds=3, dataset_size=256, heldout_clips=12, sample_clips=6, fid_bootstrap=20,
                                   schedule=SamplingSchedule(8, (3, 3, 3), (3, 3, 3)), budget_s=600.0))
    geometry = dict(name=f"{preset.name}-small-8x32x32", model="small", frames=8, height=32, width=32)
    return ExperimentShape(**geometry, batch_size=16, dataset_size=1024,
                           schedule=SamplingSchedule(30, (10, 10, 10), (10, 10, 10)), ablation_batch=16,
                           vbench_steps=200, vbench_clips=4, fvd_frames=16, fvd_clips=64, fvd_batch=16,
                           fvd_train_clips=1024,
                           convergence=ConvergenceScale(
                               **geometry, batch_size=32, steps=1500,
                               eval_fractions=(0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0), seeds=3, dataset_size=2048,
                               heldout_clips=256, sample_clips=128, fid_bootstrap=50,
                               schedule=SamplingSchedule(20, (8, 8, 8), (8, 8, 8)), budget_s=1200.0,
                               budget_clock="wall"))


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


