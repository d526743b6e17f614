"""Per-frame cost of autoregressive generation: predicted FLOPs, measured wall time and peak memory per frame.

Users of the public Pyramid-Flow code see generation slow down as history grows. This module generates one
video frame by frame and attributes every model evaluation (the sampler's callback fires after each) to its
latent frame: wall time between callbacks (device synchronised), and the peak memory since the previous
callback (CUDA allocator peak; on CPU the process's peak RSS, reset through /proc/self/clear_refs). The
prediction for each frame comes from pfbench.accounting.flops.ar_frame_flops, the one source of FLOP numbers.

Settings compared: ``pyramid_ar`` (compressed history), ``ar_full_history`` (full-resolution history) and
``pyramid_ar_window`` (a pyramid_ar model sampled with ``history_window`` = W: only the last W frames).
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, replace

import torch

from pfbench.accounting.flops import ar_frame_flops
from pfbench.accounting.shapes import ModelShape, VideoShape
from pfbench.core.config import Preset
from pfbench.measure.child_rss import proc_status_bytes, reset_peak_rss
from pfbench.measure.timing import synchronizer
from reference_model.variants import SamplingSchedule, sample_video

SETTINGS = ("pyramid_ar", "pyramid_ar_window", "ar_full_history")
DEFAULT_WINDOW = 2


@dataclass(frozen=True)
class ARCostConfig:
    """What the per-frame benchmark runs: clip length, window W, timed rounds, sampler steps."""

    frames: int
    window: int
    rounds: int
    warmup_rounds: int
    schedule: SamplingSchedule
    time_budget_s: float = 300.0    # stop adding rounds past this (a slow machine gets fewer rounds, never a failure)

    def setting(self, name: str) -> tuple[str, SamplingSchedule]:
        """(model variant, schedule) of a setting: the window setting is pyramid_ar with history_window = W."""
        if name not in SETTINGS:
            raise ValueError(f"unknown per-frame setting {name!r}: choose one of {', '.join(SETTINGS)}")
        if name == "pyramid_ar_window":
            return "pyramid_ar", replace(self.schedule, history_window=self.window)
        return name, self.schedule


def ar_cost_config(preset: Preset, window: int | None = None) -> ARCostConfig:
    """The preset's clip and sampler steps; W from ``window``, else the config key ar_per_frame.window."""
    if window is None:
        window = preset.ar_window
    schedule = preset.sampling_schedule()
    rounds = min(preset.benchmark_rounds, 1 if preset.device == "cpu" else 3)  # cpu: a default run's minutes
    return ARCostConfig(frames=preset.frames, window=window, rounds=rounds,
                        warmup_rounds=min(preset.warmup_rounds, 1), schedule=schedule)


def predicted_frame_flops(name: str, preset: Preset, cfg: ARCostConfig) -> list[float]:
    """Analytic model FLOPs of each latent frame of one video (batch 1, one guidance branch)."""
    variant, schedule = cfg.setting(name)
    shape = VideoShape(cfg.frames, preset.height, preset.width, preset.patch_size, len(schedule.steps_first_frame))
    return ar_frame_flops(variant, shape, ModelShape.from_preset(preset), schedule)


class _CpuPeak:
    """Peak RSS between reads: VmHWM after resetting it (Linux /proc/self/clear_refs '5')."""

    def __init__(self):
        self.available = self.reset()

    @staticmethod
    def reset() -> bool:
        return reset_peak_rss()

    def read_and_reset(self) -> int | None:
        if not self.available:
            return None
        peak = proc_status_bytes("VmHWM")
        self.reset()
        return peak


