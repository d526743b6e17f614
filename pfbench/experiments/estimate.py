"""What a run will cost before it starts (``pfbench run --dry-run``, and the refusal of a config a machine cannot
run): parameters, FLOPs and memory of one training step at the config's clip, the plan (suites, models trained,
steps), and minutes at a stated FLOP rate.

Sources: parameters are counted on the model itself (built on the meta device, no memory); FLOPs per step are
pfbench.accounting's (analytic, the one source of token and FLOP counts); memory per step is a closed form, stated
with the estimate: AdamW training state 16 bytes per parameter (weights, gradients, two moments) plus activations
34 * tokens * hidden bytes per block in 16-bit (Korthikanti et al. 2022, eq. 1, without the attention-score term,
which chunked/flex attention does not store), doubled in float32. Minutes are training compute only (sampling and
metrics excluded) at 40% of the device's dense peak, or, on CPU, at a matmul rate measured here in a fraction of a
second; each is a rough lower bound on wall time, and says so.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass

from pfbench.core.config import Preset

ASSUMED_MFU = 0.4
REFERENCE_GPU = "H100 SXM"   # the rate of a cuda config estimated on a machine without a GPU
TRAINING_SUITES = ("throughput", "memory", "fid", "ablations", "vbench", "ar_per_frame", "scaling")


@dataclass(frozen=True)
class PlanItem:
    suite: str
    models: int           # models trained
    steps: int            # training steps each
    flops: float          # training FLOPs of the item (analytic)
    what: str


@dataclass(frozen=True)
class Estimate:
    preset: Preset
    params: int
    tokens_per_clip: int
    flops_per_step: dict      # variant -> training FLOPs of one step at batch_size clips
    memory_per_step_bytes: float
    plan: tuple[PlanItem, ...]
    rate_flops_per_s: float
    rate_basis: str

    @property
    def minutes(self) -> float:
        return sum(item.flops for item in self.plan) / self.rate_flops_per_s / 60.0

    def item_minutes(self, item: PlanItem) -> float:
        return item.flops / self.rate_flops_per_s / 60.0


def run_estimate(preset: Preset, suites, params: int | None = None) -> Estimate:
    """The estimate of running ``suites`` with ``preset`` (``params``: counted elsewhere, e.g. a factory model)."""
    from pfbench.accounting.flops import variant_counts
    from pfbench.accounting.shapes import ModelShape, VideoShape

    shape = VideoShape.from_preset(preset)
    model = ModelShape.from_preset(preset)
    per_sample = {v: variant_counts(v, shape, model).train_flops_per_sample
                  for v in ("full_sequence", "spatial_pyramid", "pyramid_ar")}
    flops_per_step = {v: f * preset.batch_size for v, f in per_sample.items()}
    tokens = preset.frames * preset.tokens_per_frame
    params = params if params is not None else _count_params(preset)
    bytes_per = 2 if preset.dtype in ("bfloat16", "float16") and preset.device.startswith("cuda") else 4
    activations = 34 * tokens * preset.batch_size * model.hidden_size * model.depth * (bytes_per / 2)
    memory = 16 * params + activations
    rate, basis = _rate(preset)
    return Estimate(preset, params, tokens, flops_per_step, memory, tuple(_plan(preset, suites, flops_per_step)),
                    rate, basis)


def _count_params(preset: Preset) -> int:
    import torch

    from pfbench.train.loop import model_for_preset

    with torch.device("meta"):
        return sum(p.numel() for p in model_for_preset(preset).parameters())


def _plan(preset: Preset, suites, flops_per_step: dict) -> list[PlanItem]:
    """Models trained and steps per suite (training compute; the quality suites at their experiment scale)."""
    from pfbench.experiments.shapes import experiment_shape, train_flops_per_sample

    items = []
    variants = tuple(flops_per_step)
    if "throughput" in suites and preset.trainable:
        steps = preset.warmup_rounds + preset.benchmark_rounds
        items.append(PlanItem("throughput", len(variants), steps, steps * sum(flops_per_step.values()),
                              f"{steps} timed training steps per variant at {preset.batch_size} clips"))
    if not preset.trainable:  # nothing is trained: the cost of train.steps steps of each variant, for scale
        return items + [PlanItem(f"({v})", 1, preset.train_steps, preset.train_steps * f,
                                 f"shape-only config: train.steps steps of {v} at this size, if it were trained")
                        for v, f in flops_per_step.items()]
    shape = experiment_shape(preset)
    conv, exp = shape.convergence, shape.preset(preset)
    per = {v: train_flops_per_sample(v, conv.preset(preset)) for v in variants}
    if "fid" in suites or "ablations" in suites:
        flops = conv.seeds * conv.steps * conv.batch_size * per["full_sequence"] * len(variants)  # equal tokens/batch
        items.append(PlanItem("fid", conv.seeds * len(variants), conv.steps, flops,
                              f"{conv.seeds} seeds x {len(variants)} variants at {conv.frames}x{conv.height}x"
                              f"{conv.width}, equal tokens per batch (the ablations reuse them)"))
    if "vbench" in suites:
        flops = shape.vbench_steps * shape.ablation_batch * train_flops_per_sample("full_sequence", exp) * len(variants)
        items.append(PlanItem("vbench", len(variants), shape.vbench_steps, flops,
                              f"{len(variants)} variants at {shape.frames}x{shape.height}x{shape.width}"))
    return items


def _rate(preset: Preset) -> tuple[float, str]:
    import torch

    from pfbench.accounting.gpus import lookup_gpu, peak_flops

    if preset.device.startswith("cuda"):
        name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else REFERENCE_GPU
        peak = peak_flops(name, preset.dtype) or peak_flops(REFERENCE_GPU, preset.dtype)
        gpu = name if lookup_gpu(name) else REFERENCE_GPU
        return peak * ASSUMED_MFU, f"{ASSUMED_MFU:.0%} of {gpu}'s dense {preset.dtype} peak ({peak:.3g} FLOP/s)"
    return _measured_cpu_rate(), "a float32 matmul rate measured on this CPU now (shared machines run slower)"


def _measured_cpu_rate(n: int = 512, repeats: int = 4) -> float:
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    t0 = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n ** 3 * repeats / max(time.perf_counter() - t0, 1e-9)


def device_memory_bytes(device: str) -> tuple[float, str]:
    """(bytes, what) this machine has for ``device``: the GPU's capacity, or the host's physical memory."""
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        index = int(device.partition(":")[2] or 0)
        return float(torch.cuda.get_device_properties(index).total_memory), torch.cuda.get_device_name(index)
    return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")), "host RAM"


def fits_machine(estimate: Estimate, device: str) -> str | None:
    """Why this machine cannot run the estimate's training step, or None (shape-only configs train nothing)."""
    if not estimate.preset.trainable:
        return None
    have, what = device_memory_bytes(device)
    if estimate.memory_per_step_bytes > have:
        return (f"config {estimate.preset.name!r} needs about {estimate.memory_per_step_bytes / 2**30:.1f} GiB per "
                f"training step but {what} has {have / 2**30:.1f} GiB: lower data.frames/height/width or "
                f"train.batch_size, or pick a smaller model.backbone")
    return None


