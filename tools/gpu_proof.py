"""Helpers of tools/gpu_proof.sh (standard library + torch only, so they run before pfbench's deps are in).

    python tools/gpu_proof.py check                 # modules the harness needs that this Python lacks
    python tools/gpu_proof.py matmul OUT.json       # bf16 8192^3 matmul TFLOP/s: the card's practical ceiling
    python tools/gpu_proof.py summary OUT_DIR RUN_DIR [RUN_DIR ...]   # MFU table -> OUT_DIR/summary.md
"""
from __future__ import annotations

import csv
import importlib.util
import json
import sys
import time
from pathlib import Path

# import name -> pip distribution, for the suites pfbench run drives on a GPU node (tokens, throughput, memory)
HARNESS_MODULES = {"numpy": "numpy", "pandas": "pandas", "pyarrow": "pyarrow", "matplotlib": "matplotlib",
                   "pytest": "pytest", "pytest_benchmark": "pytest-benchmark", "pynvml": "nvidia-ml-py",
                   "tqdm": "tqdm", "psutil": "psutil", "PIL": "pillow", "scipy": "scipy", "torchvision": "torchvision",
                   "pytest_timeout": "pytest-timeout", "cpuinfo": "py-cpuinfo"}
TARGETS = {"full_sequence": 0.45, "pyramid_ar": 0.35}  # MFU goals on H100/H200 (and the same fractions on A100)


def check() -> int:
    missing = [dist for mod, dist in HARNESS_MODULES.items() if importlib.util.find_spec(mod) is None]
    print(" ".join(missing))
    return 0


def matmul(out: str, n: int = 8192, warmup: int = 10, iters: int = 30) -> int:
    import torch
    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    for _ in range(warmup):
        a @ b
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(iters):
        a @ b
    torch.cuda.synchronize()
    seconds = (time.perf_counter() - t0) / iters
    result = dict(device=torch.cuda.get_device_name(), n=n, seconds=seconds, tflops=2 * n ** 3 / seconds / 1e12,
                  torch=torch.__version__, cuda=torch.version.cuda)
    Path(out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"bf16 {n}^3 matmul on {result['device']}: {result['tflops']:.0f} TFLOP/s")
    return 0


def _rows(run_dir: Path) -> list[dict]:
    path = run_dir / "results.csv"
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _value(rows, case, variant, metric):
    for r in rows:
        if r["case"] == case and r["variant"] == variant and r["metric"] == metric and r["value"] not in ("", None):
            return float(r["value"])
    return None


def summarize(out_dir: Path, run_dirs: list[Path]) -> str:
    lines = ["# GPU proof summary", ""]
    ceiling = out_dir / "matmul.json"
    if ceiling.exists():
        m = json.loads(ceiling.read_text())
        lines += [f"bf16 {m['n']}^3 matmul on {m['device']}: **{m['tflops']:.0f} TFLOP/s** (torch {m['torch']}, "
                  f"CUDA {m['cuda']}): the practical ceiling the MFU below is read against.", ""]
    for run in run_dirs:
        rows = _rows(run)
        lines += [f"## {run.name}", ""]
        if not rows:
            lines += ["no results.csv (see the run's logs/)", ""]
            continue
        variants = sorted({r["variant"] for r in rows if r["case"] == "train_step" and r["variant"]})
        lines += ["| variant | step s | tokens/step | tokens/s | samples/s | budget fill | MFU | target | "
                  "speedup / FLOP-predicted |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for v in variants:
            get = lambda metric, case="train_step": _value(rows, case, v, metric)  # noqa: E731
            mfu, target = get("mfu"), TARGETS.get(v)
            cells = [get("time_s"), get("tokens_per_step"), get("tokens_per_s"), get("samples_per_s"),
                     get("budget_fill"), mfu, target, get("speedup_ratio", "train_step_interleaved")]
            shown = [("-" if c is None else f"{c:.3g}") for c in cells[:5]]
            verdict = "no MFU (device peak unknown)" if mfu is None else ("met" if mfu >= target else "NOT met") \
                if target is not None else ""
            shown += ["-" if mfu is None else f"{mfu:.1%}", "-" if target is None else f">= {target:.0%} ({verdict})",
                      "-" if cells[7] is None else f"{cells[7]:.2f}"]
            lines.append(f"| {v} | " + " | ".join(shown) + " |")
        profile = run / "profile"
        if profile.is_dir():
            lines += ["", "Where a training step's time goes (pfbench run --profile):", ""]
            lines += [p.read_text() for p in sorted(profile.glob("*.md"))]
        lines.append("")
    text = "\n".join(lines) + "\n"
    (out_dir / "summary.md").write_text(text)
    return text


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("check", "matmul", "summary"):
        print(__doc__)
        return 2
    if argv[0] == "check":
        return check()
    if argv[0] == "matmul":
        return matmul(argv[1])
    print(summarize(Path(argv[1]), [Path(p) for p in argv[2:]]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
