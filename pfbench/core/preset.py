"""The in-memory form of a run's config: frozen dataclasses. The values live in TOML files (pfbench/core/presets/,
read by pfbench.core.config); the keys a file may set are pfbench.core.config_keys's table."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class VideoSpec:
    """A pixel-space video and the latent/token geometry the paper's VAE and patchify give it.

    The causal 3D VAE compresses 8x in space and 8x in time (first frame kept):
    F pixel frames -> 1 + (F - 1) // 8 latent frames; 2x2 patches make tokens.
    """

    width: int
    height: int
    seconds: float
    fps: int = 24
    vae_spatial: int = 8
    vae_temporal: int = 8
    patch_size: int = 2
    latent_channels: int = 16

    @property
    def pixel_frames(self) -> int:
        return int(round(self.seconds * self.fps)) + 1

    @property
    def latent_frames(self) -> int:
        return 1 + (self.pixel_frames - 1) // self.vae_temporal

    @property
    def latent_height(self) -> int:
        return self.height // self.vae_spatial

    @property
    def latent_width(self) -> int:
        return self.width // self.vae_spatial

    @property
    def tokens_per_frame(self) -> int:
        return (self.latent_height // self.patch_size) * (self.latent_width // self.patch_size)


@dataclass(frozen=True)
class Preset:
    """Everything a run needs to know about shapes, sizes and budgets.

    Latent shapes are given directly (channels, frames, height, width) for the trainable presets;
    ``video`` is set for the paper-size presets, whose latent shape follows from it.
    """

    name: str
    model: str                      # key of reference_model.dit.DIT_PRESETS
    channels: int                   # latent channels C
    frames: int                     # latent frames T
    height: int                     # latent height H
    width: int                      # latent width W
    patch_size: int = 2
    stages: int = 3                 # K
    stage_mix: tuple[float, ...] = (1.0, 2.0, 1.0)   # low : mid : full, as in the public code
    gamma: float = -1.0 / 3.0       # stage-window parameter: one value for training and sampling
    time_conditioning: str = "stage"  # time fed to pyramid stages: 'stage' remap (public code) or 'global' true t
    batch_size: int = 2
    num_classes: int = 0
    device: str = "cpu"
    dtype: str = "float32"
    train_steps: int = 20
    steps_first_frame: tuple[int, ...] = (20, 20, 20)
    steps_later_frames: tuple[int, ...] = (10, 10, 10)
    full_sequence_steps: int = 30
    benchmark_rounds: int = 3
    warmup_rounds: int = 1
    generate_rounds: int = 3        # timed rounds of a whole generation (after one warm-up)
    generate_batch: int | None = None  # videos per timed generation; None: batch_size
    token_budget: int | None = None  # tokens per training step (token-budget packing); None: batch_size clips
    memory_budget_gib: float = 4.0  # RAM budget for the CPU memory sweep; GPUs use their capacity
    memory_max_frames: int = 64
    fid_samples: int = 64
    video: VideoSpec | None = None
    trainable: bool = True
    description: str = ""
    model_factory: str = ""         # "package.module:function" building the velocity model; "" = reference DiT
    data_sources: tuple[str, ...] = ()  # video files / folders to train and evaluate on; () = built-in clips
    data_fps: float = 0.0           # resample those videos to this fps first (0: native)
    data_frame_stride: int = 1      # every k-th frame inside a clip
    data_heldout_fraction: float = 0.25  # last part of every video: the FID/FVD reference split
    fid_budget_s: float = 0.0       # FID-convergence time budget (0: its scale's)
    ablations_full: bool = False    # the stage-mix / time-conditioning / K ablations also at smoke/cpu sizes
    vbench_speed_full: bool = False  # the VBench-style metric timing also at 1080p on CPU
    ar_window: int = 2              # the per-frame cost suite's history window W (frames)
    data_latents: str = ""
    clip_frames: int = 0            # frames of the quality experiments' clips (0: their scale's)
    clip_height: int = 0            # their height (0: the scale's)
    clip_width: int = 0             # their width (0: the scale's)          # folder of precomputed latents (safetensors + manifest.json); "" = none

    @property
    def tokens_per_frame(self) -> int:
        return (self.height // self.patch_size) * (self.width // self.patch_size)

    def replace(self, **changes) -> "Preset":
        return dataclasses.replace(self, **changes)

    def sampling_schedule(self, **changes):
        """The preset's sampling schedule (steps, gamma, time conditioning); ``changes`` replace any field of
        reference_model.variants.SamplingSchedule."""
        from reference_model.variants import SamplingSchedule

        fields = dict(full_sequence_steps=self.full_sequence_steps, steps_first_frame=self.steps_first_frame,
                      steps_later_frames=self.steps_later_frames, gamma=self.gamma,
                      time_conditioning=self.time_conditioning)
        return SamplingSchedule(**{**fields, **changes})

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
