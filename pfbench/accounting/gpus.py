"""Peak dense FLOP/s of common GPUs per precision, each with its public source.

Peaks are the vendors' *dense* (non-sparse) tensor-core numbers; NVIDIA datasheets print the 2:4-sparsity figure
with an asterisk, the dense figure is half of it. GeForce peaks are the "FP32 accumulate" rows of the architecture
whitepapers (PyTorch accumulates fp16/bf16 matmuls in fp32). MFU divides by these numbers, so a wrong peak is a
wrong MFU: check `source` before quoting one.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class GpuSpec:
    """One accelerator: peak dense FLOP/s per precision (None = no such tensor path / unknown)."""

    name: str
    match: tuple[str, ...]              # all these name tokens must appear (upper case)
    bf16_flops_per_s: float | None
    fp16_flops_per_s: float | None
    tf32_flops_per_s: float | None
    fp32_flops_per_s: float | None      # plain FP32 (CUDA cores), used when TF32 is off
    source: str
    exclude: tuple[str, ...] = ()       # none of these tokens may appear


_A100 = "NVIDIA A100 Tensor Core GPU datasheet (dense; sparse figures are 2x)"
_H100 = "NVIDIA H100 Tensor Core GPU datasheet (sparse figures halved)"
_H200 = "NVIDIA H200 Tensor Core GPU datasheet (sparse figures halved)"
_ADA = "NVIDIA Ada GPU Architecture whitepaper, Appendix A (dense, FP32 accumulate)"
_GA102 = "NVIDIA Ampere GA102 GPU Architecture whitepaper, Appendix A (dense, FP32 accumulate)"
_V100 = "NVIDIA Tesla V100 datasheet (FP16 tensor 'deep learning' peak; no BF16/TF32)"

# Order matters: the first entry whose tokens match wins, so specific variants come before generic ones.
GPU_SPECS: tuple[GpuSpec, ...] = (
    GpuSpec("H100 NVL", ("H100", "NVL"), 835.5e12, 835.5e12, 417.5e12, 60e12, _H100 + ", H100 NVL column"),
    GpuSpec("H100 PCIe", ("H100", "PCIE"), 756e12, 756e12, 378e12, 51e12, _H100 + ", H100 PCIe column"),
    GpuSpec("H100 SXM", ("H100",), 989e12, 989e12, 494.5e12, 67e12, _H100 + ", H100 SXM column"),
    GpuSpec("H200 NVL", ("H200", "NVL"), 835.5e12, 835.5e12, 417.5e12, 60e12, _H200 + ", H200 NVL column"),
    GpuSpec("H200", ("H200",), 989e12, 989e12, 494.5e12, 67e12, _H200 + ", H200 SXM column"),
    GpuSpec("GH200", ("GH200",), 989e12, 989e12, 494.5e12, 67e12,
            "NVIDIA GH200 Grace Hopper Superchip datasheet (sparse figures halved)"),
    GpuSpec("A100 PCIe 80GB", ("A100", "PCIE", "80GB"), 312e12, 312e12, 156e12, 19.5e12, _A100),
    GpuSpec("A100 PCIe 40GB", ("A100", "PCIE"), 312e12, 312e12, 156e12, 19.5e12, _A100),
    GpuSpec("A100 SXM 80GB", ("A100", "80GB"), 312e12, 312e12, 156e12, 19.5e12, _A100),
    GpuSpec("A100 SXM 40GB", ("A100",), 312e12, 312e12, 156e12, 19.5e12, _A100),
    GpuSpec("L40S", ("L40S",), 362.05e12, 362.05e12, 183e12, 91.6e12,
            "NVIDIA L40S datasheet (dense column of 'dense | sparse')"),
    GpuSpec("L4", ("L4",), 121e12, 121e12, 60e12, 30.3e12,
            "NVIDIA L4 datasheet (sparse figures halved)"),
    GpuSpec("A10G", ("A10G",), 125e12, 125e12, 62.5e12, 31.2e12,
            "APPROXIMATE: AWS-only A10 variant with no NVIDIA datasheet; NVIDIA A10 datasheet dense figures used"),
    GpuSpec("A10", ("A10",), 125e12, 125e12, 62.5e12, 31.2e12,
            "NVIDIA A10 datasheet (dense column of 'dense | sparse')"),
    GpuSpec("RTX 4090", ("RTX", "4090"), 165.2e12, 165.2e12, 82.6e12, 82.6e12, _ADA + ", GeForce RTX 4090",
            exclude=("D", "LAPTOP")),
    GpuSpec("RTX 3090", ("RTX", "3090"), 71e12, 71e12, 35.6e12, 35.6e12, _GA102 + ", GeForce RTX 3090",
            exclude=("TI", "LAPTOP")),
    GpuSpec("V100S PCIe", ("V100S",), None, 130e12, None, 16.4e12, _V100 + ", V100S PCIe column"),
    GpuSpec("V100 PCIe", ("V100", "PCIE"), None, 112e12, None, 14e12, _V100 + ", V100 PCIe column"),
    GpuSpec("V100 SXM2", ("V100",), None, 125e12, None, 15.7e12, _V100 + ", V100 SXM2 column"),
    GpuSpec("cpu", ("CPU",), None, None, None, None,
            "no peak recorded: CPU peaks depend on the SKU, clocks and vector units; pass one to mfu() if known"),
)


def _tokens(name: str) -> set[str]:
    return set(re.split(r"[^0-9A-Z]+", name.upper())) - {""}


def lookup_gpu(name: str) -> GpuSpec | None:
    """The spec for a `torch.cuda.get_device_name()` string (e.g. "NVIDIA H100 80GB HBM3"), or None if unknown."""
    tokens = _tokens(name)
    for spec in GPU_SPECS:
        if set(spec.match) <= tokens and not (set(spec.exclude) & tokens):
            return spec
    return None


_PRECISIONS = {
    "bf16": "bf16", "bfloat16": "bf16",
    "fp16": "fp16", "float16": "fp16", "half": "fp16",
    "fp32": "fp32", "float32": "fp32", "float": "fp32",
    "tf32": "tf32",
}


def peak_precision(dtype: torch.dtype | str, *, allow_tf32: bool = False, fp32_mode: str | None = None) -> str | None:
    """Which peak column applies: "bf16", "fp16", "tf32" or "fp32"; None if none.

    fp32 matmuls take the column of how they run: ``fp32_mode`` ("fp32" | "tf32" | "bf16", see
    ``fp32_matmul_mode``), or TF32 when ``allow_tf32`` is True.
    """
    key = str(dtype).removeprefix("torch.").lower()
    precision = _PRECISIONS.get(key)
    if precision == "fp32":
        if fp32_mode == "bf16":
            return "bf16"
        if fp32_mode == "tf32" or allow_tf32:
            return "tf32"
    return precision


def peak_flops(device_name: str, dtype: torch.dtype | str, *, allow_tf32: bool = False,
               fp32_mode: str | None = None) -> float | None:
    """Peak dense FLOP/s of `device_name` at `dtype`; None when the device or precision has no recorded peak.

    fp32 uses the TF32 tensor-core peak only when `allow_tf32` is True or `fp32_mode` is "tf32", and the bf16 peak
    when `fp32_mode` is "bf16" (pass `fp32_matmul_mode()` to follow torch's current setting); a GPU without TF32
    (V100) falls back to its plain fp32 peak.
    """
    spec = lookup_gpu(device_name)
    precision = peak_precision(dtype, allow_tf32=allow_tf32, fp32_mode=fp32_mode)
    if spec is None or precision is None:
        return None
    value = getattr(spec, f"{precision}_flops_per_s")
    fp32_input = _PRECISIONS.get(str(dtype).removeprefix("torch.").lower()) == "fp32"
    if value is None and fp32_input:  # the GPU lacks that tensor path (V100): the next one down
        value = spec.tf32_flops_per_s or spec.fp32_flops_per_s
    return value
