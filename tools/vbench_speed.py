"""Time one offline VBench-style dimension on one video file the way `pfbench eval-videos` scores it (chunks of 16,
decoding one chunk ahead, after an untimed warm-up on the first chunk: pfbench.metrics.vbench.speed): wall seconds, CPU
seconds of all threads, the real-time factors and peak RSS.

    python tools/vbench_speed.py CLIP.mp4 motion_smoothness [--config '{"motion_flow_side": null}'] [--profile]

The CPU-bound real-time factor (video seconds / (CPU seconds / cores)) is what idle cores would allow at most; on a
shared machine wall time gives the lower bound. suites/test_vbench.py records the same numbers per run.
"""
from __future__ import annotations

import argparse
import json
import os
import resource


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("video")
    ap.add_argument("dimensions", help="comma-separated dimension names")
    ap.add_argument("--config", default="{}", help="JSON of VBenchConfig fields, e.g. '{\"decision_flow_side\": 128}'")
    ap.add_argument("--profile", action="store_true", help="print cProfile's top functions (main thread)")
    ap.add_argument("--no-warmup", action="store_true", help="time the first chunk's one-time costs too")
    args = ap.parse_args()
    from pfbench.metrics.vbench.speed import score_file_timed

    if args.profile:
        import cProfile
        prof = cProfile.Profile()
        prof.enable()
    run = score_file_timed(args.video, args.dimensions.split(","), json.loads(args.config), not args.no_warmup)
    if args.profile:
        import pstats
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(15)
    wall, cpu, n, fps = run["seconds"], run["cpu_seconds"], run["frames"], run["fps"]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB (Linux), the warm-up included
    cores, seconds = os.cpu_count() or 1, n / fps
    print(f"{os.path.basename(args.video)} {args.dimensions}: {n} frames ({seconds:.2f} s of video), wall {wall:.2f} s "
          f"= {seconds / wall:.2f}x real time, CPU {cpu:.2f} s -> at most {seconds / (cpu / cores):.2f}x on {cores} "
          f"idle cores, peak RSS {peak / 2 ** 20:.2f} GiB; load average {os.getloadavg()[0]:.1f}; "
          + ", ".join(f"{k}={v['value']} [{v['backend']}]" for k, v in run["scores"].items()))


if __name__ == "__main__":
    main()
