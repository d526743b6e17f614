"""What else ran while something was timed: the machine's load, the CPU share other processes took, steal time.

A timing on a shared CPU is only as good as the machine was quiet. ``MachineProbe`` takes two snapshots of
/proc/stat (every CPU's busy, idle and steal time) and of this process's own CPU time (all its threads, the
children it has waited for, and its live descendants with the children they waited for: a suite process forked for
the runner by a fork server is the runner's grandchild, and counts as its own); the
window between them says how much of the machine's capacity *other* processes used (machine busy time minus this
process's), how much the hypervisor stole, and the 1-minute load average at both ends. Off Linux (no /proc/stat)
only the load average is known and the shares are None, with the source saying so.

``BusyRule`` is the one declaration of when a window counts as busy; the speed verdicts read it.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

PROC_STAT = Path("/proc/stat")


@dataclass(frozen=True)
class CpuSnapshot:
    """Cumulative counters at one instant (seconds of CPU time summed over all cores)."""

    wall_s: float
    busy_s: float | None    # user + nice + system + irq + softirq (guest time is inside user); None off Linux
    total_s: float | None   # busy + idle + iowait + steal
    steal_s: float | None   # time the hypervisor ran other guests on our virtual CPUs
    own_s: float            # user + system time of this process, its reaped children and its live descendants
    load1: float            # 1-minute load average (nan where unknown)


def _proc_stat(path: Path = PROC_STAT) -> tuple[float, float, float] | None:
    """(busy, total, steal) seconds from the aggregate ``cpu`` line, or None when unreadable."""
    try:
        first = path.read_text(encoding="ascii").splitlines()[0].split()
    except (OSError, IndexError, UnicodeDecodeError):
        return None
    if not first or first[0] != "cpu":
        return None
    ticks = [int(v) for v in first[1:9]] + [0] * max(0, 9 - len(first))
    user, nice, system, idle, iowait, irq, softirq, steal = ticks[:8]
    hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    busy = user + nice + system + irq + softirq
    return busy / hz, (busy + idle + iowait + steal) / hz, steal / hz


def own_cpu_seconds() -> float:
    """User + system seconds of this process (all threads) and the children it reaped, plus every live descendant's
    own and reaped-children time (psutil): a process forked for us by a server (multiprocessing's 'forkserver') is
    the server's child, so its time reaches us only through the server. A descendant orphaned before it ends
    (reparented to init) is lost; none of pfbench's own processes do that."""
    times = os.times()
    total = times.user + times.system + times.children_user + times.children_system
    try:
        import psutil
    except ImportError:
        return total
    try:
        descendants = psutil.Process().children(recursive=True)
    except psutil.Error:
        return total
    for proc in descendants:
        try:
            t = proc.cpu_times()
        except psutil.Error:  # ended (and reaped) since the listing: its time is in its parent's children time
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


def snapshot(path: Path = PROC_STAT) -> CpuSnapshot:
    """The counters now."""
    stat = _proc_stat(path)
    load1 = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    busy, total, steal = stat if stat else (None, None, None)
    return CpuSnapshot(wall_s=time.perf_counter(), busy_s=busy, total_s=total, steal_s=steal,
                       own_s=own_cpu_seconds(), load1=load1)


@dataclass(frozen=True)
class MachineWindow:
    """The machine between two snapshots: shares are fractions of the whole machine's CPU capacity."""

    seconds: float
    cores: int
    load_average: float          # the higher of the 1-minute load averages at the window's ends
    others_share: float | None   # CPU capacity that processes other than this one used
    steal_share: float | None    # capacity stolen by the hypervisor
    own_share: float | None      # capacity this process used
    source: str                  # "/proc/stat" or why the shares are unknown

    def describe(self) -> str:
        """e.g. 'load 4.1 on 2 cores, others took 48% of CPU, steal 0%'."""
        text = f"load {self.load_average:.1f} on {self.cores} cores"
        if self.others_share is not None:
            text += f", others took {self.others_share:.0%} of CPU"
        if self.steal_share:
            text += f", steal {self.steal_share:.0%}"
        return text if self.others_share is not None else text + f" ({self.source})"

    def rows(self, **context) -> list[dict]:
        """Tidy rows of the window (``context``: case, variant, ... of the timed thing)."""
        base = dict(context, backend=self.source)
        out = [dict(base, metric="machine_load_average", value=self.load_average, unit=""),
               dict(base, metric="machine_cores", value=self.cores, unit="count")]
        for metric, value in (("machine_others_cpu_share", self.others_share),
                              ("machine_steal_share", self.steal_share)):
            out.append(dict(base, metric=metric, value=value, unit="fraction")
                       if value is not None else dict(base, metric=metric, value=None, unit="fraction",
                                                      status="skipped", note=self.source))
        return out


def window(start: CpuSnapshot, end: CpuSnapshot, cores: int | None = None) -> MachineWindow:
    """The window between two snapshots (``cores``: the machine's, default os.cpu_count())."""
    cores = cores or os.cpu_count() or 1
    seconds = max(end.wall_s - start.wall_s, 0.0)
    load = max(start.load1, end.load1)
    if None in (start.busy_s, end.busy_s, start.total_s, end.total_s):
        return MachineWindow(seconds, cores, load, None, None, None, source="no /proc/stat: load average only")
    total = end.total_s - start.total_s
    if total <= 0:  # a window shorter than one clock tick
        return MachineWindow(seconds, cores, load, 0.0, 0.0, None, source="/proc/stat (window under one tick)")
    own = max(end.own_s - start.own_s, 0.0)
    others = max((end.busy_s - start.busy_s) - own, 0.0)
    steal = max(end.steal_s - start.steal_s, 0.0)

    def share(part: float) -> float:  # rounded: a difference of float tick sums leaves 1e-13 where 0 was meant
        return min(round(part / total, 4), 1.0)

    return MachineWindow(seconds, cores, load, share(others), share(steal), share(own), source="/proc/stat")


class MachineProbe:
    """``with MachineProbe() as probe: ...`` then ``probe.window``: the machine while the block ran."""

    def __init__(self, path: Path = PROC_STAT, cores: int | None = None):
        self.path, self.cores = path, cores
        self.window: MachineWindow | None = None

    def __enter__(self) -> MachineProbe:
        self._start = snapshot(self.path)
        return self

    def __exit__(self, *exc) -> None:
        self.window = window(self._start, snapshot(self.path), self.cores)


@dataclass(frozen=True)
class BusyRule:
    """When a timing window counts as busy: other processes took more than ``max_others_share`` of the machine's
    CPU capacity, or the hypervisor stole more than ``max_steal_share``. A busy window's wall-time ratios are not
    read; its CPU-time ratios are, unless their interval is wider than ``max_interval_spread`` (high / low)."""

    max_others_share: float = 0.15
    max_steal_share: float = 0.05
    max_interval_spread: float = 1.5

    def busy(self, others_share: float | None, steal_share: float | None) -> bool:
        return bool((others_share or 0.0) > self.max_others_share or (steal_share or 0.0) > self.max_steal_share)


BUSY_RULE = BusyRule()
