"""The velocity-model protocol: what the samplers, losses and benchmarks call on a model under test.

The reference DiT (reference_model.dit.DiT) is one implementation; any nn.Module that satisfies this protocol can be
put in its place (a researcher's own denoiser, or an adapter around a diffusers video transformer).

Convention (pfbench's, everywhere): t = 0 is pure noise, t = 1 is data, and the model returns the velocity
d x / d t of the straight path x_t = t x_1 + (1 - t) x_0, i.e. data minus noise.

Call:
    model(latents, layout, t, y=None, output="all") -> list[Tensor]

    latents: one (B, C, T_s, h_s, w_s) tensor per segment of ``layout`` (a SequenceLayout: the segments of one clip,
             e.g. compressed history frames then the frame being generated; or a PackedLayout of several samples,
             each segment then with batch 1)
    layout:  reference_model.layout.SequenceLayout | PackedLayout: segment shapes, levels and the attention rule
    t:       (B,) global time in [0, 1] (a 0-dim tensor means one time for the whole batch); packed: one per sample
    y:       (B,) long class labels, or None for the unconditional (null) label
    output:  "all" returns one velocity per segment, each shaped like its latent; "last" returns only the last
             segment's (the frame being generated), which a model may compute on those tokens only

Attributes:
    null_label: int, the label index that means "no class" (classifier-free guidance feeds it)
    cfg.in_channels, cfg.patch_size, cfg.num_classes: latent channels C, spatial patch size (every segment's h and w
             must divide by it), number of classes (0: unconditional)
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class VelocityModel(Protocol):
    """Structural type of a model under test (see the module docstring for shapes and conventions)."""

    null_label: int

    def __call__(self, latents: list[torch.Tensor], layout, t: torch.Tensor, y: torch.Tensor | None = None,
                 output: str = "all") -> list[torch.Tensor]: ...


REQUIRED_CFG = ("in_channels", "patch_size", "num_classes")


def check_velocity_model(model, where: str = "model") -> None:
    """Raise TypeError naming what ``model`` lacks to satisfy the protocol (``where`` names its source)."""
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"{where}: returned {type(model).__name__}, not a torch.nn.Module implementing the velocity "
                        f"protocol (reference_model/protocol.py)")
    missing = [name for name in ("null_label", "cfg") if not hasattr(model, name)]
    cfg = getattr(model, "cfg", None)
    missing += [f"cfg.{name}" for name in REQUIRED_CFG if cfg is not None and not hasattr(cfg, name)]
    if missing:
        raise TypeError(f"{where}: {type(model).__name__} lacks {', '.join(missing)} required by the velocity "
                        f"protocol (reference_model/protocol.py)")
