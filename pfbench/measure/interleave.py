"""Alternating rounds: time a baseline and its variants back to back, many short times, with the machine's state.

A burst of outside load on a shared machine lasts seconds; a single long timing of each side lets it land on one
side only. Alternating short rounds (ABAB..., the order reversed every other round) make a burst hit both sides of
the pairs it falls in, and the median of per-pair ratios ignores the pairs it ruined. Each round keeps its wall
time, its process CPU time (less sensitive to other processes, at a fixed thread count) and its machine window
(pfbench.measure.machine_load), so a verdict can say how busy the machine was.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from pfbench.measure.machine_load import BusyRule, MachineProbe, MachineWindow

Seconds = tuple[float, float]  # (wall seconds, process CPU seconds) of one call


def timed_call(fn: Callable[[], object]) -> Seconds:
    """(wall, process CPU) seconds of one call; ``fn`` must synchronize its device before returning."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


@dataclass(frozen=True)
class Interleaved:
    """The rounds of one alternating measurement."""

    pairs: dict[str, list[tuple[Seconds, Seconds]]]  # variant -> [(baseline's seconds, variant's seconds)] per round
    windows: tuple[MachineWindow, ...]                 # one per round
    whole: MachineWindow                               # over all rounds
    seconds: float                                     # wall time of all rounds

    def ratios(self, variant: str, clock: int = 0) -> list[float]:
        """Per-round baseline / variant time (clock 0: wall, 1: process CPU): the variant's speedup per round."""
        return [base[clock] / var[clock] for base, var in self.pairs[variant]]

    def busy_rounds(self, rule: BusyRule) -> int:
        return sum(rule.busy(w.others_share, w.steal_share) for w in self.windows)


def alternating_rounds(steps: dict[str, Callable[[], object]], baseline: str, *, min_rounds: int,
                       max_rounds: int, budget_s: float) -> Interleaved:
    """Time ``steps`` (name -> synchronizing call, ``baseline`` among them) in alternating rounds.

    Round r calls the baseline once and every variant once: the baseline first in even rounds and last in odd
    ones (the variants then in reverse), so order effects cancel; each variant's pair is (this round's baseline,
    this round's variant), so one baseline call serves every variant's pair. At least ``min_rounds``; more, in
    whole even/odd couples, while the projected time stays within ``budget_s``, up to ``max_rounds``."""
    variants = [name for name in steps if name != baseline]
    if baseline not in steps or not variants:
        raise ValueError(f"alternating_rounds: need the baseline {baseline!r} and at least one variant among "
                         f"{sorted(steps)}")
    pairs = {v: [] for v in variants}
    windows = []
    started, rounds = time.perf_counter(), 0
    with MachineProbe() as whole:
        while rounds < max_rounds:
            if rounds >= min_rounds and rounds % 2 == 0:
                elapsed = time.perf_counter() - started
                if elapsed + 2 * elapsed / rounds > budget_s:
                    break
            order = [baseline, *variants] if rounds % 2 == 0 else [*reversed(variants), baseline]
            with MachineProbe() as probe:
                seconds = {name: timed_call(steps[name]) for name in order}  # timed in `order`
            windows.append(probe.window)
            for v in variants:
                pairs[v].append((seconds[baseline], seconds[v]))
            rounds += 1
    return Interleaved(pairs=pairs, windows=tuple(windows), whole=whole.window,
                       seconds=time.perf_counter() - started)
