"""How big the models suite measures, per preset: reduced configs of the same diffusers classes on CPU (fewer
layers, fewer and narrower heads, a narrow text input), the full configs in bf16 on a GPU."""
from __future__ import annotations

from dataclasses import dataclass

FAMILY_CARDS = ("wan2.1-t2v-1.3b", "ltx-video-2b", "cogvideox-5b", "hunyuanvideo", "mochi-1-preview")


@dataclass(frozen=True)
class ModelsPlan:
    """full: the card's own config (else reduced: layers, heads x head_dim, text tokens x text_dim); side: latent
    tokens per side of the full-size stage (latent h = w = side x patch); frames: latent frames; steps of a 3-stage
    pyramid vs one full-size schedule (20-20-10 vs 50 scaled down); repeats of each forward and sampler timing."""

    name: str
    full: bool = False
    layers: int = 2
    heads: int = 2
    head_dim: int = 32
    text_tokens: int = 16
    text_dim: int = 64
    frames: int = 2
    side: int = 8
    pyramid_steps: tuple[int, int, int] = (2, 2, 1)
    full_steps: int = 5
    forward_repeats: int = 3
    sampler_repeats: int = 1
    count_full_config: bool = False       # also count the card's full config at its native video (meta device)
    cpu_threads: int | None = 1           # CPU intra-op threads while timing (a reduced config gains nothing from
                                          # a second thread; on a shared 2-core machine its spin-waits dominate)
    cards: tuple[str, ...] = FAMILY_CARDS

    def config_name(self) -> str:
        if self.full:
            return "the card's full config"
        return (f"reduced: {self.layers} layers, {self.heads} heads x {self.head_dim}, text {self.text_tokens} x "
                f"{self.text_dim}")


PLANS = {
    "smoke": ModelsPlan("smoke"),
    "cpu": ModelsPlan("cpu", layers=2, heads=4, head_dim=32, frames=3, side=16, pyramid_steps=(4, 4, 2), full_steps=10,
                      forward_repeats=3, sampler_repeats=2, count_full_config=True),
    "gpu-smoke": ModelsPlan("gpu-smoke", full=True, frames=5, side=16, pyramid_steps=(2, 2, 1), full_steps=5,
                            forward_repeats=3, count_full_config=True),
    "gpu": ModelsPlan("gpu", full=True, frames=11, side=28, pyramid_steps=(4, 4, 2), full_steps=10,
                      forward_repeats=5, sampler_repeats=2, count_full_config=True),
}


def plan_for(preset_name: str, device: str) -> ModelsPlan:
    """The preset's plan; another preset gets the cpu or gpu plan by device."""
    if preset_name in PLANS:
        return PLANS[preset_name]
    return PLANS["gpu" if device.startswith("cuda") else "cpu"]
