"""Memory: peak memory of one training step per variant as clip length and resolution grow, up to running out.

For each variant the step measured is the forward + backward (batch 1) of its LARGEST layout (whole clip at full
resolution for full_sequence / spatial_pyramid; last frame at stage 0 with its history for the autoregressive
variants), because that decides whether a clip fits. Two ladders per variant, each searched for the out-of-memory
frontier (grow toward the budget, then bisect; ``pfbench.benchmarks.memory.frontier``): latent frames 1..``preset.memory_max_frames``,
and H x W times 1, 1.5, 2, 3, 4 at ``preset.frames``. An out-of-memory is a result row (status "oom"), never a crash.
How it is measured (spawned child + RLIMIT_AS + per-size RSS high-water mark on CPU, allocator peaks on CUDA) is
documented in ``pfbench/benchmarks/memory/sweep.py``.

Budget: the GPU's capacity on CUDA; ``preset.memory_budget_gib`` on CPU (``PFBENCH_MEMORY_BUDGET_GIB`` overrides
it for a one-off run: `pfbench run` records it in config.json, which this suite reads; the budget row names its
source). Each ladder also has a wall-time budget per preset (TIME_LIMIT_S): a size predicted to overrun it is not
measured, and a search the time cap ends early records its largest fitting size as a lower bound (``bound`` "lower")
and a "skipped" point: a slow machine gives a looser answer, never a failure. Asserted: what is certain by
construction (no sweep errors; memory grows with the clip; pyramid_ar's step at the preset's clip needs less than
full_sequence's).

Rows (pf_record): peak_memory_bytes (+ peak_memory_increase_bytes) per size, max_frames_fit /
max_tokens_per_frame_fit per variant, memory_per_frame_bytes (slope over the frame ladder), memory_budget_bytes.
Each variant's sweep also runs once under ``benchmark.pedantic`` (rounds=1) so it appears in the pytest-benchmark
JSON: the timed call is the whole sweep, extra_info carries the peak at the preset's own clip.
"""
from __future__ import annotations

import gc

import pytest
import torch

from pfbench.benchmarks.memory.frontier import frontier_summary
from pfbench.benchmarks.memory.ladders import largest_layout_tokens
from pfbench.benchmarks.memory.rows import fit_rows, per_frame_bytes, points_to_rows
from pfbench.benchmarks.memory.sweep import measure_variant_cpu, measure_variant_cuda
from pfbench.measure.hardware import device_name
from pfbench.train.loop import model_for_preset
from reference_model.variants import VARIANTS

GIB = 2**30
# Wall-seconds limit per ladder (frames, resolution) per variant; other presets (GPU) get DEFAULT_TIME_LIMIT_S.
TIME_LIMIT_S = {"smoke": 1.5, "cpu": 3.0, "gpu-smoke": 5.0, "gpu": 20.0}
DEFAULT_TIME_LIMIT_S = 240.0
# On CUDA these variants are swept a second time with activation checkpointing on (rows "<variant>+checkpointing").
CHECKPOINTED_VARIANTS = ("full_sequence", "pyramid_ar")


@pytest.fixture(scope="module")
def sweeps() -> dict:
    """variant -> measured points, collected by the per-variant tests for the cross-variant checks."""
    return {}


def _is_cuda(device: str) -> bool:
    return device.startswith("cuda") and torch.cuda.is_available()


