"""Data-parallel training throughput at 1..N processes under torchrun (weak scaling: fixed per-process batch).

Each process count N > 1 is one `torchrun --standalone --nproc_per_node N -m pfbench.benchmarks.scaling.driver` job running the
real training loop under DDP (gloo on CPU, NCCL on CUDA); N = 1 is the same loop in one plain process (no DDP: the
baseline a single-device user runs). Rows: samples/s, tokens/s (expected tokens per sample
from pfbench.accounting), median step time, weak-scaling efficiency = throughput(N) / (N x throughput(1)), and
the DDP all-reduce time in flight per step (a communication hook; it overlaps the backward pass). On CPU the
process counts are 1 and 2 (each process one thread, as torchrun sets OMP_NUM_THREADS=1); on CUDA 1, 2, 4, ...
up to the visible GPUs. Each job has a time cap (JOB_TIMEOUT_S): a job that does not finish in it is a "skipped"
row naming the cap (a slow machine), never a suite failure; a job that fails is one.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest
import torch

VARIANT = "pyramid_ar"
CPU_PROCS = (1, 2)
JOB_TIMEOUT_S = 1800.0


def _process_counts(device: str) -> tuple[int, ...]:
    if not device.startswith("cuda"):
        return CPU_PROCS
    n = torch.cuda.device_count()
    return tuple(k for k in (1, 2, 4, 8, 16) if k <= n)


def _steps(preset) -> tuple[int, int, int]:
    """(per-process batch, timed steps, warm-up steps) for the preset."""
    if preset.name == "smoke":
        return 2, 3, 1
    if preset.name == "cpu":
        return 2, 3, 1
    return max(1, preset.batch_size), 10, 3


def _run(nproc: int, preset, device: str, out) -> dict | None:
    """One job's result; None when it ran past JOB_TIMEOUT_S."""
    batch, steps, warmup = _steps(preset)
    launcher = [] if nproc == 1 else ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"]
    cmd = [sys.executable, *launcher, "-m", "pfbench.benchmarks.scaling.driver", "--preset", preset.name, "--variant", VARIANT, "--per-rank-batch", str(batch),
           "--steps", str(steps), "--warmup", str(warmup), "--device", device.split(":")[0], "--out", str(out)]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=JOB_TIMEOUT_S,
                           env={**os.environ, "OMP_NUM_THREADS": "1"})
    except subprocess.TimeoutExpired:
        return None
    if p.returncode != 0:
        err = p.stderr if len(p.stderr) <= 2000 else f"{p.stderr[:1000]}\n...\n{p.stderr[-1000:]}"  # a rank's own
        raise RuntimeError(f"torchrun with {nproc} process(es) failed ({p.returncode}): {err}")  # error comes first
    return json.loads(out.read_text())


def test_weak_scaling(benchmark, pf_preset, pf_device, pf_record, tmp_path):
    if not pf_preset.trainable:
        pytest.skip(f"preset {pf_preset.name} is shape-only: scaling trains")
    counts = _process_counts(pf_device)
    results = {}

    def run_all():
        for n in counts:
            results[n] = _run(n, pf_preset, pf_device, tmp_path / f"scaling-{n}.json")

    benchmark.pedantic(run_all, rounds=1, iterations=1, warmup_rounds=0)
    baseline = results[counts[0]]
    base = baseline["samples_per_s"] / counts[0] if baseline else None
    rows = []
    for n, r in results.items():
        if r is None:
            rows.append(dict(case=f"{pf_preset.name}/{VARIANT}/batch {_steps(pf_preset)[0]} per process",
                             variant=VARIANT, metric="samples_per_s", value=None, unit="samples/s", x_value=n,
                             x_unit="processes", status="skipped", note=f"the {n}-process job ran past its {JOB_TIMEOUT_S:g} s time cap "
                                                    f"(a slow machine, not a result): nothing measured"))
            continue
        eff = r["samples_per_s"] / (n * base) if base else None
        case = f"{pf_preset.name}/{VARIANT}/batch {r['per_rank_batch']} per process"
        note = f"{r['steps_timed']} timed steps, global batch {r['global_batch']}"
        common = dict(case=case, variant=VARIANT, backend=r["backend"], x_value=n, x_unit="processes")
        rows += [
            dict(common, metric="samples_per_s", value=r["samples_per_s"], unit="samples/s", note=note),
            dict(common, metric="tokens_per_s", value=r["tokens_per_s"], unit="tokens/s", note=note),
            dict(common, metric="step_s", value=r["step_s_median"], unit="s", note="median over timed steps"),
            dict(common, metric="weak_scaling_efficiency", value=eff, unit="fraction",
                 status="ok" if base else "skipped", note="throughput(N) / (N x throughput(1))"
                 + ("" if base else "; the 1-process baseline ran past its time cap")),
            dict(common, metric="comm_s_per_step", value=r["comm_s_per_step"], unit="s",
                 note="DDP all-reduce in flight per step (comm hook; overlaps backward)"),
        ]
        assert r["world_size"] == n and r["global_batch"] == n * r["per_rank_batch"]
        assert r["samples_per_s"] > 0 and (eff is None or math.isfinite(eff))
        if n > 1:
            assert r["comm_buckets"] > 0 and r["comm_s_per_step"] > 0  # gradients were really all-reduced
    benchmark.extra_info.update({f"samples_per_s_{n}": r["samples_per_s"] for n, r in results.items() if r})
    pf_record(rows)