def format_estimate(est: Estimate, inputs=None) -> str:
    p = est.preset
    lines = [f"config {p.name}: model {p.model_factory or p.model}, clip {p.channels} x {p.frames} x {p.height} x "
             f"{p.width} latents ({est.tokens_per_clip:,} tokens), batch {p.batch_size}, device {p.device} "
             f"{p.dtype}",
             f"  parameters: {est.params:,}",
             "  training FLOPs per step: " + ", ".join(f"{v} {f:.3g} ({f / est.rate_flops_per_s:.3g} s)"
                                                      for v, f in est.flops_per_step.items())
             + " (pfbench.accounting, analytic; seconds at the rate below)",
             f"  memory per step: {est.memory_per_step_bytes / 2**30:.3g} GiB (16 B/parameter AdamW state + "
             f"34 x tokens x hidden B/block activations)",
             "  plan:"]
    lines += [f"    {i.suite}: {i.models} model(s) x {i.steps} steps, {i.flops:.3g} FLOPs, "
              f"{est.item_minutes(i):.3g} min ({i.what})" for i in est.plan]
    lines.append(f"  minutes (training compute only): {est.minutes:.3g} at {est.rate_basis}")
    if inputs is not None:
        lines += ["  " + line for line in inputs.lines()]
    return "\n".join(lines)
