"""`pfbench flops`: FLOPs per variant for pfbench's presets, or for any architecture card and pyramid schedule.

Without --arch: training and sampling FLOPs per variant and GPU-hours for the paper's training plan.
With --arch NAME|FILE --video FxHxW: the card's FLOPs for one video under --steps N (one resolution) or
--stages F1xH1xW1,...,FxHxW --steps n1,...,nK (a spatial or spatio-temporal pyramid; --stages K halves the
size K - 1 times, each stage rounded to the nearest size the card's VAE and patch divide), one guidance branch
unless --cfg; --counted adds FlopCounterMode's count of the card's diffusers transformer beside the card's.
Every "use ..." in an error is an option as it can be typed.
"""
from __future__ import annotations

import json
import math

from pfbench.accounting.plan import paper_plan_summary
from pfbench.accounting.training_path import format_readings, plan_readings
from pfbench.cli.commands.tokens import DEFAULT_STAGE_MIX, add_shape_arguments, build_report, resolve_shape


def register(sub) -> None:
    p = sub.add_parser("flops", help="FLOPs per variant and GPU-hour arithmetic; any architecture card with --arch")
    add_shape_arguments(p)
    p.add_argument("--arch", default=None, help="architecture card: a shipped name (see --list-arch) or a .json path")
    p.add_argument("--video", default=None, help="FRAMESxHEIGHTxWIDTH in pixels with --arch (default: the card's "
                                                 "native video)")
    p.add_argument("--steps", default=None, help="Euler steps: N, or n1,...,nK for K stages (default: the card's)")
    p.add_argument("--cfg", action="store_true", help="count both classifier-free guidance branches")
    p.add_argument("--counted", action="store_true", help="with --arch: also count the FLOPs of the card's diffusers "
                                                          "transformer with FlopCounterMode (meta device, no "
                                                          "weights), per stage and per term beside the card's")
    p.add_argument("--weights", default=None, metavar="DIR", help="with --counted: count the config of this local "
                   "diffusers model folder (config.json + safetensors; pickles are refused) instead of the card's")
    p.add_argument("--list-arch", action="store_true", help="list the shipped architecture cards and exit")
    p.set_defaults(func=run)


def _int_list(text: str, option: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"{option} {text!r}: expected integers separated by commas, e.g. 20,20,10") from None
    return values


def parse_stages(text):
    """None | 'K' -> K | 'F1xH1xW1,...' -> list of (F, H, W)."""
    from pfbench.accounting.card_flops import parse_fhw
    if text is None:
        return None
    if str(text).isdigit():
        return int(text)
    return [parse_fhw(part, "--stages") for part in str(text).split(",")]


