"""The velocity protocol around a diffusers video transformer.

pfbench's convention (reference_model/protocol.py): t = 0 noise, t = 1 data, the model returns d x / d t = data -
noise. A diffusers flow-matching video transformer is fed ``timestep = 1000 sigma`` with sigma = 1 - t and predicts
noise - data (d x / d sigma), so an adapter maps the time in and flips the sign out; a family whose own scale differs
(Mochi's inverted sigmas, CogVideoX's v-prediction) overrides ``timestep`` / ``velocity``. Text conditioning is a
fixed tensor of the card's text length and width (zeros, or seeded Gaussian): pfbench measures cost, not prompts.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class AdapterConfig:
    """What the samplers read off a model (``model.cfg``): latent channels, spatial / temporal patch, no classes."""

    in_channels: int
    patch_size: int
    patch_t: int = 1
    num_classes: int = 0


def text_tensor(shape: tuple[int, ...], text: str, seed: int, device, dtype) -> torch.Tensor:
    """Stand-in text conditioning: 'zeros' or 'random' (N(0, 1), seeded on the CPU so every device agrees)."""
    if text not in ("zeros", "random"):
        raise ValueError(f"text conditioning {text!r}: choose 'zeros' or 'random'")
    if torch.device(device).type == "meta":
        return torch.zeros(shape, device="meta", dtype=dtype)
    if text == "zeros":
        return torch.zeros(shape, device=device, dtype=dtype)
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=gen).to(device=device, dtype=dtype)


class DiffusersVelocity(torch.nn.Module):
    """A diffusers video transformer as a pfbench velocity model (one whole-clip segment per call).

    Subclasses name the diffusers class (``class_name``), read the patch off its config (``patch``) and call it
    (``predict``); the default time map and sign are the flow-matching ones described in the module docstring.
    """

    family = ""
    class_name = ""
    time_scale = "timestep = 1000 (1 - t); velocity = -prediction (noise - data)"

    def __init__(self, transformer: torch.nn.Module, text_tokens: int, text: str = "zeros", seed: int = 0,
                 vae: tuple[int, int] = (4, 8)):
        super().__init__()
        self.transformer = transformer
        self.vae = vae   # (temporal, spatial) compression, for models whose positions are in pixel units
        p_t, p = self.patch(transformer.config)
        self.cfg = AdapterConfig(in_channels=transformer.config.in_channels, patch_size=p, patch_t=p_t)
        self.null_label = 0
        self.text_tokens, self.text_mode, self.seed = text_tokens, text, seed
        param = next(transformer.parameters())
        self.register_buffer("text", text_tensor((1, text_tokens, self.text_dim(transformer.config)), text, seed,
                                                 param.device, param.dtype), persistent=False)  # (1, Nt, Dtext)

    # ---- family hooks -------------------------------------------------------------------------------------
    @staticmethod
    def patch(config) -> tuple[int, int]:
        """(temporal, spatial) patch of the transformer."""
        raise NotImplementedError

    @staticmethod
    def text_dim(config) -> int:
        return config.text_embed_dim

    def predict(self, x: torch.Tensor, timestep: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """The transformer's own output for latents x (B, C, T, h, w) -> (B, C, T, h, w)."""
        raise NotImplementedError

    @staticmethod
    def reduce(config: dict, layers: int, heads: int, head_dim: int, text_dim: int) -> dict:
        """The same class with fewer layers / heads, narrower heads and text input (for CPU measurements)."""
        raise NotImplementedError

    def timestep(self, t: torch.Tensor) -> torch.Tensor:
        return 1000.0 * (1.0 - t)

    def velocity(self, prediction: torch.Tensor, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return -prediction

    # ---- the protocol -------------------------------------------------------------------------------------
    def forward(self, latents: list[torch.Tensor], layout, t: torch.Tensor, y: torch.Tensor | None = None,
                output: str = "all") -> list[torch.Tensor]:
        x = self.whole_clip(latents, layout)                                 # (B, C, T, h, w)
        B = x.shape[0]
        t = t.reshape(-1).expand(B) if t.numel() == 1 else t                  # (B,)
        text = self.text.expand(B, -1, -1)                                   # (B, Nt, Dtext)
        pred = self.predict(x, self.timestep(t.float()), text)                # (B, C, T, h, w)
        return [self.velocity(pred, x, t.to(pred.dtype).view(B, 1, 1, 1, 1))]

    def whole_clip(self, latents: list[torch.Tensor], layout) -> torch.Tensor:
        """The one latent of a whole-clip layout, checked against the patch."""
        segments = getattr(layout, "segments", None)
        if len(latents) != 1 or (segments is not None and len(segments) != 1):
            raise ValueError(f"{self.class_name}: one whole-clip segment per call (full-sequence or spatial-pyramid "
                             f"sampling); got {len(latents)} latents: these models have no history segments")
        x = latents[0]                                                       # (B, C, T, h, w)
        _, _, T, h, w = x.shape
        if h % self.cfg.patch_size or w % self.cfg.patch_size or T % self.cfg.patch_t:
            raise ValueError(f"{self.class_name}: latent {T}x{h}x{w} does not divide by the patch "
                             f"{self.cfg.patch_t}x{self.cfg.patch_size}x{self.cfg.patch_size}")
        return x

    def describe(self) -> str:
        """The class and the config keys that differ from its defaults, for report rows."""
        import inspect
        config = dict(self.transformer.config)
        defaults = {k: v.default for k, v in inspect.signature(type(self.transformer).__init__).parameters.items()
                    if v.default is not inspect.Parameter.empty}
        changed = {k: v for k, v in config.items() if not k.startswith("_") and k in defaults
                   and _plain(defaults[k]) != _plain(v)}
        args = ", ".join(f"{k}={_plain(v)}" for k, v in sorted(changed.items()))
        return f"{type(self.transformer).__name__}({args}); text {self.text_tokens} tokens ({self.text_mode})"


def _plain(value):
    return list(value) if isinstance(value, (tuple, list)) else value
