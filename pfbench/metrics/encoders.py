"""Image encoders for the consistency and aesthetic dimensions, loaded offline through `transformers`.

VBench uses DINO ViT-B/16 (subject consistency), CLIP ViT-B/32 (background consistency) and CLIP ViT-L/14
(aesthetic quality, with the LAION linear head). Here they load from local folders
(``--weights-dir DIR`` holding DIR/dino-vitb16, DIR/clip-vit-base-patch32, DIR/clip-vit-large-patch14,
each a ``save_pretrained`` folder) or from an existing Hugging Face cache with local_files_only=True.
Nothing downloads: a missing model raises ``WeightsMissing`` whose message says how to enable it.
Preprocessing follows VBench (see docs/METRICS.md) and runs batched on the encoder's device.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class WeightsMissing(Exception):
    """Weights for a dimension are not available offline; ``str(err)`` says which and how to enable them."""


@dataclass(frozen=True)
class EncoderSpec:
    """Where a model's weights live: a folder name under --weights-dir and the Hub id for an offline cache."""

    key: str          # folder name under --weights-dir, also the encoder's name
    hub_id: str       # Hugging Face repository id (used only with an existing local cache)
    kind: str         # "dino" (ViTModel, CLS token) | "clip" (CLIP image embedding)
    label: str        # what a person calls it


ENCODERS: dict[str, EncoderSpec] = {
    "dino-vitb16": EncoderSpec("dino-vitb16", "facebook/dino-vitb16", "dino", "DINO ViT-B/16"),
    "clip-vit-base-patch32": EncoderSpec("clip-vit-base-patch32", "openai/clip-vit-base-patch32", "clip",
                                         "CLIP ViT-B/32"),
    "clip-vit-large-patch14": EncoderSpec("clip-vit-large-patch14", "openai/clip-vit-large-patch14", "clip",
                                          "CLIP ViT-L/14"),
}


def enable_hint(spec: EncoderSpec) -> str:
    return (f"needs {spec.label} weights; pass --weights-dir DIR with DIR/{spec.key} (a transformers folder, "
            f"e.g. from {spec.hub_id}.save_pretrained) or pre-populate the Hugging Face cache with {spec.hub_id}")


def resolve_model_source(spec: EncoderSpec, weights_dir: str | Path | None) -> tuple[str, str]:
    """(path or hub id, where) for a model available offline; raises ``WeightsMissing`` otherwise."""
    if weights_dir is not None:
        folder = Path(weights_dir) / spec.key
        if (folder / "config.json").is_file():
            return str(folder), f"folder:{folder}"
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(spec.hub_id, "config.json")
        if isinstance(cached, str) and Path(cached).is_file():
            return spec.hub_id, f"hf-cache:{spec.hub_id}"
    except Exception:  # no hub library or an unreadable cache: treat as absent
        pass
    raise WeightsMissing(enable_hint(spec))


def _to_float_batch(frames, device: str):
    """(N, H, W, 3) uint8 numpy frames, or an (N, 3, H, W) uint8 torch batch -> (N, 3, H, W) float in [0, 255]."""
    import torch

    if isinstance(frames, torch.Tensor):
        return frames.to(device).float()  # (N, 3, H, W)
    x = torch.from_numpy(np.ascontiguousarray(frames)).to(device)  # (N, H, W, 3) uint8
    return x.permute(0, 3, 1, 2).float()  # (N, 3, H, W) float in [0, 255]


def _resize_short(x, size: int, mode: str):
    """Resize so the shorter side is ``size`` (torchvision Resize(int) semantics, no antialias as in VBench)."""
    import torch.nn.functional as F

    h, w = x.shape[-2:]
    if h <= w:
        nh, nw = size, int(size * w / h)
    else:
        nh, nw = int(size * h / w), size
    return F.interpolate(x, size=(nh, nw), mode=mode, align_corners=False)


def dino_preprocess(frames: np.ndarray, device: str = "cpu", size: int = 224):
    """VBench's DINO transform: short side -> 224 (bilinear, no crop), /255, ImageNet mean/std."""
    import torch

    x = _resize_short(_to_float_batch(frames, device), size, "bilinear") / 255.0  # (N, 3, 224, W')
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
    return (x - mean) / std


def clip_preprocess(frames: np.ndarray, device: str = "cpu", size: int = 224):
    """VBench's CLIP transform: short side -> 224 (bicubic), centre crop 224, /255, CLIP mean/std."""
    import torch

    x = _resize_short(_to_float_batch(frames, device), size, "bicubic")  # (N, 3, h, w)
    h, w = x.shape[-2:]
    top, left = int(round((h - size) / 2.0)), int(round((w - size) / 2.0))
    x = x[..., top:top + size, left:left + size].clamp(0, 255) / 255.0  # (N, 3, 224, 224)
    mean = torch.tensor(CLIP_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD, device=device).view(1, 3, 1, 1)
    return (x - mean) / std


