"""GPU energy and power over a measured window, from NVML's energy counter (power samples where it has none).

CPU-only machines get a result that says why.
"""
from __future__ import annotations

import statistics
import threading
import time
from dataclasses import dataclass

import torch

# --------------------------------------------------------------------------------------------------- energy


def nvml_index(device: torch.device | str | int) -> int:
    """NVML index of a CUDA device (they differ from CUDA indices under CUDA_VISIBLE_DEVICES)."""
    if isinstance(device, int):
        index = device
    else:
        device = torch.device(device)
        index = device.index if device.index is not None else 0
    try:
        return torch.cuda._get_nvml_device_index(index)  # honours CUDA_VISIBLE_DEVICES
    except Exception:
        return index


@dataclass(frozen=True)
class EnergyResult:
    """Energy and power over a window; numbers are None when unavailable (`reason` says why)."""

    available: bool
    reason: str
    window_s: float
    energy_j: float | None         # difference of nvmlDeviceGetTotalEnergyConsumption (Volta+)
    mean_power_w: float | None     # mean of the power samples (see power_source)
    peak_power_w: float | None     # largest sample: SMOOTHED when power_source is the 1 s average
    n_samples: int
    short_window: bool             # window < min_window_s: the energy counter's 20-100 ms updates dominate
    power_source: str = ""         # which NVML power reading the samples are (instantaneous or ~1 s average)


class EnergyMeter:
    """Context manager: GPU energy (NVML counter difference) and power (sampled every ~20 ms) over the block.

    NVML's energy counter (mJ since driver load) updates every 20-100 ms, so `energy_j` is only meaningful for
    windows of seconds: windows shorter than `min_window_s` are flagged `short_window`. The numbers are for the
    whole GPU (all processes). Without pynvml, a driver or the GPU, `result.available` is False with a reason.

    Power: on recent drivers (Ampere+) `nvmlDeviceGetPowerUsage` is a ~1 s moving average, so a peak taken from it
    is smoothed. Where the driver has the instantaneous field (NVML_FI_DEV_POWER_INSTANT) it is sampled instead;
    `power_source` says which one the numbers are.
    """

    POWER_AVERAGE = "nvmlDeviceGetPowerUsage: ~1 s moving average on recent drivers (peak is smoothed)"
    POWER_INSTANT = "NVML_FI_DEV_POWER_INSTANT: instantaneous power"

    def __init__(self, device_index: int = 0, *, sample_interval_s: float = 0.02, min_window_s: float = 1.0):
        self.device_index = device_index
        self.sample_interval_s = sample_interval_s
        self.min_window_s = min_window_s
        self.result: EnergyResult | None = None
        self._nvml = self._handle = self._thread = None
        self._stop = threading.Event()
        self._power_mw: list[int] = []
        self._energy_start_mj: int | None = None
        self._reason = ""
        self._instant_field: int | None = None

    def __enter__(self) -> EnergyMeter:
        try:
            import pynvml

            pynvml.nvmlInit()
            self._nvml = pynvml
            self._handle = pynvml.nvmlDeviceGetHandleByIndex(self.device_index)
        except Exception as error:  # no pynvml, no driver, no such GPU
            self._reason = f"NVML unavailable: {type(error).__name__}: {error}"
            self._shutdown()
        if self._handle is not None:
            self._energy_start_mj = self._read(self._nvml.nvmlDeviceGetTotalEnergyConsumption)
            if self._energy_start_mj is None:
                self._reason = "energy counter not supported (needs Volta or newer); power samples only"
            field_id = getattr(self._nvml, "NVML_FI_DEV_POWER_INSTANT", None)
            if field_id is not None and self._read_instant(field_id) is not None:
                self._instant_field = field_id
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        window_s = time.perf_counter() - self._t0
        if self._handle is None:
            self.result = EnergyResult(False, self._reason, window_s, None, None, None, 0, window_s < self.min_window_s)
            return
        self._stop.set()
        self._thread.join()
        energy_end_mj = self._read(self._nvml.nvmlDeviceGetTotalEnergyConsumption)
        energy_j = None
        if self._energy_start_mj is not None and energy_end_mj is not None:
            energy_j = (energy_end_mj - self._energy_start_mj) / 1e3
        samples = self._power_mw
        self.result = EnergyResult(
            available=energy_j is not None or bool(samples), reason=self._reason, window_s=window_s,
            energy_j=energy_j, mean_power_w=statistics.fmean(samples) / 1e3 if samples else None,
            peak_power_w=max(samples) / 1e3 if samples else None, n_samples=len(samples),
            short_window=window_s < self.min_window_s,
            power_source=self.POWER_INSTANT if self._instant_field is not None else self.POWER_AVERAGE)
        self._shutdown()

    def _read(self, nvml_fn) -> int | None:
        try:
            return int(nvml_fn(self._handle))
        except Exception:
            return None

    def _read_instant(self, field_id: int) -> int | None:
        """Instantaneous power in mW from nvmlDeviceGetFieldValues, None when the driver does not report it."""
        try:
            value = self._nvml.nvmlDeviceGetFieldValues(self._handle, [field_id])[0]
            return int(value.value.uiVal) if value.nvmlReturn == 0 else None
        except Exception:
            return None

    def _sample(self) -> None:
        while True:
            if self._instant_field is not None:
                power_mw = self._read_instant(self._instant_field)
            else:
                power_mw = self._read(self._nvml.nvmlDeviceGetPowerUsage)
            if power_mw is not None:
                self._power_mw.append(power_mw)
            if self._stop.wait(self.sample_interval_s):
                return

    def _shutdown(self) -> None:
        if self._nvml is not None:
            try:
                self._nvml.nvmlShutdown()
            except Exception:
                pass
        self._nvml = self._handle = None
