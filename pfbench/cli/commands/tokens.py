"""`pfbench tokens`: sequence lengths and attention pairs per variant for a video shape, analytic and counted."""
from __future__ import annotations

import json

from pfbench.accounting.counted import all_variant_counts, token_reduction
from pfbench.accounting.shapes import ModelShape, VideoShape
from pfbench.cli.args import check_divisible, int_range, positive_float, resolution
from pfbench.core.config import PRESETS, VideoSpec, get_preset
from pfbench.core.errors import UsageError
from reference_model.dit import DIT_PRESETS, dit_config
from reference_model.variants import SamplingSchedule


def add_shape_arguments(p) -> None:
    """Options shared by `tokens` and `flops`: a preset, or a video described in pixels."""
    p.add_argument("--preset", default=None, help=f"one of {', '.join(PRESETS)} (default paper-768p-10s "
                                                  "unless --resolution is given)")
    p.add_argument("--resolution", default=None, type=resolution, help="384p | 768p | WIDTHxHEIGHT (pixels)")
    p.add_argument("--seconds", type=positive_float, default=None, help="clip length (with --resolution; default 5)")
    p.add_argument("--fps", type=int_range(1, 1000, "a frame rate"), default=None,
                   help="frame rate (with --resolution; default 24)")
    p.add_argument("--stages", default=None, help="pyramid stages K (default: the preset's, 3 with --resolution); "
                                                  "`flops --arch` also takes a list F1xH1xW1,...,FxHxW, lowest "
                                                  "resolution first")
    small = int_range(1, 64, "a positive factor")
    p.add_argument("--vae-spatial", type=small, default=None, help="VAE spatial compression (with --resolution; "
                                                                   "default 8)")
    p.add_argument("--vae-temporal", type=small, default=None, help="VAE temporal compression (with --resolution; "
                                                                    "default 8)")
    p.add_argument("--patch-size", type=small, default=None, help="patch size (with --resolution; default 2)")
    p.add_argument("--stage-mix", default=None, help="'uniform' or low:...:full weights, e.g. 1:2:1 (default: the "
                                                     f"preset's, {DEFAULT_STAGE_MIX} with --resolution or --arch)")
    p.add_argument("--model", default=None, help=f"backbone size for FLOPs: {', '.join(DIT_PRESETS)}")
    p.add_argument("--no-counted", action="store_true", help="skip the counted twins (faster at huge sizes)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


DEFAULT_STAGES, DEFAULT_STAGE_MIX = 3, "1:2:1"  # without a preset (--resolution, --arch): the public code's


def stage_count(text) -> int | None:
    """--stages as a number of spatial stages K (None when not given: the preset's, else DEFAULT_STAGES)."""
    if text is None or isinstance(text, int):
        return text
    if not str(text).isdigit() or int(text) < 1:
        raise ValueError(f"--stages {text!r}: give a number of stages K >= 1 (a list of FxHxW stages needs "
                         "`pfbench flops --arch NAME --video FxHxW`)")
    return int(text)


def resolve_shape(args) -> tuple[dict, VideoShape, ModelShape, SamplingSchedule]:
    """(description, latent shape, model shape, schedule) from --preset or --resolution/--seconds/--fps."""
    args.stages = stage_count(args.stages)
    pixel_flags = {"--seconds": args.seconds, "--fps": args.fps, "--vae-spatial": args.vae_spatial,
                   "--vae-temporal": args.vae_temporal, "--patch-size": args.patch_size}
    if not args.resolution and any(v is not None for v in pixel_flags.values()):
        given = ", ".join(k for k, v in pixel_flags.items() if v is not None)
        raise UsageError(f"{given} describe(s) a video given with --resolution; preset "
                         f"{args.preset or 'paper-768p-10s'} fixes its shape: add --resolution WxH or drop {given}")
    if args.resolution and args.preset:
        raise UsageError(f"--preset {args.preset} and --resolution both describe the video: give one of them")
    if args.resolution:
        w, h = args.resolution
        seconds, fps = args.seconds or 5.0, args.fps or 24
        vae_s, vae_t, patch = args.vae_spatial or 8, args.vae_temporal or 8, args.patch_size or 2
        k = args.stages or DEFAULT_STAGES
        check_divisible(w, h, vae_s * patch * 2 ** (k - 1), "--resolution",
                        f"VAE {vae_s} x patch {patch} x 2^(K-1) for K = {k} stages")
        video = VideoSpec(width=w, height=h, seconds=seconds, fps=fps, vae_spatial=vae_s, vae_temporal=vae_t,
                          patch_size=patch)
        shape = VideoShape.from_video(video, k, args.stage_mix or DEFAULT_STAGE_MIX)
        model_name = args.model or "sd3-medium-like"
        channels, schedule = video.latent_channels, SamplingSchedule()
        desc = {"source": f"{w}x{h} {seconds:g} s at {fps} fps", "pixel_frames": video.pixel_frames}
    else:
        preset = get_preset(args.preset or "paper-768p-10s")
        # the preset's own stages and mix unless given (argparse defaults are None, so `or` can fall back)
        shape = VideoShape(preset.frames, preset.height, preset.width, preset.patch_size, args.stages or preset.stages,
                           args.stage_mix or preset.stage_mix)
        model_name, channels = args.model or preset.model, preset.channels
        schedule = preset.sampling_schedule()
        desc = {"source": f"preset {preset.name}", "preset": preset.name}
        if preset.video:
            desc["pixel_frames"] = preset.video.pixel_frames
    if (shape.height // shape.patch_size) % (2 ** (shape.stages - 1)) or \
            (shape.width // shape.patch_size) % (2 ** (shape.stages - 1)):
        unit = (video.vae_spatial if args.resolution else 1) * shape.patch_size * 2 ** (shape.stages - 1)
        raise ValueError(f"latent {shape.height}x{shape.width} cannot be halved {shape.stages - 1} times into whole "
                         f"patches: choose a {'resolution' if args.resolution else 'latent size'} divisible by {unit} "
                         "(VAE x patch x 2^(K-1)) or fewer stages")
    model = ModelShape.from_config(dit_config(model_name, in_channels=channels, patch_size=shape.patch_size))
    desc.update({"latent_frames": shape.frames, "latent_height": shape.height, "latent_width": shape.width,
                 "tokens_per_frame": shape.tokens_at_level(0), "stages": shape.stages,
                 "stage_mix": shape.stage_mix if isinstance(shape.stage_mix, str) else list(shape.stage_mix),
                 "model": model_name})
    return desc, shape, model, schedule


def build_report(args) -> dict:
    desc, shape, model, schedule = resolve_shape(args)
    variants = all_variant_counts(shape, model, schedule, counted=not args.no_counted)
    full = variants["full_sequence"]
    for row in variants.values():
        row["max_tokens_reduction"] = token_reduction(full["max_tokens"], row["max_tokens"])
        row["train_flops_reduction"] = token_reduction(full["train_flops_per_sample"], row["train_flops_per_sample"])
    return {**desc, "variants": variants}


def register(sub) -> None:
    p = sub.add_parser("tokens", help="tokens and attention pairs per variant (analytic and counted)")
    add_shape_arguments(p)
    p.set_defaults(func=run)


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if value < 1e6 else f"{value:.3e}"


def run(args) -> int:
    report = build_report(args)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{report['source']}: {report['latent_frames']} latent frames x {report['tokens_per_frame']} tokens "
          f"({report['stages']} stages, mix {report['stage_mix']})")
    print(f"{'variant':26s} {'max tokens':>12s} {'counted':>12s} {'mean tokens':>12s} {'attn pairs':>12s} "
          f"{'counted':>12s} {'max saved':>9s}")
    for name, row in report["variants"].items():
        counted = row.get("counted", {})
        print(f"{name:26s} {_fmt(row['max_tokens']):>12s} {_fmt(counted.get('max_tokens', float('nan'))):>12s} "
              f"{_fmt(row['mean_tokens']):>12s} {_fmt(row['attention_pairs']):>12s} "
              f"{_fmt(counted.get('attention_pairs', float('nan'))):>12s} {row['max_tokens_reduction']:>8.1%}")
    return 0