class FrameMeter:
    """Sampler callback: wall seconds and peak bytes of every model evaluation, attributed to its frame."""

    def __init__(self, device: str, frames: int):
        self.cuda = device.startswith("cuda")
        self.device = torch.device(device)
        self.sync = synchronizer(device)
        self.cpu_peak = None if self.cuda else _CpuPeak()
        self.seconds = [0.0] * frames
        self.peak_bytes: list[int | None] = [None] * frames
        self.evaluations = [0] * frames
        self._last = None

    @property
    def memory_backend(self) -> str:
        if self.cuda:
            return "cuda-max-memory-allocated"
        return "vmhwm-clear-refs" if self.cpu_peak.available else "unavailable"

    def start(self) -> None:
        self.sync()
        if self.cuda:
            torch.cuda.reset_peak_memory_stats(self.device)
        elif self.cpu_peak.available:
            self.cpu_peak.reset()
        self._last = time.perf_counter()

    def __call__(self, info: dict) -> None:
        self.sync()
        now = time.perf_counter()
        frame = info["frame"]
        self.seconds[frame] += now - self._last
        self.evaluations[frame] += 1
        if self.cuda:
            peak = torch.cuda.max_memory_allocated(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            peak = self.cpu_peak.read_and_reset()
        if peak is not None:
            self.peak_bytes[frame] = max(peak, self.peak_bytes[frame] or 0)
        self._last = time.perf_counter()


@dataclass(frozen=True)
class FrameCosts:
    """Per-frame results of one setting: median wall seconds over rounds, peak bytes, predicted FLOPs."""

    setting: str
    wall_s: list[float]
    spread_s: list[float]           # max - min over the timed rounds
    peak_bytes: list[int | None]
    predicted_flops: list[float]
    evaluations: list[int]
    memory_backend: str
    rounds: int


@torch.no_grad()
def _generate(name: str, model, preset: Preset, cfg: ARCostConfig, device: str, dtype, seed: int) -> FrameMeter:
    variant, schedule = cfg.setting(name)
    meter = FrameMeter(device, cfg.frames)
    gen = torch.Generator(device=device).manual_seed(seed)
    meter.start()
    sample_video(variant, model, (1, preset.channels, cfg.frames, preset.height, preset.width), generator=gen,
                 schedule=schedule, callback=meter, device=device, dtype=dtype)
    return meter


def measure_frames(model, preset: Preset, cfg: ARCostConfig, settings=SETTINGS, device: str = "cpu",
                   dtype: torch.dtype = torch.float32, seed: int = 0) -> dict[str, FrameCosts]:
    """Generate one clip (batch 1) per setting, ``warmup + rounds`` times, settings interleaved within each
    round (so machine-speed drift hits all alike); per-frame medians over the timed rounds. Rounds stop once
    ``cfg.time_budget_s`` is spent (FrameCosts.rounds says how many were timed)."""
    meters: dict[str, list[FrameMeter]] = {name: [] for name in settings}
    start = time.perf_counter()
    for r in range(cfg.warmup_rounds + cfg.rounds):
        round_meters = {name: _generate(name, model, preset, cfg, device, dtype, seed) for name in settings}
        over = time.perf_counter() - start > cfg.time_budget_s
        if r >= cfg.warmup_rounds or (over and not any(meters.values())):
            for name, meter in round_meters.items():   # past the budget, the warm-up round is the measurement
                meters[name].append(meter)
        if over:
            break
    out = {}
    for name, rounds in meters.items():
        per_frame = list(zip(*(m.seconds for m in rounds)))
        peaks = [max((m.peak_bytes[i] for m in rounds if m.peak_bytes[i] is not None), default=None)
                 for i in range(cfg.frames)]
        out[name] = FrameCosts(setting=name, wall_s=[statistics.median(s) for s in per_frame],
                               spread_s=[max(s) - min(s) for s in per_frame], peak_bytes=peaks,
                               predicted_flops=predicted_frame_flops(name, preset, cfg),
                               evaluations=list(rounds[-1].evaluations), memory_backend=rounds[-1].memory_backend,
                               rounds=len(rounds))
    return out


def summary(costs: FrameCosts, window: int) -> dict:
    """Last-frame over first-later-frame ratios (measured, predicted) and the total: what the report quotes.

    Frame 0 runs the first-frame step schedule, so growth is measured from frame 1."""
    first = 1 if len(costs.wall_s) > 1 else 0
    return {"setting": costs.setting, "window": window if costs.setting == "pyramid_ar_window" else None,
            "measured_growth": costs.wall_s[-1] / costs.wall_s[first],
            "predicted_growth": costs.predicted_flops[-1] / costs.predicted_flops[first],
            "total_s": sum(costs.wall_s), "total_flops": sum(costs.predicted_flops)}


def counted_frame_flops(name: str, preset: Preset, cfg: ARCostConfig) -> list[float]:
    """The counted twin of predicted_frame_flops: reference_model's real sampling layouts, priced per forward."""
    from pfbench.accounting.flops import forward_flops
    from reference_model.variants import sampling_layouts
    variant, schedule = cfg.setting(name)
    model = ModelShape.from_preset(preset)
    out = [0.0] * cfg.frames
    for layout, steps in sampling_layouts(variant, cfg.frames, preset.height, preset.width, preset.patch_size,
                                          schedule):
        out[layout.segments[-1].frame_ids[0]] += steps * forward_flops(model, layout.num_tokens,
                                                                       layout.attention_pairs(), layout.current_tokens)
    return out


def query_pairs(layout) -> tuple[int, int]:
    """(attention pairs of history queries, of current-frame queries) under the layout's own mask rule.

    The current frame is the layout's last segment; its queries are the last ``current_tokens`` tokens."""
    ids = torch.tensor([fid for fid, _ in layout.frame_tokens], dtype=torch.long)
    counts = torch.tensor([n for _, n in layout.frame_tokens], dtype=torch.float64)  # (F,) tokens per frame
    rule = layout.allowed(ids[:, None], ids[None, :], layout.causal).to(torch.float64)  # (F, F) query x key frame
    rows = [int(round(v)) for v in (counts * (rule @ counts)).tolist()]  # (F,) pairs per query frame
    counts = [int(n) for n in counts.tolist()]
    current, split = 0, len(counts)
    while current < layout.current_tokens:
        split -= 1
        current += counts[split]
    return sum(rows[:split]), sum(rows[split:])


def kv_cache_bound_frame_flops(name: str, preset: Preset, cfg: ARCostConfig) -> list[float]:
    """FLOPs per latent frame if history keys/values were cached across each stage's denoising steps.

    History tokens then run through the backbone once per stage layout (their own attention included, no
    output head) and every step runs only the current frame's tokens, attending to all allowed keys. Exact
    only for a backbone whose history tokens do not depend on the current step's time: this one (like the
    public Pyramid-Flow models) modulates every token with the sample's time embedding, so this is the most
    a cache could save, not a mode of this model."""
    from pfbench.accounting.flops import forward_flops
    from reference_model.variants import sampling_layouts
    variant, schedule = cfg.setting(name)
    model = ModelShape.from_preset(preset)
    out = [0.0] * cfg.frames
    for layout, steps in sampling_layouts(variant, cfg.frames, preset.height, preset.width, preset.patch_size,
                                          schedule):
        current = layout.current_tokens
        history = layout.num_tokens - current
        history_pairs, current_pairs = query_pairs(layout)
        once = forward_flops(model, history, history_pairs, 0) if history else 0
        out[layout.segments[-1].frame_ids[0]] += once + steps * forward_flops(model, current, current_pairs, current)
    return out


def case_name(preset: Preset) -> str:
    return f"{preset.name}-ar-per-frame"


def flops_rows(preset: Preset, cfg: ARCostConfig) -> list[dict]:
    """Per-frame predicted FLOPs (analytic) and their counted twins, one row each per setting and frame."""
    rows = []
    for setting in SETTINGS:
        note = f"one guidance branch; window W={cfg.window}" if setting == "pyramid_ar_window" else \
            "one guidance branch"
        pairs = zip(predicted_frame_flops(setting, preset, cfg), counted_frame_flops(setting, preset, cfg))
        for i, (p, c) in enumerate(pairs):
            for backend, value in (("analytic", p), ("counted", c)):
                rows.append(dict(case=case_name(preset), variant=setting, metric="frame_flops", value=value,
                                 unit="FLOP", backend=backend, x_name="frame", x_value=i, note=note))
        for i, value in enumerate(kv_cache_bound_frame_flops(setting, preset, cfg)):
            rows.append(dict(case=case_name(preset), variant=setting, metric="frame_flops_kv_cache_bound",
                             value=value, unit="FLOP", backend="analytic", x_name="frame", x_value=i,
                             note=note + "; history K/V cached per stage: a bound, not a mode of this model"))
    return rows


def measured_rows(case: str, costs: dict[str, FrameCosts], cfg: ARCostConfig) -> list[dict]:
    """Per-frame wall time and peak memory rows, growth ratios (measured and predicted) and video totals."""
    rows = []
    for setting, c in costs.items():
        for i in range(len(c.wall_s)):
            rows.append(dict(case=case, variant=setting, metric="frame_wall_s", value=c.wall_s[i], unit="s",
                             spread=c.spread_s[i], spread_kind=f"range over {c.rounds} rounds", backend="measured",
                             x_name="frame", x_value=i, note=f"{c.evaluations[i]} model evaluations"))
            peak = c.peak_bytes[i]
            rows.append(dict(case=case, variant=setting, metric="frame_peak_memory_bytes", value=peak, unit="bytes",
                             backend=c.memory_backend, x_name="frame", x_value=i,
                             status="ok" if peak is not None else "skipped",
                             note="" if peak is not None else "no per-frame peak memory reader on this platform"))
        s = summary(c, cfg.window)
        for metric, backend in (("measured_growth", "measured"), ("predicted_growth", "analytic")):
            rows.append(dict(case=case, variant=setting, metric="frame_cost_growth", value=s[metric], unit="ratio",
                             backend=backend, note="last frame / frame 1 (frame 0 runs the first-frame steps)"))
        rows.append(dict(case=case, variant=setting, metric="video_wall_s", value=s["total_s"], unit="s",
                         backend="measured", note=f"sum of per-frame medians, {len(c.wall_s)} latent frames"))
    return rows