def _budget(preset, device: str, overrides: dict) -> tuple[int, str, str]:
    """(bytes, backend, note): the GPU's capacity on CUDA, the run's RAM budget on CPU (``preset`` is the run's
    resolved preset, an environment override already applied; ``overrides`` says whether it was one)."""
    if _is_cuda(device):
        props = torch.cuda.get_device_properties(torch.device(device))
        return (int(props.total_memory), "cuda_total_memory",
                f"capacity of {props.name}; running out is torch.cuda.OutOfMemoryError")
    gib = preset.memory_budget_gib
    source = ("$PFBENCH_MEMORY_BUDGET_GIB (config.json overrides)" if "memory_budget_gib" in overrides
              else f"config key memory.budget_gib of {preset.name}")
    return (int(gib * GIB), "rlimit_as",
            f"{gib:g} GiB from {source}: address space the child may add after imports (RLIMIT_AS)")


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_memory_sweep(benchmark, pf_config, pf_preset, pf_device, pf_dtype, pf_seed, pf_record, sweeps, variant):
    budget, _, _ = _budget(pf_preset, pf_device, pf_config["overrides"])
    limit = TIME_LIMIT_S.get(pf_preset.name, DEFAULT_TIME_LIMIT_S)
    cuda = _is_cuda(pf_device)
    model = None
    if cuda:
        torch.manual_seed(pf_seed)
        # eager blocks: every size is a new shape, and compile time would eat the sweep's time limit
        model = model_for_preset(pf_preset, compile_blocks=False).to(pf_device).train()

        def run():
            return measure_variant_cuda(variant, model, pf_preset, device=pf_device, dtype=pf_dtype, seed=pf_seed,
                                        time_limit_s=limit, budget_bytes=budget)
    else:
        def run():
            return measure_variant_cpu(variant, pf_preset, budget_bytes=budget, seed=pf_seed, time_limit_s=limit,
                                       timeout_s=2 * limit + 120)

    result = benchmark.pedantic(run, rounds=1, iterations=1)
    if model is not None:
        del model
        gc.collect()
        torch.cuda.empty_cache()
    points = result["points"]
    sweeps[variant] = points

    kind = "cuda" if cuda else "cpu"
    rows = points_to_rows(variant, points, device_kind=kind, budget_bytes=budget)
    rows += fit_rows(variant, points, device_kind=kind, budget_bytes=budget)
    slope = per_frame_bytes(points)
    if slope is not None:
        rows.append(dict(case="frames_sweep", variant=variant, metric="memory_per_frame_bytes", value=slope,
                         unit="bytes", backend=rows[0]["backend"], status="ok",
                         note="least-squares slope of peak_memory_increase_bytes over the latent frames that fit"))
    if not cuda and result["child_status"] != "ok":
        rows.append(dict(case="memory_sweep", variant=variant, metric="child_wall_s", value=result["child_wall_s"],
                         unit="s", backend="child_peak_rss", status=result["child_status"],
                         note=f"the sweep child did not return: {result['child_message'][-300:]}"))
    pf_record(rows)

    # the preset's own clip is the resolution ladder's first size (T = preset.frames, multiplier 1)
    preset_clip = next((p for p in points if p["sweep"] == "resolution_sweep" and p["status"] == "ok"), None)
    peak_key = "max_allocated_bytes" if cuda else "peak_rss_bytes"
    benchmark.extra_info.update(
        case="memory_sweep", variant=variant, device=device_name(pf_device),
        backend="cuda_max_allocated" if cuda else "child_peak_rss",
        peak_memory_bytes=preset_clip[peak_key] if preset_clip else None,
        peak_memory_increase_bytes=preset_clip["increase_bytes"] if preset_clip else None,
        memory_budget_bytes=budget, sizes_measured=len(points),
        note=("timed: the whole sweep (" + ("in-process" if cuda else "one spawned child: imports, model, ")
              + "both ladders); peak_memory_bytes: one step at the preset's own clip "
              f"(T={pf_preset.frames}, {pf_preset.height}x{pf_preset.width}, batch 1)"))

    errors = [p for p in points if p["status"] == "error"]
    assert not errors, f"{variant}: the sweep failed (not a memory result): {errors[0].get('message', '')[-2000:]}"
    assert any(p["status"] == "ok" for p in points), f"{variant}: no size fitted the budget of {budget / GIB:g} GiB"
    if variant == "full_sequence":
        ok = sorted((p for p in points if p["sweep"] == "frames_sweep" and p["status"] == "ok"),
                    key=lambda p: p["frames"])
        grow = [p["increase_bytes"] for p in ok]
        if len(grow) >= 2:  # (a budget that runs out at T=2 leaves one size: nothing to compare)
            assert grow[-1] > grow[0], f"full_sequence's memory did not grow with frames: {grow}"
        # each longer clip needs at least about as much (allocator slack: 5% or 8 MiB)
        for a, b, pa, pb in zip(grow, grow[1:], ok, ok[1:]):
            assert b >= a - max(0.05 * a, 8 * 2**20), (
                f"full_sequence needed less at T={pb['frames']} ({b} bytes) than at T={pa['frames']} ({a} bytes)")


