"""GPU name lookup, peak FLOP/s columns and machine_info on a CPU-only machine."""

import pytest
import torch

from pfbench.accounting.gpus import GPU_SPECS, lookup_gpu, peak_flops, peak_precision
from pfbench.measure.hardware import machine_info


@pytest.mark.parametrize("device_name, expected", [
    ("NVIDIA H100 80GB HBM3", "H100 SXM"),
    ("NVIDIA H100 PCIe", "H100 PCIe"),
    ("NVIDIA H100 NVL", "H100 NVL"),
    ("NVIDIA H200", "H200"),
    ("NVIDIA GH200 480GB", "GH200"),
    ("NVIDIA A100-SXM4-80GB", "A100 SXM 80GB"),
    ("NVIDIA A100-SXM4-40GB", "A100 SXM 40GB"),
    ("NVIDIA A100-PCIE-40GB", "A100 PCIe 40GB"),
    ("NVIDIA A100 80GB PCIe", "A100 PCIe 80GB"),
    ("NVIDIA GeForce RTX 4090", "RTX 4090"),
    ("NVIDIA GeForce RTX 3090", "RTX 3090"),
    ("NVIDIA L40S", "L40S"),
    ("NVIDIA L4", "L4"),
    ("NVIDIA A10G", "A10G"),
    ("NVIDIA A10", "A10"),
    ("Tesla V100-SXM2-16GB", "V100 SXM2"),
    ("Tesla V100-PCIE-32GB", "V100 PCIe"),
    ("cpu", "cpu"),
])
def test_lookup_gpu_matches_device_name_strings(device_name, expected):
    spec = lookup_gpu(device_name)
    assert spec is not None and spec.name == expected


@pytest.mark.parametrize("device_name", ["NVIDIA GeForce RTX 3090 Ti", "NVIDIA L40", "NVIDIA GeForce RTX 4090 D",
                                         "Some Future GPU", ""])
def test_lookup_gpu_unknown_is_none(device_name):
    assert lookup_gpu(device_name) is None


def test_peak_flops_columns():
    assert peak_flops("NVIDIA A100-SXM4-80GB", torch.bfloat16) == 312e12
    assert peak_flops("NVIDIA A100-SXM4-80GB", "fp32") == 19.5e12
    assert peak_flops("NVIDIA A100-SXM4-80GB", torch.float32, allow_tf32=True) == 156e12
    assert peak_flops("NVIDIA H100 80GB HBM3", "bf16") == 989e12
    assert peak_flops("NVIDIA H100 PCIe", "bfloat16") == 756e12
    assert peak_flops("NVIDIA H200", torch.bfloat16) == 989e12
    assert peak_flops("NVIDIA L40S", torch.bfloat16) == pytest.approx(362e12, rel=1e-3)
    assert peak_flops("NVIDIA GeForce RTX 4090", torch.bfloat16) == pytest.approx(165e12, rel=1e-2)
    assert peak_flops("Tesla V100-SXM2-16GB", torch.float16) == 125e12
    assert peak_flops("Tesla V100-SXM2-16GB", torch.bfloat16) is None          # no bf16 tensor cores
    assert peak_flops("Tesla V100-SXM2-16GB", torch.float32, allow_tf32=True) == 15.7e12  # no TF32: plain fp32
    assert peak_flops("cpu", torch.float32) is None
    assert peak_flops("NVIDIA H100 80GB HBM3", torch.float64) is None
    assert peak_precision(torch.float32, allow_tf32=True) == "tf32"
    assert peak_precision("torch.bfloat16") == "bf16"


def test_every_spec_is_sane():
    for spec in GPU_SPECS:
        assert spec.source
        peaks = [spec.bf16_flops_per_s, spec.fp16_flops_per_s, spec.tf32_flops_per_s, spec.fp32_flops_per_s]
        assert all(p is None or 1e12 < p < 5e15 for p in peaks), spec.name


def test_machine_info_on_cpu_has_documented_keys():
    info = machine_info("cpu", torch.float32)
    keys = {"device", "dtype", "torch_version", "cuda_version", "cudnn_version", "gpu_name", "gpu_driver_version",
            "gpu_count", "gpu_compute_capability", "gpu_total_memory_bytes", "tf32_matmul", "tf32_cudnn",
            "float32_matmul_precision", "peak_precision", "peak_flops_per_s", "cpu_model", "cpu_count_physical",
            "cpu_count_logical", "torch_num_threads", "platform", "python_version"}
    assert keys <= set(info)
    assert info["device"] == "cpu" and info["dtype"] == "float32"
    assert info["torch_version"] == torch.__version__
    assert info["torch_num_threads"] == torch.get_num_threads()
    assert info["peak_flops_per_s"] is None
    if not torch.cuda.is_available():
        assert info["gpu_name"] is None and info["gpu_driver_version"] is None and info["gpu_count"] == 0


@pytest.mark.parametrize("precision,mode", [("highest", "fp32"), ("high", "tf32"), ("medium", "bf16")])
def test_fp32_matmul_mode_does_not_read_medium_as_tf32(precision, mode):
    """'medium' may run fp32 matmuls in bf16 (and torch then reports allow_tf32 = True): dividing by the TF32 peak
    would overstate fp32 MFU ~2x, so it takes the bf16 peak."""
    from pfbench.measure.hardware import fp32_matmul_mode, tf32_enabled
    before = torch.get_float32_matmul_precision()
    try:
        torch.set_float32_matmul_precision(precision)
        assert fp32_matmul_mode() == mode and tf32_enabled() == (mode == "tf32")
        peak = peak_flops("NVIDIA H100 80GB HBM3", torch.float32, fp32_mode=fp32_matmul_mode())
        assert peak == {"fp32": 67e12, "tf32": 494.5e12, "bf16": 989e12}[mode]
        assert machine_info("cpu")["fp32_matmul_mode"] == mode
    finally:
        torch.set_float32_matmul_precision(before)
    assert peak_flops("Tesla V100-SXM2-16GB", torch.float32, fp32_mode="bf16") == 15.7e12  # no bf16: plain fp32
