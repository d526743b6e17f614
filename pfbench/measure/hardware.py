"""The machine a number was measured on (CPU model, GPU and driver, precision settings) and autocast for a dtype."""
from __future__ import annotations

import os
import platform

import torch

from pfbench.accounting.gpus import peak_flops, peak_precision


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
