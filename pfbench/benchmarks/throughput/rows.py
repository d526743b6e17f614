"""The tidy rows of an alternating speed measurement, in the form the training-speed verdict reads."""
from __future__ import annotations

from pfbench.benchmarks.throughput.verdicts import CASE, CONFIDENCE
from pfbench.measure.interleave import Interleaved
from pfbench.measure.machine_load import BUSY_RULE
from pfbench.metrics.stats import median_ratio_interval


def _ratio_rows(base: dict, metric: str, ratios: list[float], note: str) -> list[dict]:
    """The median pair ratio (its spread: the interval's half-width) and the interval's ends."""
    median, low, high = median_ratio_interval(ratios, CONFIDENCE)
    base = dict(base, unit="x", note=note)
    return [dict(base, metric=metric, value=median, spread=(high - low) / 2,
                 spread_kind=f"half-width of the {CONFIDENCE:.0%} interval over {len(ratios)} alternating pairs"),
            dict(base, metric=f"{metric}_ci_low", value=low),
            dict(base, metric=f"{metric}_ci_high", value=high)]


def interleaved_rows(timing: Interleaved, variant: str, threads: int, predicted: float | None = None,
                     target: str = "", case: str = CASE) -> list[dict]:
    """Rows of one variant's alternating pairs: the wall- and CPU-time median pair ratios with their exact
    intervals, the pair count, the thread count, what else ran (load, others' CPU share, steal, busy rounds) and,
    with ``predicted`` (the FLOP-predicted speedup), the measured / predicted ratio (``target``: a note on it)."""
    n = len(timing.pairs[variant])
    over = f"{n} alternating pairs, exact order-statistic {CONFIDENCE:.0%} interval of the median pair ratio"
    setting = dict(case=case, variant=variant, backend="measured-interleaved")
    rows = _ratio_rows(setting, "speedup_vs_full_sequence", timing.ratios(variant, 0), over + " (wall time)")
    rows += _ratio_rows(dict(setting, backend="measured-interleaved-cpu"), "speedup_cpu_vs_full_sequence",
                        timing.ratios(variant, 1), over + f" (process CPU time, {threads} torch threads)")
    machine = timing.whole
    rows += [
        dict(setting, metric="speedup_pairs", value=n, unit="count",
             note=f"alternating pairs after warm-up; all variants' pairs took {timing.seconds:.0f} s"),
        dict(setting, metric="torch_threads", value=threads, unit="count"),
        dict(setting, metric="load_average", value=machine.load_average, unit="",
             note="highest 1-min load average at the pairs' start and end"),
        *machine.rows(case=case, variant=variant),
        dict(setting, metric="busy_rounds", value=timing.busy_rounds(BUSY_RULE), unit="count",
             note=f"rounds in which other processes took more than {BUSY_RULE.max_others_share:.0%} of the CPU "
                  f"(or steal above {BUSY_RULE.max_steal_share:.0%}), from {machine.source}"),
    ]
    if predicted:
        measured = rows[0]["value"]
        rows += [dict(case=case, variant=variant, metric="predicted_speedup", value=predicted, unit="x",
                      backend="analytic"),
                 dict(case=case, variant=variant, metric="speedup_ratio", value=measured / predicted, unit="x",
                      backend="measured/analytic", note=f"median pair ratio over {n} pairs" + target)]
    return rows
