"""What a benchmark declares about itself: its metrics (unit, better direction), its report section, its verdicts.

A benchmark is one self-describing unit. The results table, the report and `pfbench compare` look a metric's unit
and direction up here instead of guessing from its name, and the report's first screen gathers every benchmark's
verdicts on the paper's claims.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Literal

Better = Literal["higher", "lower", "setting"]
VerdictStatus = Literal["reproduced", "partly reproduced", "not reproduced", "inconclusive", "plausible",
                        "implausible", "not measured here"]
# what each status means for which kind of claim: pfbench.benchmarks.vocabulary
VERDICT_STATUSES: tuple[str, ...] = ("reproduced", "partly reproduced", "not reproduced", "inconclusive", "plausible",
                                     "implausible", "not measured here")


@dataclass(frozen=True)
class Metric:
    """One measured quantity: `better` is the direction of an improvement, or "setting" for an input knob."""
    name: str
    unit: str
    better: Better
    deterministic: bool = False  # a count: equal across runs of the same config, compared exactly
    doc: str = ""
    # a summary of the timed rounds pytest-benchmark recorded: `pfbench compare` tests those rounds (rank test)
    over_rounds: bool = False
    # relative change in the worse direction that fails `pfbench compare`; None: the command's default
    fail_above: float | None = None
    # measured from elapsed time (a timing, a speed, a speedup): `pfbench compare` calls it inconclusive when the
    # run's suite saw other processes compete for the CPUs
    timed: bool = False

    def __post_init__(self) -> None:
        if self.better not in ("higher", "lower", "setting"):
            raise ValueError(f"metric {self.name!r}: better must be 'higher', 'lower' or 'setting', got {self.better!r}")
        if self.deterministic and self.over_rounds:
            raise ValueError(f"metric {self.name!r}: a deterministic count has no rounds to test")
        if self.fail_above is not None and not 0 <= self.fail_above < float("inf"):
            raise ValueError(f"metric {self.name!r}: fail_above must be a non-negative fraction, got {self.fail_above}")


# Between two runs on shared CPUs the same code's timings drift by tens of percent: a timed metric that declares no
# threshold of its own fails `pfbench compare` only when it moved beyond its noise AND by more than this.
TIMING_FAIL_ABOVE = 0.5


def mark_timed(metrics: tuple[Metric, ...], *names: str) -> tuple[Metric, ...]:
    """``metrics`` with those named declared ``timed`` (threshold TIMING_FAIL_ABOVE unless one is declared); a
    name that is not among them is a ValueError."""
    from dataclasses import replace

    unknown = set(names) - {m.name for m in metrics}
    if unknown:
        raise ValueError(f"mark_timed: {sorted(unknown)} are not declared metrics")
    return tuple(replace(m, timed=True, fail_above=TIMING_FAIL_ABOVE if m.fail_above is None else m.fail_above)
                 if m.name in names else m for m in metrics)


@dataclass(frozen=True)
class Verdict:
    """One line of the report's verdict table: a claim of the paper and what this run says about it."""
    claim: str  # e.g. "FID convergence: same quality with ~1/3 of the training compute"
    status: VerdictStatus
    value: str = ""  # the number with its interval, e.g. "2.7x (95% CI 2.1-3.4)"; "" when not measured
    paper: str = ""  # the paper's number, e.g. "~3x (Table 3)"
    why: str = ""  # one sentence: the evidence, or why it is not measured here and how to measure it

    def __post_init__(self) -> None:
        if self.status not in VERDICT_STATUSES:
            raise ValueError(f"verdict {self.claim!r}: status must be one of {VERDICT_STATUSES}, got {self.status!r}")


@dataclass(frozen=True)
class Claim:
    """A claim of the paper that a benchmark's verdicts speak to: its verdict lines' claims start with ``key``."""
    key: str   # e.g. "FID convergence"
    text: str  # the claim as the first screen shows it when no verdict speaks to it


@dataclass(frozen=True)
class Benchmark:
    """A suite and everything the harness knows about its results."""
    name: str  # the key in `pfbench run --suites`
    suite_file: str  # its file under suites/
    title: str  # its report section's heading
    metrics: tuple[Metric, ...]
    section: Callable[[Any], list] | None = None  # ReportContext -> report blocks
    verdicts: Callable[[Any], list[Verdict]] | None = None  # ReportContext -> verdict lines
    claims: tuple[Claim, ...] = ()  # the paper's claims its verdicts speak to, in first-screen order
    # x axes (x_name) whose values are measurements, e.g. training wall seconds: `pfbench compare` matches their
    # points by order, not by value
    measured_axes: tuple[str, ...] = ()
    extra: dict = field(default_factory=dict)

    def metric(self, name: str) -> Metric | None:
        """The declared metric of that name, or None."""
        return next((m for m in self.metrics if m.name == name), None)