class Encoder:
    """Frames -> features: ``encoder(frames (N, H, W, 3) uint8) -> (N, D) float32 torch tensor`` (on CPU).

    DINO gives the final-norm CLS token; CLIP gives the projected image embedding. Batches of
    ``batch_size`` run on ``device``; nothing is L2-normalised here (the metrics do it).
    """

    def __init__(self, spec: EncoderSpec, weights_dir: str | Path | None = None, device: str = "cpu",
                 batch_size: int = 32):
        import torch

        self.spec, self.device, self.batch_size = spec, device, batch_size
        source, where = resolve_model_source(spec, weights_dir)
        local = {"local_files_only": True}
        if spec.kind == "dino":
            from transformers import ViTModel

            self.model = ViTModel.from_pretrained(source, add_pooling_layer=False, **local)
            self.projection = None
        else:
            from transformers import CLIPModel

            clip = CLIPModel.from_pretrained(source, **local)
            self.model, self.projection = clip.vision_model, clip.visual_projection
            del clip  # the text tower is not needed
        self.model.eval().to(device)
        if self.projection is not None:
            self.projection.eval().to(device)
        self.name = spec.key
        self.backend = f"transformers:{spec.key}"
        self.source = where
        self._torch = torch

    @property
    def dim(self) -> int:
        if self.projection is not None:
            return int(self.projection.out_features)
        return int(self.model.config.hidden_size)

    def __call__(self, frames: np.ndarray):
        torch = self._torch
        outs = []
        with torch.inference_mode():
            for s in range(0, len(frames), self.batch_size):
                batch = frames[s:s + self.batch_size]
                if self.spec.kind == "dino":
                    x = dino_preprocess(batch, self.device)  # (B, 3, 224, W')
                    h = self.model(pixel_values=x, interpolate_pos_encoding=True).last_hidden_state
                    feats = h[:, 0]  # (B, D) CLS token after the final layer norm
                else:
                    x = clip_preprocess(batch, self.device)  # (B, 3, 224, 224)
                    pooled = self.model(pixel_values=x).pooler_output  # (B, width)
                    feats = self.projection(pooled)  # (B, D)
                outs.append(feats.float().cpu())
        return torch.cat(outs)  # (N, D) float32


def load_encoder(key: str, weights_dir: str | Path | None = None, device: str = "cpu",
                 batch_size: int = 32) -> Encoder:
    """The encoder registered as ``key`` (see ``ENCODERS``), loaded offline; raises ``WeightsMissing``."""
    if key not in ENCODERS:
        raise ValueError(f"unknown encoder {key!r}: choose one of {', '.join(ENCODERS)}")
    return Encoder(ENCODERS[key], weights_dir, device, batch_size)


# ----------------------------------------------------------------------------------------------- aesthetic head

AESTHETIC_HEAD_FILES = ("sa_0_4_vit_l_14_linear.pth", "laion-aesthetic/sa_0_4_vit_l_14_linear.pth",
                        "aesthetic/sa_0_4_vit_l_14_linear.pth")
AESTHETIC_HINT = ("needs the LAION aesthetic linear head; pass --weights-dir DIR with "
                  "DIR/laion-aesthetic/sa_0_4_vit_l_14_linear.pth (a state dict of nn.Linear(768, 1))")


def load_aesthetic_head(weights_dir: str | Path | None, device: str = "cpu"):
    """LAION's linear aesthetic predictor (nn.Linear(D, 1)) from a local .pth state dict."""
    import torch

    if weights_dir is None:
        raise WeightsMissing(AESTHETIC_HINT)
    for rel in AESTHETIC_HEAD_FILES:
        path = Path(weights_dir) / rel
        if path.is_file():
            from pfbench.core.safe_load import safe_torch_load
            state = safe_torch_load(path, "aesthetic head", AESTHETIC_HINT)
            state = {k.split(".")[-1]: v for k, v in state.items()}  # accept "linear.weight" or "weight"
            if set(state) != {"weight", "bias"}:
                raise ValueError(f"{path}: expected an nn.Linear state dict (weight, bias), got keys {sorted(state)}")
            out_f, in_f = state["weight"].shape
            head = torch.nn.Linear(in_f, out_f)
            head.load_state_dict(state)
            return head.eval().to(device)
    raise WeightsMissing(AESTHETIC_HINT)
