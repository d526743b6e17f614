"""Dataclass configs and named presets: what a run measures, at which shapes, on which device.

Presets are data. A preset names a backbone size from ``reference_model.dit.DIT_PRESETS`` and a
latent video shape. The ``paper-*`` presets describe the paper's real video sizes for the
shape-only suites (token and FLOP accounting); they are never trained or sampled on a CPU.
"""
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


RESOLUTIONS = {"384p": (640, 384), "768p": (1280, 768)}


def parse_resolution(text: str) -> tuple[int, int]:
    """'384p' | '768p' | 'WxH' -> (width, height)."""
    if text in RESOLUTIONS:
        return RESOLUTIONS[text]
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError as err:
        raise ValueError(
            f"unknown resolution {text!r}: use one of {sorted(RESOLUTIONS)} or WIDTHxHEIGHT, e.g. 1280x768"
        ) from err
    return w, h


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
    token_budget: int | None = None  # tokens per training step (token-budget packing); None: batch_size clips
    memory_budget_gib: float = 4.0  # RAM budget for the CPU memory sweep; GPUs use their capacity
    memory_max_frames: int = 64
    fid_samples: int = 64
    video: VideoSpec | None = None
    trainable: bool = True
    description: str = ""

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


def _paper(name: str, resolution: str, seconds: float) -> Preset:
    w, h = RESOLUTIONS[resolution]
    video = VideoSpec(width=w, height=h, seconds=seconds)
    return Preset(
        name=name, model="sd3-medium-like", channels=video.latent_channels, frames=video.latent_frames,
        height=video.latent_height, width=video.latent_width, patch_size=video.patch_size, stages=3,
        batch_size=1, device="cuda", dtype="bfloat16", video=video, trainable=False,
        description=f"the paper's {resolution} {seconds:g} s clip at 24 fps (shape-only accounting)",
    )


PRESETS: dict[str, Preset] = {
    "smoke": Preset(
        name="smoke", model="tiny", channels=3, frames=3, height=16, width=16, batch_size=2,
        train_steps=4, steps_first_frame=(2, 2, 2), steps_later_frames=(1, 1, 1), full_sequence_steps=4,
        benchmark_rounds=1, warmup_rounds=1, generate_rounds=2, memory_budget_gib=1.0, memory_max_frames=8,
        fid_samples=16, description="seconds on a laptop CPU: every code path once, numbers not meaningful",
    ),
    "cpu": Preset(
        name="cpu", model="small", channels=3, frames=8, height=32, width=32, batch_size=4,
        train_steps=60, steps_first_frame=(4, 4, 4), steps_later_frames=(2, 2, 2), full_sequence_steps=8,
        benchmark_rounds=3, warmup_rounds=1, generate_rounds=1, memory_budget_gib=1.0, memory_max_frames=48,
        fid_samples=64,
        description="the default run: minutes on 2 CPU cores, shapes large enough that attention matters",
    ),
    # Both gpu presets: bf16 on the SD3-Medium-shaped backbone; token budget = one full-resolution clip
    # (full_sequence trains one clip a step, the pyramid variants pack as many samples as fit); see README.
    "gpu-smoke": Preset(
        name="gpu-smoke", model="sd3-medium-smoke", channels=16, frames=8, height=24, width=40, batch_size=16,
        device="cuda", dtype="bfloat16", token_budget=2048, train_steps=10, steps_first_frame=(4, 4, 4),
        steps_later_frames=(2, 2, 2), full_sequence_steps=8, benchmark_rounds=5, warmup_rounds=2,
        generate_rounds=3, memory_max_frames=32, fid_samples=16,
        description="any CUDA GPU, every suite in about 2 minutes: 4 SD3-Medium-wide blocks, 8 x 24 x 40 latents",
    ),
    "gpu": Preset(
        name="gpu", model="sd3-medium-like", channels=16, frames=16, height=48, width=80, batch_size=16,
        device="cuda", dtype="bfloat16", token_budget=16384, train_steps=50, benchmark_rounds=10, warmup_rounds=3,
        generate_rounds=3, memory_max_frames=64, fid_samples=256,
        description="384p 5 s latents (16 x 48 x 80) on the SD3-Medium-like backbone, bf16, 16,384-token steps",
    ),
    "paper-384p-5s": _paper("paper-384p-5s", "384p", 5),
    "paper-768p-5s": _paper("paper-768p-5s", "768p", 5),
    "paper-768p-10s": _paper("paper-768p-10s", "768p", 10),
}

