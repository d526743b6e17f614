"""Timing waits for queued device work; memory, OOM, energy and FLOP counts on a CPU-only machine."""

import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch
import torch.nn.functional as F

from pfbench.measure.child_rss import is_oom_error, peak_rss_in_child
from pfbench.measure.energy import EnergyMeter
from pfbench.measure.flops import achieved_flops_per_s, count_flops, mfu
from pfbench.measure.memory import GIB, run_catching_oom, track_memory
from pfbench.measure.timing import CpuOps, synchronized, time_fn

# ------------------------------------------------------------------------ a fake asynchronous device


class FakeEvent:
    """Like a CUDA event: record() returns at once; the timestamp is taken when the queue reaches the marker."""

    def __init__(self, device):
        self.device, self.stamp = device, None

    def record(self):
        self.device.launch(0.0, on_done=lambda: setattr(self, "stamp", time.perf_counter()))

    def elapsed_time(self, end):
        return (end.stamp - self.stamp) * 1e3


class FakeAsyncDevice:
    """A device with an in-order queue: launch() returns immediately, work runs on a worker thread."""

    def __init__(self):
        self.last: threading.Thread | None = None

    def launch(self, seconds, on_done=None):
        before = self.last

        def work():
            if before is not None:
                before.join()
            time.sleep(seconds)
            if on_done is not None:
                on_done()

        self.last = threading.Thread(target=work, daemon=True)
        self.last.start()

    def synchronize(self):
        if self.last is not None:
            self.last.join()

    def event(self):
        return FakeEvent(self)


def test_timer_waits_for_queued_device_work():
    device = FakeAsyncDevice()
    timing = time_fn(lambda: device.launch(0.05), warmup=1, repeats=2, ops=device)
    assert min(timing.wall_s) >= 0.05
    assert timing.device_s is not None and min(timing.device_s) >= 0.045


def test_timer_without_sync_only_times_the_launch():
    device = FakeAsyncDevice()
    timing = time_fn(lambda: device.launch(0.05), warmup=0, repeats=2, ops=CpuOps())  # CpuOps never waits
    device.synchronize()
    assert timing.median_s < 0.02 and timing.device_s is None


def test_synchronized_wrapper_makes_a_round_cover_device_work():
    device = FakeAsyncDevice()
    step = synchronized(lambda: device.launch(0.05) or "out", ops=device)
    t0 = time.perf_counter()
    assert step() == "out"
    assert time.perf_counter() - t0 >= 0.05


def test_cpu_timer_and_stats():
    timing = time_fn(lambda: time.sleep(0.01), device="cpu", warmup=1, repeats=5)
    assert len(timing.wall_s) == 5 and timing.device_s is None and timing.device is None
    stats = timing.wall
    assert 0.01 <= stats.min_s <= stats.median_s <= stats.max_s
    assert stats.iqr_s >= 0 and stats.stdev_s >= 0 and stats.n == 5


# ------------------------------------------------------------------------ memory and OOM


def allocate_and_touch(nbytes: int) -> int:
    """Child target: allocate `nbytes`, touch every page, return a small checksum."""
    buffer = bytearray(nbytes)
    buffer[::4096] = b"\x01" * len(range(0, nbytes, 4096))
    return sum(buffer[::4096])


def fail_with_value_error() -> None:
    raise ValueError("bad input")


def killed_by_the_kernel() -> None:
    """Child target: what the kernel OOM killer does to a process."""
    os.kill(os.getpid(), signal.SIGKILL)


@pytest.mark.slow  # each spawned child imports torch (~2 s on 2 cores); children run two at a time
def test_child_peak_rss_grows_with_allocation():
    extra = 300 * 2**20
    with ThreadPoolExecutor(2) as pool:
        small, big = pool.map(lambda n: peak_rss_in_child(allocate_and_touch, n), [2**20, extra])
    assert small.status == big.status == "ok", (small.message, big.message)
    assert big.result == len(range(0, extra, 4096))
    assert big.peak_rss_bytes - small.peak_rss_bytes >= 0.9 * extra
    assert big.target_rss_bytes >= 0.9 * extra


@pytest.mark.slow
def test_budget_oom_and_child_errors_are_result_rows():
    with ThreadPoolExecutor(3) as pool:
        oom = pool.submit(peak_rss_in_child, allocate_and_touch, 3 * GIB, budget_bytes=int(1.5 * GIB))
        error = pool.submit(peak_rss_in_child, fail_with_value_error)
        killed = pool.submit(peak_rss_in_child, killed_by_the_kernel)
        oom, error, killed = oom.result(), error.result(), killed.result()
    assert oom.status == "oom" and "MemoryError" in oom.message and oom.result is None
    assert oom.peak_rss_bytes < oom.baseline_rss_bytes + GIB  # the budget stopped it before it touched 3 GiB
    assert error.status == "error" and "bad input" in error.message and error.result is None
    assert killed.status == "oom" and killed.exitcode == -signal.SIGKILL and "SIGKILL" in killed.message


