"""`pfbench flops`: training and sampling FLOPs per variant, and GPU-hours for the paper's training plan."""
from __future__ import annotations

import json

from pfbench.accounting import paper_plan_summary
from pfbench.commands.tokens import add_shape_arguments, build_report, resolve_shape


def register(sub) -> None:
    p = sub.add_parser("flops", help="FLOPs per variant and GPU-hour arithmetic for the paper's plan")
    add_shape_arguments(p)
    p.set_defaults(func=run)


def run(args) -> int:
    report = build_report(args)
    _, _, model, _ = resolve_shape(args)
    report["paper_plan"] = paper_plan_summary(model)
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
    return 0
