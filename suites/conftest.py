"""Shared options and fixtures of the benchmark suites.

Options: --pf-config (the run's config.json; `pfbench run` passes it, and every suite then measures with the
run's stored, resolved preset and overrides, also on --resume), --pf-preset (used without --pf-config: default
smoke when pytest is run by hand, with $PFBENCH_MEMORY_BUDGET_GIB applied), --pf-device (cpu | cuda | cuda:N),
--pf-run-dir (where tidy rows go; without it rows are only printed).
The machine_info hook records torch/CUDA versions, GPU name, driver, dtype and TF32 flags in the
pytest-benchmark JSON.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from pfbench.core.config import preset_from_dict, suite_config
from pfbench.measure.hardware import machine_info as pf_machine_info
from pfbench.measure.machine_load import MachineProbe
from pfbench.results.rows import append_rows

SUITE_OF_MODULE = {"test_tokens": "tokens", "test_throughput": "throughput", "test_memory": "memory",
                   "test_fid_convergence": "fid", "test_vbench": "vbench", "test_ablations": "ablations", "test_scaling": "scaling",
                   "test_ar_per_frame": "ar_per_frame", "test_card_savings": "cards",
                   "test_diffusers_models": "models"}


def pytest_addoption(parser):
    group = parser.getgroup("pfbench")
    group.addoption("--pf-config", default=os.environ.get("PFBENCH_CONFIG"),
                    help="a run's config.json (written by `pfbench run`); wins over --pf-preset")
    group.addoption("--pf-preset", default=os.environ.get("PFBENCH_PRESET", "smoke"),
                    help="pfbench preset name (smoke, cpu, gpu, ...)")
    group.addoption("--pf-device", default=os.environ.get("PFBENCH_DEVICE", "cpu"), help="cpu | cuda | cuda:N")
    group.addoption("--pf-run-dir", default=os.environ.get("PFBENCH_RUN_DIR"),
                    help="run folder for tidy rows (rows/<suite>.jsonl)")


def _device(config) -> str:
    device = config.getoption("--pf-device")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise pytest.UsageError(f"--pf-device {device}: CUDA is not available on this machine; use --pf-device cpu")
    return device


def _run_config(config) -> dict:
    """The run's config (stored config.json, or the --pf-preset preset with environment overrides)."""
    try:
        return suite_config(config.getoption("--pf-config"), config.getoption("--pf-preset"), os.environ)
    except ValueError as err:
        raise pytest.UsageError(str(err)) from None


def pytest_benchmark_update_machine_info(config, machine_info: dict):  # noqa: F811 - pytest-benchmark hook
    preset = preset_from_dict(_run_config(config)["preset"])
    machine_info["pfbench"] = {**pf_machine_info(config.getoption("--pf-device"), preset.dtype), "preset": preset.name}


@pytest.fixture(autouse=True)
def pf_machine_window(request):
    """Every pytest-benchmark test records what else ran meanwhile (load average, the CPU share other processes
    took, steal time) in its extra_info, so each of its timing rows has the machine's state beside it."""
    if "benchmark" not in request.fixturenames:
        yield
        return
    bench = request.getfixturevalue("benchmark")  # its extra_info dict is the one the JSON is written from
    with MachineProbe() as probe:
        yield
    machine = probe.window
    bench.extra_info.update(machine_load_average=machine.load_average, machine_cores=machine.cores,
                            machine_others_cpu_share=machine.others_share, machine_steal_share=machine.steal_share)


@pytest.fixture(scope="session")
def pf_config(pytestconfig) -> dict:
    """The run's config: ``preset`` (resolved, overrides applied) and ``overrides`` ({field: value} from the
    environment when the run started), plus whatever else `pfbench run` stored in config.json."""
    return _run_config(pytestconfig)


@pytest.fixture(scope="session")
def pf_preset(pf_config):
    return preset_from_dict(pf_config["preset"])


@pytest.fixture(scope="session")
def pf_device(pytestconfig) -> str:
    return _device(pytestconfig)


@pytest.fixture(scope="session")
def pf_dtype(pf_preset, pf_device) -> torch.dtype:
    """The preset's compute dtype; reduced precision only on CUDA (CPU runs are fp32)."""
    if not pf_device.startswith("cuda"):
        return torch.float32
    return getattr(torch, pf_preset.dtype)


@pytest.fixture(scope="session")
def pf_seed() -> int:
    return int(os.environ.get("PFBENCH_SEED", "0"))


@pytest.fixture(scope="session")
def pf_train_dir(pytestconfig):
    """folder(suite, name) -> RUN/train/<suite>/<name>, a resumable training run folder (pfbench.train), so that
    `pfbench run --resume` continues an interrupted experiment; None without --pf-run-dir (nothing kept)."""
    run_dir = pytestconfig.getoption("--pf-run-dir")

    def folder(suite: str, name: str) -> Path | None:
        return Path(run_dir) / "train" / suite / name.replace("/", "_").replace(":", "-") if run_dir else None

    return folder


@pytest.fixture
def pf_record(request, pytestconfig):
    """Record tidy rows: pf_record([{case, variant, metric, value, unit, ...}, ...])."""
    run_dir = pytestconfig.getoption("--pf-run-dir")
    module = Path(request.node.fspath).stem
    suite = os.environ.get("PFBENCH_SUITE") or SUITE_OF_MODULE.get(module, module)

    def record(rows: list[dict]) -> None:
        rows = list(rows)
        if run_dir:
            append_rows(run_dir, suite, rows)
        for row in rows:
            value = row.get("value")
            shown = f"{value:.6g}" if isinstance(value, (int, float)) else value
            print(f"[{suite}] {row.get('case')} {row.get('variant', '')} {row['metric']} = {shown} "
                  f"{row.get('unit', '')} {row.get('backend', '')} {row.get('status', '')} {row.get('note', '')}")

    return record
