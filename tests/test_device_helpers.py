"""One device-name and one autocast helper (pfbench.measure.hardware) for every suite; GpuSpec holds no unused memory."""
from __future__ import annotations

import contextlib
import dataclasses
import warnings

import torch

from pfbench.accounting.gpus import GpuSpec
from pfbench.measure.hardware import autocast, device_name


def test_device_name_and_autocast_on_cpu():
    assert device_name("cpu") == "cpu"
    assert isinstance(autocast("cpu", torch.bfloat16), contextlib.nullcontext)
    assert isinstance(autocast("cuda", torch.float32), contextlib.nullcontext)  # fp32 runs without autocast
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constructing CUDA autocast without a GPU warns and disables itself
        ctx = autocast("cuda:0", torch.bfloat16)
    assert isinstance(ctx, torch.autocast) and ctx.fast_dtype == torch.bfloat16


def test_gpu_spec_has_no_memory_field():
    assert "memory_gib" not in {f.name for f in dataclasses.fields(GpuSpec)}