DEFAULT_PRESET = "cpu"


def get_preset(name: str) -> Preset:
    """Look a preset up by name; the error lists the valid names."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}") from None


def preset_from_dict(d: dict) -> Preset:
    """A Preset from its ``to_dict()`` form (as stored in a run's config.json); unknown keys are refused."""
    d = dict(d)
    fields = {f.name for f in dataclasses.fields(Preset)}
    unknown = sorted(set(d) - fields)
    if unknown:
        raise ValueError(f"stored preset has unknown field(s) {', '.join(unknown)}: the run was written by another "
                         f"pfbench version; rerun it, or drop those keys from its config.json")
    if d.get("video"):
        d["video"] = VideoSpec(**d["video"])
    return Preset(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


# Environment overrides: {key: environment variable}. `pfbench run` reads them once, when the run starts, and
# records them in config.json ("overrides"; a Preset field is also applied in the resolved "preset"); the suites read
# the stored config, so a resume, the report and the plots see the values the run was measured with.
OVERRIDE_ENV = {"memory_budget_gib": "PFBENCH_MEMORY_BUDGET_GIB",   # Preset field: the CPU memory sweep's budget
                "ar_window": "PFBENCH_AR_WINDOW",                   # the per-frame suite's history window W (frames)
                "benchmark_rounds": "PFBENCH_BENCHMARK_ROUNDS"}     # Preset field: timed rounds per benchmark


def _positive(var: str, raw: str, kind: type, example: str):
    try:
        value = kind(raw)
    except ValueError:
        value = None
    if value is None or not 0 < value < float("inf"):
        raise ValueError(f"{var}={raw!r} is not a positive {'whole ' if kind is int else ''}number: set it to e.g. "
                         f"{example}, or unset it")
    return value


def env_overrides(environ) -> dict:
    """{key: value} from the OVERRIDE_ENV variables set in ``environ``; a bad value is a ValueError naming it."""
    parse = {"memory_budget_gib": (float, "0.5"), "ar_window": (int, "2"), "benchmark_rounds": (int, "5")}
    out = {}
    for key, var in OVERRIDE_ENV.items():
        raw = environ.get(var)
        if raw is not None and raw.strip():
            out[key] = _positive(var, raw.strip(), *parse[key])
    return out


def apply_overrides(preset: Preset, overrides: dict) -> Preset:
    """The preset with the ``overrides`` that are Preset fields applied (the others travel in config.json only)."""
    fields = {f.name for f in dataclasses.fields(Preset)}
    changes = {k: v for k, v in overrides.items() if k in fields}
    return preset.replace(**changes) if changes else preset


def suite_config(config_path: str | None, preset_name: str, environ) -> dict:
    """What a suite runs with: the run's stored config.json when ``config_path`` is given (``pfbench run`` passes
    it), else ``preset_name``'s preset with the environment overrides (a suite run by hand with pytest)."""
    if config_path:
        import json
        from pathlib import Path

        path = Path(config_path)
        try:
            config = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise ValueError(f"--pf-config {path}: cannot read the run's config.json ({err}); point at a run "
                             f"folder's config.json or drop --pf-config (and $PFBENCH_CONFIG)") from None
        if not isinstance(config.get("preset"), dict):
            raise ValueError(f"--pf-config {path}: no resolved 'preset' in it; point at a config.json written by "
                             f"`pfbench run`")
        config.setdefault("overrides", {})
        return config
    overrides = env_overrides(environ)
    return {"preset": apply_overrides(get_preset(preset_name), overrides).to_dict(), "overrides": overrides}
