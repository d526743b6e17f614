"""The paper's training plan as arithmetic: its phases, total FLOPs, GPU-hours at an MFU, and the MFU that the
reported A100-hours imply (a plausibility check of the stated hours, not a measurement).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from pfbench.accounting.flops import variant_counts
from pfbench.accounting.shapes import ModelShape, VideoShape
from pfbench.core.config import VideoSpec

A100_BF16_PEAK_FLOPS = 312e12


# --------------------------------------------------------------------------------------------------
# GPU-hours and MFU
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrainingPhase:
    name: str
    steps: int
    global_batch: int
    video: VideoSpec
    image_only: bool = False       # a single latent frame (the image phase)

    def shape(self) -> VideoShape:
        s = VideoShape.from_video(self.video)
        return VideoShape(1, s.height, s.width, s.patch_size, s.stages, s.stage_mix) if self.image_only else s


@dataclass(frozen=True)
class TrainingPlan:
    name: str
    phases: tuple[TrainingPhase, ...]
    reported_gpu_hours: float | None = None
    reported_gpu: str = "A100"
    assumptions: tuple[str, ...] = field(default_factory=tuple)


# The paper's Table 4 plan. The paper gives ranges for clip lengths; the plan takes the longest clip of each
# phase (so the implied MFU is an upper bound) and omits the text tokens of the MM-DiT.
PAPER_PLAN = TrainingPlan(
    name="paper-table4",
    phases=(
        TrainingPhase("images", 50_000, 1536, VideoSpec(640, 384, 0), image_only=True),
        TrainingPhase("low-res video", 200_000, 768, VideoSpec(640, 384, 5)),
        TrainingPhase("high-res video", 50_000, 384, VideoSpec(1280, 768, 10)),
    ),
    reported_gpu_hours=20_700.0,
    assumptions=("image phase at 384p (one latent frame)", "low-res video phase at 384p 5 s (its longest clips)",
                 "high-res video phase at 768p 10 s (its longest clips)", "text tokens of the MM-DiT not counted",
                 "SD3-Medium-like image stream: 24 layers, width 1536"),
)


def plan_flops(plan: TrainingPlan, variant: str, model: ModelShape) -> float:
    """Total training FLOPs of a plan if every sample were trained as ``variant``."""
    total = 0.0
    for phase in plan.phases:
        counts = variant_counts(variant, phase.shape(), model)
        total += phase.steps * phase.global_batch * counts.train_flops_per_sample
    return total


def gpu_hours(flops: float, peak_flops_per_s: float, mfu: float) -> float:
    """Hours of one GPU to execute ``flops`` at utilisation ``mfu`` of ``peak``."""
    if not 0 < mfu <= 1:
        raise ValueError(f"MFU must lie in (0, 1], got {mfu}")
    return flops / (peak_flops_per_s * mfu) / 3600.0


def implied_mfu(flops: float, gpu_hours_spent: float, peak_flops_per_s: float) -> float:
    """The utilisation a reported GPU-hour budget implies: FLOPs / (peak * seconds)."""
    return flops / (peak_flops_per_s * gpu_hours_spent * 3600.0)


def a100_equivalent(measured_mfu: float, flops: float) -> dict:
    """Projection: how long ``flops`` would take on an A100 (bf16 dense peak) at a measured MFU."""
    seconds = flops / (A100_BF16_PEAK_FLOPS * measured_mfu)
    return {"kind": "projection", "a100_seconds": seconds, "a100_flops_per_s": A100_BF16_PEAK_FLOPS * measured_mfu,
            "basis": f"A100 bf16 dense peak {A100_BF16_PEAK_FLOPS:.3g} FLOP/s at the measured MFU {measured_mfu:.3f}"}


def paper_plan_summary(model: ModelShape, plan: TrainingPlan = PAPER_PLAN) -> dict:
    """The MFU the paper's GPU-hours imply for pyramid_ar, and what full-sequence training would need."""
    pyramid = plan_flops(plan, "pyramid_ar", model)
    full = plan_flops(plan, "full_sequence", model)
    mfu = implied_mfu(pyramid, plan.reported_gpu_hours, A100_BF16_PEAK_FLOPS)
    return {
        "plan": plan.name, "reported_gpu_hours": plan.reported_gpu_hours, "gpu": plan.reported_gpu,
        "pyramid_ar_flops": pyramid, "full_sequence_flops": full, "implied_mfu": mfu,
        "full_sequence_gpu_hours": gpu_hours(full, A100_BF16_PEAK_FLOPS, mfu),
        "flops_ratio": full / pyramid, "assumptions": list(plan.assumptions),
    }