@pytest.mark.parametrize("variant", CHECKPOINTED_VARIANTS)
def test_memory_sweep_checkpointing_cuda(pf_config, pf_preset, pf_device, pf_dtype, pf_seed, pf_record, sweeps, variant):
    """CUDA only: the same ladders with activation checkpointing on; it must need less memory at a common size."""
    if not _is_cuda(pf_device):
        pytest.skip("activation-checkpointing rows are measured on CUDA (the CPU sweep runs without)")
    budget, _, _ = _budget(pf_preset, pf_device, pf_config["overrides"])
    torch.manual_seed(pf_seed)
    model = model_for_preset(pf_preset, compile_blocks=False, activation_checkpointing=True).to(pf_device).train()
    result = measure_variant_cuda(variant, model, pf_preset, device=pf_device, dtype=pf_dtype, seed=pf_seed,
                                  time_limit_s=TIME_LIMIT_S.get(pf_preset.name, DEFAULT_TIME_LIMIT_S),
                                  budget_bytes=budget)
    del model
    gc.collect()
    torch.cuda.empty_cache()
    label, points = f"{variant}+checkpointing", result["points"]
    rows = points_to_rows(label, points, device_kind="cuda", budget_bytes=budget)
    rows += fit_rows(label, points, device_kind="cuda", budget_bytes=budget)
    pf_record([dict(r, note=(r.get("note") or "") + "; activation checkpointing on (every block recomputed)")
               for r in rows])
    errors = [p for p in points if p["status"] == "error"]
    assert not errors, f"{label}: the sweep failed (not a memory result): {errors[0].get('message', '')[-2000:]}"
    plain = {(p["sweep"], p["x_value"]): p for p in sweeps.get(variant, []) if p["status"] == "ok"}
    common = [(p, plain[(p["sweep"], p["x_value"])]) for p in points
              if p["status"] == "ok" and (p["sweep"], p["x_value"]) in plain]
    if common:
        ckpt, base = common[-1]
        assert ckpt["increase_bytes"] < base["increase_bytes"], (
            f"{label} needed {ckpt['increase_bytes']} bytes at {ckpt['sweep']} {ckpt['x_value']:g}, not less than "
            f"{base['increase_bytes']} without checkpointing")


def test_memory_frontier(pf_config, pf_preset, pf_device, pf_record, sweeps):
    """The budget row, and what the sweeps together must show. Reaching the out-of-memory frontier is not asserted:
    a time cap gives a lower bound (recorded in the fit rows), not a failure."""
    budget, backend, note = _budget(pf_preset, pf_device, pf_config["overrides"])
    pf_record([dict(case="budget", variant="", metric="memory_budget_bytes", value=budget, unit="bytes",
                    backend=backend, status="ok", note=note)])
    missing = [v for v in ("full_sequence", "pyramid_ar") if v not in sweeps]
    if missing:
        pytest.skip(f"not measured in this run: {', '.join(missing)}")
    for variant, points in sweeps.items():
        found = frontier_summary([p for p in points if p["sweep"] == "frames_sweep"])
        print(f"{variant:26s} max frames that fit: {found['fit'] or 0:3g}{'+' if found['bound'] == 'lower' else ' '} "
              f"({found['why']}); per frame {(per_frame_bytes(points) or 0) / 2**20:7.2f} MiB")

    # full_sequence's longest fitting clip T against pyramid_ar's smallest measured clip T' >= T (memory grows with
    # the clip, so pyramid_ar needs at most that at T); checked where full_sequence's layout is 2x+ pyramid_ar's,
    # so that the activations, not the fixed weights and gradients, decide (at 1-2 frames they are the same size)
    def frames_ok(variant):
        return {p["frames"]: p for p in sweeps[variant] if p["sweep"] == "frames_sweep" and p["status"] == "ok"}

    full, pyr = frames_ok("full_sequence"), frames_ok("pyramid_ar")
    t = max(full, default=None)
    t_pyr = min((f for f in pyr if t is not None and f >= t), default=None)
    if t_pyr is None or full[t]["tokens"] < 2 * largest_layout_tokens(
            "pyramid_ar", t, pf_preset.height, pf_preset.width, pf_preset.patch_size, pf_preset.stages):
        pytest.skip(f"no clip where full_sequence's layout is 2x pyramid_ar's fitted both searches in the "
                    f"{budget / GIB:g} GiB budget and time caps (full_sequence fitted up to T={t}): nothing to compare")
    assert pyr[t_pyr]["increase_bytes"] < full[t]["increase_bytes"], (
        f"pyramid_ar's step at T={t_pyr} needed {pyr[t_pyr]['increase_bytes']} bytes, not less than full_sequence's "
        f"{full[t]['increase_bytes']} at T={t}")