def card_report(args) -> dict:
    """The --arch JSON: schedule breakdown, params, training FLOPs; the AR pyramid for pyramid_ar cards."""
    from pfbench.accounting.arch_cards import load_card
    from pfbench.accounting.card_flops import ar_card_report, build_schedule, parse_fhw, schedule_report
    card = load_card(args.arch)
    video = parse_fhw(args.video) if args.video else (card.native_frames, card.native_height, card.native_width)
    _check_video(card, video, "--video")
    stages = parse_stages(args.stages)
    if isinstance(stages, list):
        for i, shape in enumerate(stages):
            _check_video(card, shape, f"--stages (stage {i + 1})", stages)
    k = stages if isinstance(stages, int) else (len(stages) if stages else 1)
    steps = _int_list(args.steps, "--steps") if args.steps else (
        (card.native_steps,) if k == 1 else (math.ceil(card.native_steps / k),))
    schedule = build_schedule(card, video, stages, steps)
    mix = args.stage_mix or DEFAULT_STAGE_MIX
    report = schedule_report(card, schedule, cfg=args.cfg, stage_mix=mix)
    report["video"] = "x".join(map(str, video))
    report["stages"] = ",".join(f"{s.frames}x{s.height}x{s.width}" for s in schedule)
    report["steps"] = [s.steps for s in schedule]
    if isinstance(stages, int):
        report["stage_sizes"] = _rounding_notes(card, video, stages)
    if len(schedule) > 1:
        full = schedule_report(card, build_schedule(card, video, None, (card.native_steps,)), cfg=args.cfg)
        report["full_resolution_flops"] = full["inference_flops"]
        report["saving"] = 1 - report["inference_flops"] / full["inference_flops"]
        report["assumptions"]["saving"] = (f"against {card.native_steps} full-resolution steps at "
                                           f"{report['video']} (the card's default steps")
    if args.counted:
        from pfbench.models.counting import counted_stages
        try:
            counted = counted_stages(card, report["per_stage"], report["guidance_branches"], args.weights)
        except ImportError as err:       # diffusers missing: the message says how to install it
            raise ValueError(f"--counted: {err}") from None
        for st, c in zip(report["per_stage"], counted.pop("counted_per_stage")):
            st.update(c)
        report.update(counted)
        report["counted_vs_analytic"] = report["counted_inference_flops"] / report["inference_flops"] - 1
    elif args.weights:
        raise ValueError("--weights DIR is read by --counted: add --counted (or drop --weights)")
    if not args.steps:
        report["assumptions"]["steps"] = f"card default: {card.native_steps} steps" + (
            f" split over {k} stages" if k > 1 else "")
    spatial_only = stages is None or isinstance(stages, int)     # the temporal pyramid halves space only
    if card.training == "pyramid_ar" and spatial_only:
        ar_k = k if k > 1 else 3
        first = tuple(s.steps for s in schedule) if k > 1 else (math.ceil(card.native_steps / ar_k),) * ar_k
        later_total = card.native_steps_later_frames or sum(first)
        later = (math.ceil(later_total / ar_k),) * ar_k
        report["autoregressive"] = ar_card_report(card, video, ar_k, first, later, mix, args.cfg)
    return report


def _check_video(card, shape, option: str, stage_list=None) -> None:
    """Refuse a video (or one stage of a --stages list) that the card's VAE / patch do not divide; the fix is the
    option with the nearest valid sizes, as it can be typed."""
    from pfbench.accounting.card_flops import nearest_video, stage_geometry
    try:
        stage_geometry(card, *shape, option)
    except ValueError as err:
        def fix(s):
            return "x".join(map(str, nearest_video(card, *s)))
        use = f"--stages {','.join(fix(s) for s in stage_list)}" if stage_list else f"--video {fix(shape)}"
        raise ValueError(f"{err}; use {use}") from None


def _rounding_notes(card, video, k: int) -> list[str]:
    """One line per stage: its size, and how the exact halving was rounded to a size that divides."""
    from pfbench.accounting.card_flops import pyramid_stage_sizes
    notes = []
    for i, st in enumerate(pyramid_stage_sizes(card, video, k)):
        f, h, w = st["shape"]
        eh, ew = st["exact"]
        exact = f"{eh:g}x{ew:g}"
        how = ("exact" if (h, w) == (eh, ew) else
               f"{exact} rounded to the nearest multiples of {st['unit'][0]}x{st['unit'][1]} (VAE x patch)")
        notes.append(f"stage {i + 1}: {f}x{h}x{w} ({how})")
    return notes


