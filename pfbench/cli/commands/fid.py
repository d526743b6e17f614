"""`pfbench fid REAL FAKE`: FID (with an interval over videos) and KID between two folders of images/videos."""
from __future__ import annotations

import contextlib
import io
import json
import sys

from pfbench.cli.args import (
    device,
    existing_path_str,
    int_range,
    non_negative_int,
    positive_float,
    positive_int,
    seed,
)
from pfbench.core.errors import EXIT_OK, EXIT_PARTIAL
from pfbench.metrics.fid.compute import FidConfig, compute_fid, frames_from_path
from pfbench.metrics.fid.extractors import EXTRACTORS, OFFLINE_EXTRACTOR, TRAINED_EXTRACTOR, default_extractor
from pfbench.metrics.small_sample import BIAS_RULE, ProjectionDimError, supported_dim

FEATURES_DIM_HELP = ("also compute the Fréchet distance on features projected to K dimensions (1 <= K <= min(N, D)); "
                     "the projection (PCA) is fitted on the reference (REAL) set only. At small N pick K <= N / "
                     f"{BIAS_RULE}, the dimension the N supports")


def features_dim_error(err: ProjectionDimError, what: str) -> ValueError:
    """The one-line refusal of --features-dim K > min(N, D), naming the option and the allowed range."""
    return ValueError(f"--features-dim {err.dim}: must be between 1 and min(N, D) = {err.limit} (N = {err.n} "
                      f"reference {what}, D = {err.d} features); at this N pick K <= {supported_dim(err.n)}")


def bias_caveat(n: int, d: int, what: str, kernel: str) -> str:
    """The caveat line printed when a Fréchet distance of ``n`` samples in ``d`` dimensions is bias-dominated."""
    return (f"caveat: N = {n} < {BIAS_RULE} x D = {BIAS_RULE * d}: the Fréchet distance is bias-dominated; "
            f"read {kernel}_blocked / diversity (N: {what} of the smaller set; or --features-dim {supported_dim(n)})")


def register(subparsers) -> None:
    p = subparsers.add_parser("fid", help="FID/KID between two folders of images or videos (frames pooled)",
                              description=__doc__.splitlines()[0])
    p.add_argument("real", type=existing_path_str, help="folder (or file) of reference images / videos")
    p.add_argument("fake", type=existing_path_str, help="folder (or file) of generated images / videos")
    p.add_argument("--extractor", default=None,
                   help=f"feature extractor (default {TRAINED_EXTRACTOR} when installed, else the last fallback "
                        f"{OFFLINE_EXTRACTOR}: random features): {', '.join(EXTRACTORS)}")
    p.add_argument("--inception-weights", default=None, type=existing_path_str,
                   help="local weights for inception-v3-compat (or set PFBENCH_INCEPTION_WEIGHTS)")
    p.add_argument("--extractor-weights", default=None, type=existing_path_str,
                   help="local weights for efficientnet-lite0 (.pth), clip-* (OpenAI JIT file) or pfbench-hf-vision "
                        "(transformers folder)")
    p.add_argument("--fps", type=positive_float, default=None, help="sample video frames at this fps")
    p.add_argument("--max-frames-per-video", type=positive_int, default=None,
                   help="the first N frames of each video at most (default: all)")
    p.add_argument("--batch-size", type=positive_int, default=64,
                   help="frames per feature-extraction batch (default 64; the result does not depend on it)")
    p.add_argument("--device", default="cpu", type=device, help="cpu, cuda or cuda:N (default cpu)")
    p.add_argument("--resamples", "--bootstrap", dest="bootstrap", type=non_negative_int, default=100, metavar="N",
                   help="half-samples of the videos for the FID interval (0: off; default 100)")
    p.add_argument("--kid-subsets", type=positive_int, default=100,
                   help="random subsets the KID is averaged over (default 100)")
    p.add_argument("--features-dim", type=int_range(1, None, "a projection dimension"), default=None, metavar="K",
                   help=FEATURES_DIM_HELP)
    p.add_argument("--seed", type=seed, default=0, help="seed of the half-samples and the KID subsets (default 0)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bars on stderr (they are off anyway when stderr is not a terminal)")
    p.set_defaults(func=run)


def run(args) -> int:
    """Under torchrun each rank extracts features of its slice of the frames; rank 0 prints the result."""
    from pfbench.core import distributed

    with distributed.session(args.device) as ctx:
        if ctx.is_main:
            return _run(args)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            _run(args)
        return 0


def _run(args) -> int:
    args.extractor = args.extractor or default_extractor()
    if args.extractor not in EXTRACTORS:
        raise ValueError(f"unknown extractor {args.extractor!r}: choose one of {', '.join(EXTRACTORS)}")
    weights = args.inception_weights if args.extractor == "inception-v3-compat" else args.extractor_weights
    config = FidConfig(extractor=args.extractor, weights_path=weights, batch_size=args.batch_size,
                       device=args.device, kid_subsets=args.kid_subsets, bootstrap=args.bootstrap, seed=args.seed,
                       features_dim=args.features_dim, progress=not args.no_progress)
    size = EXTRACTORS[args.extractor].input_size
    real, err_real = frames_from_path(args.real, size, args.fps, args.max_frames_per_video, not args.no_progress)
    fake, err_fake = frames_from_path(args.fake, size, args.fps, args.max_frames_per_video, not args.no_progress)
    try:
        result = compute_fid(real, fake, config).to_dict()
    except ProjectionDimError as err:
        raise features_dim_error(err, "frames") from None
    result["errors"] = err_real + err_fake
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        ci = "" if result["fid_ci_low"] is None else \
            f"  debiased {result['fid_debiased']:.4f} [{result['fid_ci_low']:.4f}, {result['fid_ci_high']:.4f}] " \
            f"({result['confidence']:.0%}, over {result['interval_over']}: {result['n_real_clips']} / " \
            f"{result['n_fake_clips']} videos)"
        print(f"FID {result['fid']:.4f}{ci}")
        if result["kid_mean"] is not None:
            print(f"KID {result['kid_mean']:.6f} +- {result['kid_std']:.6f} (subset size {result['kid_subset_size']})")
        if result["kid_blocked"] is not None:
            ci = "" if result["kid_blocked_se"] is None else \
                f" [{result['kid_blocked_low']:.6f}, {result['kid_blocked_high']:.6f}] ({result['confidence']:.0%}, " \
                f"over clips)"
            print(f"KID clip-blocked {result['kid_blocked']:.6f}{ci}")
        pr = "" if result["precision"] is None else \
            f"; precision {result['precision']:.3f}, recall {result['recall']:.3f}"
        div = "n/a" if result["diversity_ratio"] is None else f"{result['diversity_ratio']:.3f}"
        print(f"diversity ratio {div} (tr Cov fake / tr Cov real){pr}")
        if result["fid_projected"] is not None:
            print(f"FID in {result['projected_dim']} dims (PCA fitted on the real set) {result['fid_projected']:.4f}")
        if result["bias_dominated"]:
            print(bias_caveat(min(result["n_real"], result["n_fake"]), result["feature_dim"], "frames", "kid"))
        kind = "trained" if result["trained_extractor"] else "LAST FALLBACK, random features"
        print(f"extractor {result['extractor']} ({kind}; {'comparable' if result['comparable'] else 'not comparable'} "
              f"with published numbers); n_real {result['n_real']}, n_fake {result['n_fake']}; {result['resize']}")
    for err in result["errors"]:
        print(f"pfbench fid: error: {err}", file=sys.stderr)
    return EXIT_PARTIAL if result["errors"] else EXIT_OK
