"""Peak dense FLOP/s of common GPUs and a description of the machine a number was measured on.

Peaks are the vendors' *dense* (non-sparse) tensor-core numbers; NVIDIA datasheets print the 2:4-sparsity
figure with an asterisk, the dense figure is half of it. GeForce peaks are the "FP32 accumulate" rows of the
architecture whitepapers (PyTorch accumulates fp16/bf16 matmuls in fp32). Each entry records its source.
MFU divides by these numbers, so a wrong peak is a wrong MFU: check `source` before quoting one.
"""

from __future__ import annotations

import os
import platform
import re
from dataclasses import dataclass

import torch

__all__ = [
    "GpuSpec", "GPU_SPECS", "lookup_gpu", "peak_precision", "peak_flops", "fp32_matmul_mode", "tf32_enabled",
    "machine_info", "device_name", "autocast",
]


def device_name(device: str) -> str:
    """``torch.cuda.get_device_name`` of a CUDA device string ("cuda", "cuda:1"), "cpu" for anything else."""
    if str(device).startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.device(device))
    return "cpu"


def autocast(device: str, dtype: torch.dtype):
    """The mixed-precision context a suite runs its model under: CUDA autocast at a reduced ``dtype``; nothing on
    CPU or at float32 (CPU runs are fp32)."""
    import contextlib

    if str(device).startswith("cuda") and dtype != torch.float32:
        return torch.autocast(device_type="cuda", dtype=dtype)
    return contextlib.nullcontext()


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


def fp32_matmul_mode() -> str:
    """How torch may run fp32 CUDA matmuls now: "fp32" (IEEE), "tf32", or "bf16".

    float32 matmul precision "high" (or allow_tf32) means TF32. "medium" lets torch use bfloat16 internally
    where a fast kernel exists, and torch then also reports allow_tf32 = True; reading it as TF32 would divide by
    half the right peak and overstate fp32 MFU about 2x, so "medium" takes the bf16 peak (MFU a lower bound).
    """
    precision = torch.get_float32_matmul_precision()
    if precision == "medium":
        return "bf16"
    if precision == "high" or torch.backends.cuda.matmul.allow_tf32:
        return "tf32"
    return "fp32"


def tf32_enabled() -> bool:
    """True when fp32 CUDA matmuls run on TF32 tensor cores (precision "high" / allow_tf32; not "medium")."""
    return fp32_matmul_mode() == "tf32"


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _nvml_driver_version() -> str | None:
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            version = pynvml.nvmlSystemGetDriverVersion()
            return version.decode() if isinstance(version, bytes) else version
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # no pynvml, no driver, no GPU: the field stays None
        return None


def _gpu_info(device: torch.device) -> dict:
    empty = dict(gpu_name=None, gpu_compute_capability=None, gpu_total_memory_bytes=None, gpu_count=0)
    if not torch.cuda.is_available():
        return empty
    try:
        index = device.index if device.type == "cuda" and device.index is not None else torch.cuda.current_device()
        props = torch.cuda.get_device_properties(index)
        return dict(gpu_name=props.name, gpu_compute_capability=f"{props.major}.{props.minor}",
                    gpu_total_memory_bytes=int(props.total_memory), gpu_count=torch.cuda.device_count())
    except Exception:
        return empty


def machine_info(device: str | torch.device = "cpu", dtype: torch.dtype | str = torch.float32) -> dict:
    """A flat dict describing the software and hardware a measurement ran on. Never raises; unknowns are None.

    Keys: device, dtype, torch_version, cuda_version, cudnn_version, gpu_name, gpu_driver_version, gpu_count,
    gpu_compute_capability, gpu_total_memory_bytes, tf32_matmul, tf32_cudnn, float32_matmul_precision,
    fp32_matmul_mode, peak_precision, peak_flops_per_s, cpu_model, cpu_count_physical, cpu_count_logical,
    torch_num_threads, platform, python_version.
    """
    device = torch.device(device)
    try:
        cudnn_version = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    except Exception:
        cudnn_version = None
    try:
        import psutil

        physical = psutil.cpu_count(logical=False)
    except Exception:
        physical = None
    gpu = _gpu_info(device)
    on_gpu = device.type == "cuda" and gpu["gpu_name"] is not None
    fp32_mode = fp32_matmul_mode()
    return dict(
        device=str(device),
        dtype=str(dtype).removeprefix("torch."),
        torch_version=torch.__version__,
        cuda_version=torch.version.cuda,
        cudnn_version=cudnn_version,
        **gpu,
        gpu_driver_version=_nvml_driver_version() if gpu["gpu_name"] else None,
        tf32_matmul=bool(torch.backends.cuda.matmul.allow_tf32),
        tf32_cudnn=bool(torch.backends.cudnn.allow_tf32),
        float32_matmul_precision=torch.get_float32_matmul_precision(),
        fp32_matmul_mode=fp32_mode,
        peak_precision=peak_precision(dtype, fp32_mode=fp32_mode if on_gpu else "fp32"),
        peak_flops_per_s=peak_flops(gpu["gpu_name"], dtype, fp32_mode=fp32_mode) if on_gpu else None,
        cpu_model=_cpu_model(),
        cpu_count_physical=physical,
        cpu_count_logical=os.cpu_count(),
        torch_num_threads=torch.get_num_threads(),
        platform=platform.platform(),
        python_version=platform.python_version(),
    )