def _print_card(report: dict) -> None:
    print(f"{report['arch']}: video {report['video']}, params {report['params'] / 1e9:.3f}B, "
          f"{report['guidance_branches']} guidance branch(es) (1 MAC = 2 FLOPs)")
    print(f"{'stage':>5s} {'frames':>6s} {'latent':>12s} {'tokens':>9s} {'attn pairs':>12s} {'steps':>5s} "
          f"{'FLOPs/step':>11s} {'FLOPs':>11s}")
    for i, s in enumerate(report["per_stage"]):
        latent = f"{s['latent_frames']}x{s['latent_height']}x{s['latent_width']}"
        print(f"{i + 1:>5d} {s['frames']:>6d} {latent:>12s} {s['tokens']:>9,d} {s['attention_pairs']:>12.3e} "
              f"{s['steps']:>5d} {s['flops_per_step']:>11.3e} {s['flops']:>11.3e}")
    for note in report.get("stage_sizes", []):
        print(f"  {note}")
    if "counted_inference_flops" in report:
        print(f"counted ({report['counted_by']}):")
        for i, s in enumerate(report["per_stage"]):
            diff = ", ".join(f"{k} {v:+.3e}" for k, v in s["difference_terms"].items() if v and k != "total")
            print(f"  stage {i + 1}: card {s['flops_per_step']:.4e} vs counted {s['counted_flops_per_step']:.4e} "
                  f"FLOPs/step ({s['counted_flops_per_step'] / s['flops_per_step'] - 1:+.4%}); per term: "
                  f"{diff or 'all equal'}")
        print(f"  inference FLOPs per video: card {report['inference_flops']:.4e}, counted "
              f"{report['counted_inference_flops']:.4e} ({report['counted_vs_analytic']:+.4%})")
    if "saving" in report:
        print(f"saving: {report['saving']:.1%} {report['assumptions']['saving']}: "
              f"{report['full_resolution_flops']:.3e} FLOPs)")
    print(f"inference FLOPs per video: {report['inference_flops']:.3e}; training FLOPs per sample: "
          f"{report['train_flops_per_sample']:.3e} ({report['train_layout']})")
    if "autoregressive" in report:
        ar = report["autoregressive"]
        print(f"autoregressive ({ar['stages']} stages): pyramid_ar {ar['pyramid_ar']['inference_flops']:.3e}, "
              f"ar_full_history {ar['ar_full_history']['inference_flops']:.3e} FLOPs per video")
    print("counted: " + "; ".join(report["assumptions"]["counted"]))
    print("not counted: " + "; ".join(report["assumptions"]["not_counted"]))


def run(args) -> int:
    if args.list_arch:
        from pfbench.accounting.arch_cards import load_card, shipped_card_names
        for name in shipped_card_names():
            card = load_card(name)
            print(f"{name:24s} {card.description}")
        return 0
    if args.arch:
        ignored = [f for f, v in (("--preset", args.preset), ("--resolution", args.resolution),
                                  ("--seconds", args.seconds), ("--fps", args.fps), ("--model", args.model),
                                  ("--vae-spatial", args.vae_spatial), ("--vae-temporal", args.vae_temporal),
                                  ("--patch-size", args.patch_size)) if v is not None]
        if ignored:
            raise ValueError(f"{', '.join(ignored)} describe pfbench's own model, not a card: with --arch give the "
                             "video as --video FRAMESxHEIGHTxWIDTH (pixels), or drop --arch")
        report = card_report(args)
        if args.json:
            print(json.dumps(report, indent=2))
        else:
            _print_card(report)
        return 0
    if args.video or args.steps or args.cfg or args.counted or args.weights:
        raise ValueError("--video, --steps, --cfg, --counted and --weights describe a card's schedule: add --arch "
                         "NAME (see --list-arch)")
    report = build_report(args)
    _, _, model, _ = resolve_shape(args)
    report["paper_plan"] = paper_plan_summary(model)
    report["paper_plan_readings"] = plan_readings(model)  # one-frame vs the public code's training sample
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{report['source']}: {report['latent_frames']} latent frames x {report['tokens_per_frame']} tokens, "
          f"model {report['model']} (1 MAC = 2 FLOPs, training = 3x forward)")
    print(f"{'variant':26s} {'train FLOPs/sample':>19s} {'counted':>11s} {'saved':>7s} {'sample FLOPs/video':>19s}")
    for name, row in report["variants"].items():
        counted = row.get("counted", {}).get("train_flops_per_sample", float("nan"))
        print(f"{name:26s} {row['train_flops_per_sample']:>19.3e} {counted:>11.3e} {row['train_flops_reduction']:>6.1%} "
              f"{row['sample_flops_per_video']:>19.3e}")
    plan = report["paper_plan"]
    print(f"\npaper plan ({plan['plan']}): pyramid_ar {plan['pyramid_ar_flops']:.3e} FLOPs in "
          f"{plan['reported_gpu_hours']:,.0f} {plan['gpu']}-hours -> implied MFU {plan['implied_mfu']:.1%}; "
          f"full_sequence would need {plan['full_sequence_flops']:.3e} FLOPs = "
          f"{plan['full_sequence_gpu_hours']:,.0f} {plan['gpu']}-hours at that MFU ({plan['flops_ratio']:.1f}x)")
    print("assumptions: " + "; ".join(plan["assumptions"]))
    print("\n" + format_readings(report["paper_plan_readings"]))
    return 0