def test_run_catching_oom():
    assert run_catching_oom(lambda: 7) == (7, False, "")

    def oom():
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    result, was_oom, message = run_catching_oom(oom)
    assert result is None and was_oom and "Tried to allocate" in message
    assert is_oom_error(RuntimeError("DefaultCPUAllocator: can't allocate memory"))
    with pytest.raises(ValueError):
        run_catching_oom(fail_with_value_error)


def test_track_memory_on_cpu():
    with track_memory("cpu") as tracker:
        torch.ones(1000)
    assert tracker.result.max_allocated_bytes is None and tracker.result.process_max_rss_bytes > 0


def test_energy_meter_without_gpu_reports_unavailable():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with EnergyMeter(0, min_window_s=1.0) as meter:
        time.sleep(0.01)
    result = meter.result
    assert not result.available and result.reason
    assert result.energy_j is None and result.mean_power_w is None and result.short_window


class FakeNvml:
    """pynvml stand-in: energy grows 100 J per second of the clock; power 300 W average, 450 W instantaneous."""

    def __init__(self, instant: bool):
        self.t0 = time.perf_counter()
        if instant:
            self.NVML_FI_DEV_POWER_INSTANT = 186

    def nvmlInit(self):
        pass

    def nvmlShutdown(self):
        pass

    def nvmlDeviceGetHandleByIndex(self, index):
        return index

    def nvmlDeviceGetTotalEnergyConsumption(self, handle):
        return int((time.perf_counter() - self.t0) * 100e3)  # mJ

    def nvmlDeviceGetPowerUsage(self, handle):
        return 300_000  # mW

    def nvmlDeviceGetFieldValues(self, handle, ids):
        value = type("V", (), {"uiVal": 450_000})()
        return [type("F", (), {"nvmlReturn": 0, "value": value})()]


@pytest.mark.parametrize("instant", [False, True])
def test_energy_meter_counter_difference_and_power_source(monkeypatch, instant):
    import sys
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml(instant))
    with EnergyMeter(0, sample_interval_s=0.005, min_window_s=0.1) as meter:
        time.sleep(0.2)
    r = meter.result
    assert r.available and not r.short_window and r.n_samples >= 2
    assert r.energy_j == pytest.approx(100 * r.window_s, rel=0.1)
    assert r.peak_power_w == (450.0 if instant else 300.0)
    assert ("INSTANT" in r.power_source) == instant and ("smoothed" in r.power_source) != instant


# ------------------------------------------------------------------------ FLOPs and MFU

B, H, L, D = 2, 4, 64, 16


def qkv(requires_grad=False):
    return [torch.randn(B, H, L, D, requires_grad=requires_grad) for _ in range(3)]


def test_sdpa_forward_flops_on_cpu():
    q, k, v = qkv()
    count = count_flops(F.scaled_dot_product_attention, q, k, v)
    assert count.total_flops == 4 * B * H * L * L * D
    assert any("scaled_dot_product_flash_attention_for_cpu" in op for op in count.by_operator)


def test_masked_and_causal_sdpa_count_the_full_square():
    q, k, v = qkv()
    mask = torch.ones(L, L, dtype=torch.bool).tril()
    assert count_flops(F.scaled_dot_product_attention, q, k, v, attn_mask=mask).total_flops == 4 * B * H * L * L * D
    assert count_flops(F.scaled_dot_product_attention, q, k, v, is_causal=True).total_flops == 4 * B * H * L * L * D


def test_sdpa_backward_is_two_and_a_half_forwards():
    q, k, v = qkv(requires_grad=True)
    forward = 4 * B * H * L * L * D
    count = count_flops(lambda: F.scaled_dot_product_attention(q, k, v).sum().backward())
    assert count.total_flops == forward + 10 * B * H * L * L * D  # 3.5x forward: QK^T is recomputed


def test_linear_flops_forward_and_backward():
    tokens, d_in, d_out = 32, 24, 40
    layer = torch.nn.Linear(d_in, d_out)
    x = torch.randn(tokens, d_in, requires_grad=True)
    assert count_flops(layer, x).total_flops == 2 * tokens * d_in * d_out
    assert count_flops(lambda: layer(x).sum().backward()).total_flops == 3 * 2 * tokens * d_in * d_out
    x_no_grad = torch.randn(tokens, d_in)
    assert count_flops(lambda: layer(x_no_grad).sum().backward()).total_flops == 2 * 2 * tokens * d_in * d_out


def test_mfu_arithmetic():
    assert achieved_flops_per_s(6e12, 2.0) == 3e12
    assert mfu(6e12, 2.0, 312e12) == pytest.approx(3e12 / 312e12)
    assert mfu(1e9, 1.0, None) is None
    with pytest.raises(ValueError):
        achieved_flops_per_s(1.0, 0.0)
