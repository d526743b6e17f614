"""Time one offline VBench-style dimension on one video file the way `pfbench eval-videos` scores it (chunks of 16,
decoding one chunk ahead): wall seconds, CPU seconds of all threads, the real-time factors and peak RSS.

    python tools/vbench_speed.py CLIP.mp4 motion_smoothness [--config '{"motion_flow_side": null}'] [--profile]

The CPU-bound real-time factor (video seconds / (CPU seconds / cores)) is what idle cores would allow at most; on a
shared machine wall time gives the lower bound. suites/test_vbench.py records the same numbers per run.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("video")
    ap.add_argument("dimensions", help="comma-separated dimension names")
    ap.add_argument("--config", default="{}", help="JSON of VBenchConfig fields, e.g. '{\"decision_flow_side\": 128}'")
    ap.add_argument("--profile", action="store_true", help="print cProfile's top functions (main thread)")
    args = ap.parse_args()
    from pfbench.metrics.vbench import MetricContext, VBenchConfig, score_stream
    from pfbench.video_io import iter_chunks, probe_video

    fps = probe_video(args.video).fps
    usage = lambda: resource.getrusage(resource.RUSAGE_SELF)  # noqa: E731
    r0, t0 = usage(), time.perf_counter()
    if args.profile:
        import cProfile
        prof = cProfile.Profile()
        prof.enable()
    scores, n = score_stream(iter_chunks(args.video, 16, prefetch=1), fps, args.dimensions.split(","),
                             MetricContext(VBenchConfig(**json.loads(args.config))))
    wall, r1 = time.perf_counter() - t0, usage()
    if args.profile:
        import pstats
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(15)
    cpu, cores, seconds = r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime, os.cpu_count() or 1, n / fps
    print(f"{os.path.basename(args.video)} {args.dimensions}: {n} frames ({seconds:.2f} s of video), wall {wall:.2f} s "
          f"= {seconds / wall:.2f}x real time, CPU {cpu:.2f} s -> at most {seconds / (cpu / cores):.2f}x on {cores} "
          f"idle cores, peak RSS {r1.ru_maxrss / 2 ** 20:.2f} GiB; load average {os.getloadavg()[0]:.1f}; "
          + ", ".join(f"{k}={v.value} [{v.backend}]" for k, v in scores.items()))


if __name__ == "__main__":
    main()
